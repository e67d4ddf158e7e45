package testenv

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// NATS starts an in-process NATS server with JetStream on a random loopback port, stores its data under
// t.TempDir(), and shuts it down when the test ends.
func NATS(t testing.TB) *server.Server {
	t.Helper()
	return NATSAt(t, t.TempDir())
}

// NATSAt is NATS with a given JetStream directory, so a test can restart a server on the same data.
func NATSAt(t testing.TB, dir string) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  dir,
	}
	return startNATS(t, opts)
}

// startNATS runs a NATS server with opts until the test ends.
func startNATS(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready after 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// NATSConfig starts an in-process NATS server from a configuration file's text (accounts, users, permissions),
// listening on a random loopback port with JetStream under t.TempDir(), and shuts it down when the test ends.
// Variables like $NAME in the text are read from the environment, as nats-server does.
func NATSConfig(t testing.TB, conf string) *server.Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "nats-server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats configuration: %v", err)
	}
	opts.Host, opts.Port, opts.NoLog, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, true, true
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	return startNATS(t, opts)
}

// Connect opens a client connection to s that is closed when the test ends.
func Connect(t testing.TB, s *server.Server) *nats.Conn {
	t.Helper()
	return ConnectURL(t, s.ClientURL())
}

// ConnectURL opens a client connection to the NATS server at url that is closed when the test ends.
func ConnectURL(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("connect nats: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}
