package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/config"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestSignalSaysShutdown: SIGTERM (systemctl stop) cancels the context and Vigil says it shuts down and why.
func TestSignalSaysShutdown(t *testing.T) {
	var w syncBuf
	ctx, stop := stopOnSignal(context.Background(), &w, syscall.SIGUSR1)
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("context not cancelled by the signal")
	}
	if c := context.Cause(ctx); c == nil || !strings.Contains(c.Error(), "user defined signal 1") {
		t.Errorf("cause = %v", c)
	}
	if s := w.String(); !strings.Contains(s, "vigil: shutting down: received user defined signal 1") {
		t.Errorf("said %q", s)
	}
}

// TestSystemdEnvironmentFile: the units' EnvironmentFile ships as deploy/systemd/vigil.env, every variable in it is
// one Vigil reads, and no path in it is relative (systemd starts Vigil in /).
func TestSystemdEnvironmentFile(t *testing.T) {
	known := map[string]bool{}
	for _, v := range config.Vars {
		known[v.Env] = true
	}
	for _, unit := range []string{"vigil.service", "vigil-ingest-log.service"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", unit))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "EnvironmentFile=/etc/vigil/vigil.env") {
			t.Errorf("%s does not read /etc/vigil/vigil.env", unit)
		}
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "systemd", "vigil.env"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]string{}
	for i, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || !known[k] {
			t.Errorf("vigil.env:%d: %q is not a Vigil variable", i+1, line)
		}
		set[k] = v
	}
	for _, k := range []string{"VIGIL_DATA_DIR", "VIGIL_GEOIP_DB", "VIGIL_DOVECOT_TOKENS", "VIGIL_POSTFIX_ADDR", "VIGIL_INGEST_ADDR", "VIGIL_CLICKHOUSE_ADDR"} {
		if _, ok := set[k]; !ok {
			t.Errorf("vigil.env lacks %s", k)
		}
	}
	for _, k := range []string{"VIGIL_DATA_DIR", "VIGIL_GEOIP_DB"} {
		if !filepath.IsAbs(set[k]) {
			t.Errorf("vigil.env: %s=%q is relative", k, set[k])
		}
	}
}
