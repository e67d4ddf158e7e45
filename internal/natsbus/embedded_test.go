package natsbus

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestEmbeddedPortZeroIsFree: port 0 picks a free port, as net.Listen does, even while something holds NATS's
// default port 4222.
func TestEmbeddedPortZeroIsFree(t *testing.T) {
	if ln, err := net.Listen("tcp", "127.0.0.1:4222"); err == nil { // hold 4222 unless someone else already does
		defer ln.Close()
	}
	for range 2 {
		emb, err := StartEmbedded(t.TempDir(), "127.0.0.1:0", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("StartEmbedded(127.0.0.1:0) = %v", err)
		}
		defer emb.Shutdown()
		if u := emb.ClientURL(); u == "" || strings.HasSuffix(u, ":4222") || strings.HasSuffix(u, ":0") {
			t.Errorf("ClientURL() = %q; want a free port", u)
		}
	}
}

func TestConnectErrorHidesCredentials(t *testing.T) {
	for _, url := range []string{"nats://mailhost_mx1:s3cret-pw@127.0.0.1:1", "nats://s3cret-pw@127.0.0.1:1", "nats://127.0.0.1:1,nats://u:s3cret-pw@127.0.0.1:2"} {
		_, err := Connect(url, "test", slog.New(slog.DiscardHandler), nats.MaxReconnects(0), nats.Timeout(200*time.Millisecond))
		if err == nil || strings.Contains(err.Error(), "s3cret-pw") || !strings.Contains(err.Error(), "127.0.0.1:1") {
			t.Errorf("Connect(%q) = %v; want an error naming the server without the secret", url, err)
		}
	}
}
