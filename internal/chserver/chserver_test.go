package chserver

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestStartReportsPortClash starts a server on an HTTP port another listener holds: the start fails as a port clash
// (which Start retries with new ports when it picked them), with ClickHouse's own message.
func TestStartReportsPortClash(t *testing.T) {
	if _, ok := Installed(); !ok {
		t.Fatal("clickhouse-server is not installed (make test installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tcp, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Start(ctx, Options{Dir: t.TempDir(), TCPPort: tcp, HTTPPort: ln.Addr().(*net.TCPAddr).Port})
	if err == nil {
		s.Stop()
		t.Fatal("the server started on a port in use")
	}
	if !errors.Is(err, errPortClash) || !strings.Contains(err.Error(), "Address already in use") {
		t.Fatalf("error %v: want a port clash with ClickHouse's message", err)
	}
}

// TestStartPicksPorts starts a server on ports Start picks and queries nothing but its port.
func TestStartPicksPorts(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		t.Fatalf("server on %s does not answer: %v", s.Addr(), err)
	}
	c.Close()
}
