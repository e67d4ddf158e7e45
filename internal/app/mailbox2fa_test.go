package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestMailbox2FAWired runs the auth API as the app builds it with VIGIL_MAILBOX_2FA_URL set: the mailbox 2FA
// routes answer, and a failed verification becomes an audit message on NATS and a login event (service webmail).
func TestMailbox2FAWired(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := testenv.NATS(t)
	nc := testenv.Connect(t, ns)
	js, _ := natsbus.NewJetStream(nc)
	stream, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"VIGIL_AUTH_KEY": strings.Repeat("ab", 32), "VIGIL_AUTH_REQUIRE_2FA": "viewer",
		"VIGIL_MAILBOX_2FA_URL": "https://vigil.example.org", "VIGIL_MAILBOX_2FA_POLICIES": "strict.example=required"}
	cfg, err := config.Load("authapi", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := authKey(cfg, "")
	sub, _ := nc.SubscribeSync("vigil.audit.mailbox_2fa_verify_failure")
	s, aud, err := newAuth(ctx, cfg, js, key, nil, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	go aud.Run(ctx)
	if err := s.CreateAccount(ctx, "root", "correct horse battery staple", "admin"); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, token, body string, out any) int {
		req := httptest.NewRequest(method, path, bytes.NewBufferString(body))
		req.RemoteAddr = "198.51.100.4:5000"
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if out != nil {
			json.Unmarshal(rec.Body.Bytes(), out)
		}
		return rec.Code
	}
	var login struct{ Session string }
	call("POST", "/v1/auth/login", "", `{"username":"root","password":"correct horse battery staple"}`, &login)
	var k struct{ Key string }
	if code := call("POST", "/v1/apikeys", login.Session, `{"name":"webmail","scopes":["mailbox-2fa"]}`, &k); code != 201 {
		t.Fatalf("create key = %d", code)
	}
	var st struct{ Required bool }
	if code := call("GET", "/v1/mailbox-2fa/erin@strict.example", k.Key, "", &st); code != 200 || !st.Required {
		t.Errorf("status = %d %+v; want 200, required (VIGIL_MAILBOX_2FA_POLICIES)", code, st)
	}
	if code := call("POST", "/v1/mailbox-2fa/erin@strict.example/verify", k.Key, `{"code":"123456","client_ip":"192.0.2.8"}`, nil); code != 409 {
		t.Errorf("verify of a user without 2FA = %d; want 409", code)
	}
	if _, err := sub.NextMsg(5 * time.Second); err != nil {
		t.Errorf("no vigil.audit.mailbox_2fa_verify_failure: %v", err)
	}
	e := event.Event{Kind: event.KindLogin, User: "erin@strict.example"}
	testenv.Eventually(t, 10*time.Second, "a webmail login event in the stream", func() bool {
		msg, err := stream.GetLastMsgForSubject(ctx, natsbus.SubjectOf(&e, cfg.Partitions))
		if err != nil {
			return false
		}
		var got event.Event
		event.Unmarshal(msg.Data, &got)
		return got.Service == "webmail" && !got.Success && got.IP.String() == "192.0.2.8"
	})
	if code := call("GET", "/mailbox-2fa/enroll/"+strings.Repeat("A", 43), "", "", nil); code != http.StatusGone {
		t.Errorf("unknown enrollment link = %d; want 410", code)
	}
}
