// Package chserver runs a private ClickHouse server as a child process.
package chserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Options configures a private server.
type Options struct {
	Dir      string // data, logs and configuration live here
	TCPPort  int    // native protocol port on 127.0.0.1; 0 picks a free one
	HTTPPort int    // HTTP port on 127.0.0.1; 0 picks a free one
	Binary   string // default: found by Installed
	Logger   *slog.Logger
}

// Server is a running private ClickHouse server.
type Server struct {
	cmd  *exec.Cmd
	addr string
	dir  string
	done chan error
}

// Installed returns the path of clickhouse-server (or the clickhouse multi-tool) when it is installed.
func Installed() (string, bool) {
	for _, name := range []string{"clickhouse-server", "/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	if p, err := exec.LookPath("clickhouse"); err == nil {
		return p, true
	}
	return "", false
}

// Start writes a private configuration under o.Dir, starts the server and waits until it answers queries.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Binary == "" {
		bin, ok := Installed()
		if !ok {
			return nil, errors.New("clickhouse-server is not installed (apt-get install clickhouse-server)")
		}
		o.Binary = bin
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, err
	}
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o750); err != nil {
			return nil, fmt.Errorf("clickhouse directory: %w", err)
		}
	}
	// Ports picked here can be taken by another process before the server binds them: such a clash is retried
	// with new ports, a few times.
	pickTCP, pickHTTP := o.TCPPort == 0, o.HTTPPort == 0
	for attempt := 1; ; attempt++ {
		if pickTCP {
			if o.TCPPort, err = freePort(); err != nil {
				return nil, err
			}
		}
		if pickHTTP {
			if o.HTTPPort, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := launch(ctx, o, dir)
		if errors.Is(err, errPortClash) && (pickTCP || pickHTTP) && attempt < 5 {
			o.Logger.Debug("private ClickHouse lost its port to another process; retrying", "attempt", attempt, "err", err)
			continue
		}
		return s, err
	}
}

// errPortClash marks a start that failed because a port was in use.
var errPortClash = errors.New("port in use")

func launch(ctx context.Context, o Options, dir string) (*Server, error) {
	for _, f := range []string{"server.log", "server.err.log"} { // a retry reads only its own start-up errors
		if err := os.Remove(filepath.Join(dir, "log", f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(o.TCPPort))
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		return nil, fmt.Errorf("cannot start a private ClickHouse on %s: %w", addr, errPortClash)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.xml"), []byte(configXML(dir, o.TCPPort, o.HTTPPort)), 0o640); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "users.xml"), []byte(usersXML), 0o640); err != nil {
		return nil, err
	}
	args := []string{"--config-file=" + filepath.Join(dir, "config.xml")}
	if filepath.Base(o.Binary) == "clickhouse" {
		args = append([]string{"server"}, args...)
	}
	cmd := exec.Command(o.Binary, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", o.Binary, err)
	}
	s := &Server{cmd: cmd, addr: addr, dir: dir, done: make(chan error, 1)}
	go func() { s.done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			o.Logger.Debug("private ClickHouse answers", "addr", addr, "pid", cmd.Process.Pid)
			return s, nil
		}
		select {
		case err := <-s.done:
			msg := tail(out.Bytes()) + tailFile(filepath.Join(dir, "log", "server.err.log"))
			if strings.Contains(msg, "Address already in use") {
				return nil, fmt.Errorf("clickhouse-server exited during start-up (%v): %w: %s", err, errPortClash, msg)
			}
			return nil, fmt.Errorf("clickhouse-server exited during start-up (%v): %s", err, msg)
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("clickhouse-server did not answer on %s within 60s: %s", addr, tailFile(filepath.Join(dir, "log", "server.err.log")))
		}
	}
}

// Addr returns the native protocol address.
func (s *Server) Addr() string { return s.addr }

// Dir returns the server's directory.
func (s *Server) Dir() string { return s.dir }

// Stop terminates the server (SIGTERM, then SIGKILL after 15 seconds) and waits for it.
func (s *Server) Stop() error {
	if s.cmd.Process == nil {
		return nil
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.done:
		return nil
	case <-time.After(15 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.done
		return errors.New("clickhouse-server did not stop within 15s; killed")
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(bytes.TrimSpace(b))
}

func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return "\n" + tail(b)
}

func configXML(dir string, tcp, http int) string {
	return fmt.Sprintf(`<?xml version="1.0"?>
<!-- Written by Vigil for a private server; regenerated at every start. -->
<yandex>
    <logger>
        <level>warning</level>
        <log>%[1]s/log/server.log</log>
        <errorlog>%[1]s/log/server.err.log</errorlog>
        <size>50M</size>
        <count>2</count>
    </logger>
    <listen_host>127.0.0.1</listen_host>
    <tcp_port>%[2]d</tcp_port>
    <http_port>%[3]d</http_port>
    <path>%[1]s/data/</path>
    <tmp_path>%[1]s/tmp/</tmp_path>
    <user_files_path>%[1]s/user_files/</user_files_path>
    <format_schema_path>%[1]s/format_schemas/</format_schema_path>
    <users_config>users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <max_concurrent_queries>100</max_concurrent_queries>
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
</yandex>
`, dir, tcp, http)
}

const usersXML = `<?xml version="1.0"?>
<yandex>
    <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
    <users>
        <default>
            <password></password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`
