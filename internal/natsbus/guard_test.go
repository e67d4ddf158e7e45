package natsbus

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestConnectionsSurviveFatalServerErrors publishes a subject longer than the server's control-line limit (4 KiB):
// the server answers -ERR 'Maximum Control Line Exceeded' and drops the connection, which plain nats.go then
// closes for good. Vigil's connections must reconnect and publish again.
func TestConnectionsSurviveFatalServerErrors(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	ns := testenv.NATS(t)
	ext, err := Connect(ns.ClientURL(), "test", logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ext.Close)
	emb, err := StartEmbedded(t.TempDir(), "", logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emb.Shutdown)
	in, err := emb.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.Close)
	for name, nc := range map[string]*nats.Conn{"external": ext, "embedded": in} {
		sub, err := nc.SubscribeSync("after")
		if err != nil {
			t.Fatal(err)
		}
		for round := range 3 {
			nc.Publish("x."+strings.Repeat("a", 5000), []byte("boom"))
			nc.Flush()
			deadline := time.Now().Add(10 * time.Second)
			for {
				if nc.Status() == nats.CONNECTED && nc.Publish("after", []byte("ok")) == nil && nc.FlushTimeout(time.Second) == nil {
					break
				}
				if nc.IsClosed() || time.Now().After(deadline) {
					t.Fatalf("%s, round %d: status %v, last error %v; want CONNECTED again", name, round, nc.Status(), nc.LastError())
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := sub.NextMsg(5 * time.Second); err != nil {
				t.Fatalf("%s, round %d: message after reconnect: %v", name, round, err)
			}
		}
	}
}

// TestGuardReadsPayloadsAsData sends the text of a fatal -ERR as message payloads (plain and with headers): they
// are data, delivered as such, and the connection does not drop.
func TestGuardReadsPayloadsAsData(t *testing.T) {
	ns := testenv.NATS(t)
	nc, err := Connect(ns.ClientURL(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	sub, err := nc.SubscribeSync("data")
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("x\r\n-ERR 'Maximum Control Line Exceeded'\r\n")
	if err := nc.Publish("data", payload); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("data")
	m.Header.Set("X", "-ERR 'Maximum Control Line Exceeded'")
	m.Data = payload
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		got, err := sub.NextMsg(5 * time.Second)
		if err != nil || string(got.Data) != string(payload) {
			t.Fatalf("message %d = %v, %v; want the payload", i, got, err)
		}
	}
	if r := nc.Stats().Reconnects; r != 0 || nc.Status() != nats.CONNECTED {
		t.Errorf("after -ERR text in payloads: %d reconnects, status %v; want 0, CONNECTED", r, nc.Status())
	}
}
