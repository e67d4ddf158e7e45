package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
)

// TestOversizedInputsLeaveTheNodeHealthy sends values of 1 KB, 64 KB and 1 MB in every field of POST /v1/events
// and of the Dovecot policy body (and as a field name); every request gets a 4xx or 200, and afterwards the node
// is ready and still stores a normal event in ClickHouse.
func TestOversizedInputsLeaveTheNodeHealthy(t *testing.T) {
	const dovecotToken = "dovecot-test-token"
	cfg, dataDir := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB"}, map[string]string{"VIGIL_FLUSH_INTERVAL": "100ms", "VIGIL_DOVECOT_TOKENS": dovecotToken})
	base := startNode(t, cfg, &bytes.Buffer{})
	token := strings.TrimSpace(readFile(t, filepath.Join(dataDir, "ingest-token")))

	post := func(url string, hdr map[string]string, body []byte) int {
		t.Helper()
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s (%d bytes): %v", url, len(body), err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	login := map[string]any{"kind": "login", "time": now, "user": "a@example.org", "ip": "81.2.69.142", "success": true}
	send := map[string]any{"kind": "send", "time": now, "user": "a@example.org", "ip": "81.2.69.142", "recipients": 1}
	eventFields := []string{"id", "kind", "time", "user", "domain", "ip", "service", "success", "recipients", "size", "message_id", "source", "session", "pwhash"}
	dovecotFields := []string{"login", "remote", "protocol", "session_id", "pwhash", "success"}
	for _, n := range []int{1 << 10, 64 << 10, 1 << 20} {
		big := strings.Repeat("a", n)
		for _, f := range append(eventFields, big) { // the last: a field name of n bytes
			ev := map[string]any{}
			src := login
			if f == "recipients" || f == "size" || f == "message_id" {
				src = send
			}
			for k, v := range src {
				ev[k] = v
			}
			ev[f] = big
			body, _ := json.Marshal(ev)
			if code := post(base+"/v1/events", map[string]string{"Authorization": "Bearer " + token}, body); code != 400 {
				t.Errorf("POST /v1/events with %s of %d bytes = %d; want 400", truncateName(f), n, code)
			}
		}
		for _, f := range append(dovecotFields, big) {
			rep := map[string]any{"login": "a@example.org", "remote": "81.2.69.142", "protocol": "imap", "session_id": "s1", "success": false}
			rep[f] = big
			body, _ := json.Marshal(rep)
			if code := post(base+"/v1/dovecot/policy?command=report", map[string]string{"X-API-Key": dovecotToken}, body); code >= 500 {
				t.Errorf("Dovecot report with %s of %d bytes = %d; want no server error", truncateName(f), n, code)
			}
		}
	}

	waitReady(t, base)
	ok, _ := json.Marshal(map[string]any{"id": "hardening-ok", "kind": "login", "time": now, "user": "after@example.org", "ip": "81.2.69.142", "success": true})
	if code := post(base+"/v1/events", map[string]string{"Authorization": "Bearer " + token}, ok); code != 200 {
		t.Fatalf("normal event after the oversized ones = %d; want 200", code)
	}
	store, err := chstore.Open(context.Background(), chstore.Options{Addr: cfg.ClickHouseAddr, Database: cfg.ClickHouseDatabase}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows, err := store.LastLogins(context.Background(), "after@example.org", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].ID == "hardening-ok" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("normal event not in ClickHouse after 30s: %+v", rows)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func truncateName(f string) string {
	if len(f) > 20 {
		return "a field name"
	}
	return f
}
