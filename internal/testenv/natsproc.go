package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// NATSProcess starts nats-server, built from the module Vigil embeds, as a process of its own with JetStream on a
// free loopback port and its data under t.TempDir(), stops it when the test ends and returns its client URL.
// Benchmarks use it so that the server's memory and garbage collection stay out of the process they measure, as
// in a deployment.
func NATSProcess(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	build := exec.Command("go", "build", "-o", dir+"/", "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build nats-server: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(filepath.Join(dir, "nats-server"), "-js", "-sd", filepath.Join(dir, "jetstream"), "-a", "127.0.0.1", "-p", port)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nats-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return fmt.Sprintf("nats://%s", addr)
		}
		select {
		case err := <-exited:
			t.Fatalf("nats-server exited at start: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server not accepting connections on %s after 20s", addr)
		}
	}
}
