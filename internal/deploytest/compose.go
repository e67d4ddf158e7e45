package deploytest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

var (
	composeService = regexp.MustCompile(`^  ([a-z0-9][a-z0-9_-]*):\s*$`)
	composeImage   = regexp.MustCompile(`^\s*image:\s*(\S+)`)
	composeDepends = regexp.MustCompile(`^\s*depends_on:\s*\[([^\]]*)\]`)
	composeEnvKey  = regexp.MustCompile(`^\s+(VIGIL_[A-Z0-9_]+):`)
	// pinned is an image with an explicit major.minor.patch tag (optionally v-prefixed and suffixed, like -alpine).
	pinned = regexp.MustCompile(`^[a-z0-9./_-]+:v?\d+\.\d+\.\d+[A-Za-z0-9._-]*$`)
)

// CheckCompose checks a docker-compose file without a Docker engine: every image but the locally built localImage
// has a pinned version tag, every depends_on target is a service, and every VIGIL_* variable is in vars. It reads
// the flow-style lists this repository's compose file uses (depends_on: [a, b]).
func CheckCompose(text, localImage string, vars map[string]bool) error {
	var errs []error
	services := map[string]bool{}
	var depends []string
	inServices := false
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		if len(line) > 0 && line[0] != ' ' && line[0] != '#' {
			inServices = strings.HasPrefix(line, "services:")
		}
		if m := composeService.FindStringSubmatch(line); m != nil && inServices {
			services[m[1]] = true
		}
		if m := composeImage.FindStringSubmatch(line); m != nil {
			img := m[1]
			if img != localImage && !pinned.MatchString(img) {
				errs = append(errs, fmt.Errorf("line %d: image %q is not pinned to a major.minor.patch tag", n, img))
			}
		}
		if m := composeDepends.FindStringSubmatch(line); m != nil {
			for _, d := range strings.Split(m[1], ",") {
				if d = strings.TrimSpace(d); d != "" {
					depends = append(depends, fmt.Sprintf("%d:%s", n, d))
				}
			}
		}
		if m := composeEnvKey.FindStringSubmatch(line); m != nil && !vars[m[1]] {
			errs = append(errs, fmt.Errorf("line %d: %s is not a variable internal/config reads", n, m[1]))
		}
	}
	if len(services) == 0 {
		errs = append(errs, errors.New("no services"))
	}
	for _, d := range depends {
		n, name, _ := strings.Cut(d, ":")
		if !services[name] {
			errs = append(errs, fmt.Errorf("line %s: depends_on %q is not a service", n, name))
		}
	}
	return errors.Join(errs...)
}
