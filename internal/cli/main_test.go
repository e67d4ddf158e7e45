package cli

import (
	"context"
	"io"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnSignal: each SIGHUP to the process is a reload request.
func TestReloadOnSignal(t *testing.T) {
	subscribe, stop := ReloadOnSignal(syscall.SIGHUP)
	defer stop()
	reload := subscribe()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reload:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload request 10s after SIGHUP")
	}
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	select {
	case <-reload:
	case <-time.After(10 * time.Second):
		t.Fatal("no reload request for a second SIGHUP after the first was taken")
	}
}

// TestOnlyReloadingServicesSubscribe: vigil run and authapi take reload requests; ingest and detector do not ask
// for them, so SIGHUP keeps its default there. Each run here fails early (nothing to connect to).
func TestOnlyReloadingServicesSubscribe(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    *Program
		args []string
		want bool
	}{
		{"authapi", AuthAPI(), nil, true},
		{"ingest", Ingest(), nil, false},
		{"detector", Detector(), nil, false},
	} {
		asked := false
		env := map[string]string{"VIGIL_NATS_URL": "nats://127.0.0.1:1", "VIGIL_CLICKHOUSE_ADDR": "127.0.0.1:1", "VIGIL_CLICKHOUSE_START": "never"}
		e := Env{Getenv: func(k string) string { return env[k] }, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: io.Discard,
			Reload: func() <-chan struct{} { asked = true; return nil }}
		err := tc.p.Run(context.Background(), tc.args, e)
		if err == nil {
			t.Errorf("%s: Run = nil; want an error without NATS", tc.name)
		}
		if asked != tc.want {
			t.Errorf("%s asked for reload requests: %v; want %v", tc.name, asked, tc.want)
		}
	}
}
