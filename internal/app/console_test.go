package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestAuthAPIServesTheConsole: the auth API built by newAuth reads incidents from the node's ClickHouse and
// trusted networks from the bucket the detector watches.
func TestAuthAPIServesTheConsole(t *testing.T) {
	ctx := context.Background()
	nc := testenv.Connect(t, testenv.NATS(t))
	js, _ := natsbus.NewJetStream(nc)
	chAddr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	inc := incident.Incident{ID: incident.ID(incident.MultiCountry, "a@example.org", now), Rule: incident.MultiCountry, User: "a@example.org",
		Domain: "example.org", Status: incident.StatusOpen, WindowStart: now, FirstSeen: now, LastSeen: now, Version: 1}
	if err := store.Write(ctx, nil, nil, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load("authapi", nil, func(k string) string {
		return map[string]string{"VIGIL_AUTH_KEY": strings.Repeat("ab", 32)}[k]
	}, io.Discard)
	key, err := authKey(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	s, _, err := newAuth(ctx, cfg, js, key, store, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateAccount(ctx, "viewer", "correct horse battery staple", "viewer"); err != nil {
		t.Fatal(err)
	}
	do := func(method, path, token, body string) (int, map[string]any) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.RemoteAddr = "198.51.100.4:5000"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		var out map[string]any
		json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out
	}
	_, login := do("POST", "/v1/auth/login", "", `{"username":"viewer","password":"correct horse battery staple"}`)
	tok, _ := login["session"].(string)
	code, list := do("GET", "/v1/incidents", tok, "")
	if code != 200 || list["total"] != 1.0 {
		t.Errorf("GET /v1/incidents = %d %v; want the stored incident", code, list)
	}
	if code, _ := do("GET", "/v1/trusted-networks", tok, ""); code != 200 {
		t.Errorf("GET /v1/trusted-networks = %d; want 200 (the trusted-network store is wired)", code)
	}
	if code, body := do("GET", "/v1/decisions?state=all", tok, ""); code != 200 || body["total"] != 0.0 {
		t.Errorf("GET /v1/decisions = %d %v; want 200 and none (the decision store is wired)", code, body)
	}
}
