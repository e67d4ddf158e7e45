package loadgen

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Spec is a load run carried out by a separate process (Spawn), so that the load generator's own allocations,
// garbage collections and scheduling stay out of the measured server's process.
type Spec struct {
	Protocol string            // "http" (a POST per call) or "postfix" (Postfix policy delegation, one request per call)
	Addr     string            // http: the URL; postfix: host:port
	Header   map[string]string // http: request headers
	Requests []string          // call i sends Requests[i mod len]
	Answers  []string          // optional: call i must be answered Answers[i mod len] (the body, or the postfix action line)
	Calls    int
	Options  Options
}

// childEnv names the spec file of a child process started by Spawn.
const childEnv = "VIGIL_LOADGEN_SPEC"

// Spawn runs spec in a new process: the current test binary again, running only the test named test, which must
// call ChildMain. It returns the child's measurements.
func Spawn(test string, spec Spec) (Result, error) {
	dir, err := os.MkdirTemp("", "vigil-loadgen-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	data, err := json.Marshal(spec)
	if err != nil {
		return Result{}, err
	}
	specFile := filepath.Join(dir, "spec.json")
	if err := os.WriteFile(specFile, data, 0o600); err != nil {
		return Result{}, err
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+specFile)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return Result{}, fmt.Errorf("loadgen child: %w: %s", err, tail(out))
	}
	data, err = os.ReadFile(specFile + ".result")
	if err != nil {
		return Result{}, fmt.Errorf("loadgen child wrote no result: %w: %s", err, tail(out))
	}
	var res Result
	if err := json.Unmarshal(data, &res); err != nil {
		return Result{}, fmt.Errorf("loadgen child result: %w", err)
	}
	if res.Error != "" {
		return res, errors.New(res.Error)
	}
	return res, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

// IsChild reports whether this process was started by Spawn.
func IsChild() bool { return os.Getenv(childEnv) != "" }

// ChildMain carries out the spec of a process started by Spawn and writes its result for the parent.
func ChildMain() error {
	file := os.Getenv(childEnv)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var spec Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return err
	}
	res, err := spec.run()
	if err != nil {
		res.Error = err.Error()
	}
	out, err := json.Marshal(res)
	if err != nil {
		return err
	}
	return os.WriteFile(file+".result", out, 0o600)
}

func (s Spec) run() (Result, error) {
	if len(s.Requests) == 0 {
		return Result{}, errors.New("loadgen: no requests")
	}
	var call func(worker, i int) error
	switch s.Protocol {
	case "http":
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: s.Options.Workers}}
		call = func(_, i int) error {
			req, err := http.NewRequest(http.MethodPost, s.Addr, strings.NewReader(s.Requests[i%len(s.Requests)]))
			if err != nil {
				return err
			}
			for k, v := range s.Header {
				req.Header.Set(k, v)
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("HTTP %d", resp.StatusCode)
			}
			return s.check(i, string(bytes.TrimSpace(body)))
		}
	case "postfix":
		conns := make([]net.Conn, s.Options.Workers)
		readers := make([]*bufio.Reader, s.Options.Workers)
		for w := range conns {
			c, err := net.Dial("tcp", s.Addr)
			if err != nil {
				return Result{}, err
			}
			defer c.Close()
			conns[w], readers[w] = c, bufio.NewReader(c)
		}
		call = func(w, i int) error {
			if _, err := io.WriteString(conns[w], s.Requests[i%len(s.Requests)]); err != nil {
				return err
			}
			var answer string
			for {
				line, err := readers[w].ReadString('\n')
				if err != nil {
					return err
				}
				if line == "\n" {
					break
				}
				answer += line
			}
			return s.check(i, strings.TrimSpace(answer))
		}
	default:
		return Result{}, fmt.Errorf("loadgen: protocol %q: want http or postfix", s.Protocol)
	}
	return Run(s.Calls, s.Options, call)
}

func (s Spec) check(i int, got string) error {
	if len(s.Answers) == 0 {
		return nil
	}
	if want := strings.TrimSpace(s.Answers[i%len(s.Answers)]); got != want {
		return fmt.Errorf("answer %q, want %q", got, want)
	}
	return nil
}
