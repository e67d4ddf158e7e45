package cli

import (
	"syscall"
	"testing"
	"time"
)

// TestReloadOnSignal: each SIGHUP to the process is a reload request.
func TestReloadOnSignal(t *testing.T) {
	reload, stop := ReloadOnSignal(syscall.SIGHUP)
	defer stop()
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
