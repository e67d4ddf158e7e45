package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestAuditReachesClickHouseAndNATS runs the auth API with the real auditor: a failed admin login becomes an
// audit_log row in ClickHouse, a message on vigil.audit.login_failure and a login event (service admin).
func TestAuditReachesClickHouseAndNATS(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := testenv.NATS(t)
	nc := testenv.Connect(t, ns)
	js, _ := natsbus.NewJetStream(nc)
	stream, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chAddr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	cfg, _ := config.Load("authapi", nil, func(k string) string {
		return map[string]string{"VIGIL_AUTH_KEY": strings.Repeat("ab", 32)}[k]
	}, io.Discard)
	key, err := authKey(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := nc.SubscribeSync("vigil.audit.>")
	s, aud, err := newAuth(ctx, cfg, js, key, store, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	go aud.Run(ctx)
	if err := s.CreateAccount(ctx, "root", "correct horse battery staple", "admin"); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/v1/auth/login", bytes.NewBufferString(`{"username":"root","password":"wrong wrong wrong"}`))
	req.RemoteAddr = "198.51.100.4:5000"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("login = %d", rec.Code)
	}
	if msg, err := sub.NextMsg(5 * time.Second); err != nil || msg.Subject != "vigil.audit.login_failure" {
		t.Errorf("audit on NATS: %v %v", msg, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n uint64
		store.Conn().QueryRow(ctx, "SELECT count() FROM audit_log FINAL WHERE action = 'login_failure' AND actor = 'root' AND client_ip = '198.51.100.4'").Scan(&n)
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no audit_log row after 10s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e := event.Event{Kind: event.KindLogin, User: "root"}
	for {
		msg, err := stream.GetLastMsgForSubject(ctx, natsbus.SubjectOf(&e, cfg.Partitions))
		if err == nil {
			var got event.Event
			event.Unmarshal(msg.Data, &got)
			if got.Service != "admin" || got.Success || got.IP.String() != "198.51.100.4" {
				t.Errorf("admin login event = %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no admin login event in the stream")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
