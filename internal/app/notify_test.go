package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/notify"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestNodeNotifies: the single node configured with VIGIL_NOTIFY_WEBHOOKS delivers an incident version from
// VIGIL_INCIDENTS to the webhook, signed with the secret from VIGIL_NOTIFY_WEBHOOK_SECRETS.
func TestNodeNotifies(t *testing.T) {
	secret := "node webhook secret, 32 bytes.."
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := notify.Verify([]byte(secret), r.Header.Get(notify.SignatureHeader), body, time.Now(), notify.DefaultTolerance); err != nil {
			t.Errorf("delivery %s: %v", r.Header.Get(notify.DeliveryHeader), err)
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, r.Header.Get(notify.DeliveryHeader)+" "+r.Header.Get(notify.EventHeader))
		mu.Unlock()
	}))
	t.Cleanup(rcv.Close)
	secrets := t.TempDir()
	if err := os.WriteFile(filepath.Join(secrets, "ops"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, _ := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB"}, map[string]string{
		"VIGIL_NOTIFY_WEBHOOKS": "ops=" + rcv.URL + "/hook", "VIGIL_NOTIFY_WEBHOOK_SECRETS": secrets})
	var out bytes.Buffer
	node := &Node{Config: cfg, Logger: slog.New(slog.DiscardHandler), Out: &out, NATSURL: make(chan string, 1), IngestAddr: make(chan net.Addr, 1)}
	done := runNode(t, node)
	var url string
	select {
	case url = <-node.NATSURL:
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("node did not start within 60s")
	}
	waitReady(t, "http://"+(<-node.IngestAddr).String()) // the detector has started too: a stop now is clean
	if !strings.Contains(out.String(), "vigil: notifications to webhook ops") {
		t.Errorf("start-up output %q should name the notification sinks", out.String())
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	inc := incident.Incident{ID: incident.ID(incident.MultiCountry, "alice@example.org", at), Rule: incident.MultiCountry, User: "alice@example.org",
		Domain: "example.org", Status: "open", WindowStart: at, FirstSeen: at, LastSeen: at, Countries: []string{"DE", "GB"}, Version: 1}
	data, _ := json.Marshal(inc)
	if _, err := js.Publish(context.Background(), natsbus.IncidentSubject("multi_country"), data, jetstream.WithMsgID(natsbus.IncidentMsgID(inc.ID, 1))); err != nil {
		t.Fatal(err)
	}
	want := "incident." + natsbus.IncidentMsgID(inc.ID, 1) + " incident.opened"
	testenv.Eventually(t, 20*time.Second, "the webhook delivery", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == 1 && got[0] == want
	})
}
