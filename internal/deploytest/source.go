package deploytest

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	metricDef = regexp.MustCompile(`Name:\s*"(vigil_[a-z0-9_]+)"`)
	configVar = regexp.MustCompile(`"(VIGIL_[A-Z0-9_]+)"`)
	// metricRef finds metric names in PromQL and alert rules.
	metricRef = regexp.MustCompile(`\bvigil_[a-z0-9_]+\b`)
)

// root is the repository root, two levels above this package.
func root() string { return filepath.Join("..", "..") }

// goSources walks the non-test Go files under dirs and calls fn with each file's text.
func goSources(dirs []string, fn func(string)) error {
	for _, d := range dirs {
		err := filepath.WalkDir(d, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fn(string(b))
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Metrics returns every Prometheus series name the code defines, with the _bucket, _sum and _count series a
// histogram adds (a name that is not a histogram gets them too; that is harmless for a presence check).
func Metrics(dirs ...string) (map[string]bool, error) {
	m := map[string]bool{}
	err := goSources(dirs, func(s string) {
		for _, g := range metricDef.FindAllStringSubmatch(s, -1) {
			m[g[1]] = true
			for _, suf := range []string{"_bucket", "_sum", "_count"} {
				m[g[1]+suf] = true
			}
		}
	})
	return m, err
}

// ConfigVars returns the VIGIL_* variable names quoted in the Go files under dirs.
func ConfigVars(dirs ...string) (map[string]bool, error) {
	m := map[string]bool{}
	err := goSources(dirs, func(s string) {
		for _, g := range configVar.FindAllStringSubmatch(s, -1) {
			m[g[1]] = true
		}
	})
	return m, err
}

// UnknownMetrics lists the vigil_* names in text that are not in known, in order of first use.
func UnknownMetrics(text string, known map[string]bool) []string {
	var out []string
	seen := map[string]bool{}
	for _, n := range metricRef.FindAllString(text, -1) {
		if !known[n] && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}
