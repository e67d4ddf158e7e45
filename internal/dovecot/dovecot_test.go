package dovecot

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

const token = "dovecot-test-token"

func setup(t *testing.T, buffer int) (*Handler, *httptest.Server, jetstream.Stream) {
	t.Helper()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := New(Options{Tokens: []string{token}, Source: "imap1", Buffer: buffer}, natsbus.NewPublisher(js, 4, reg), slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return h, srv, stream
}

func post(t *testing.T, srv *httptest.Server, cmd, body, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+"/?command="+cmd, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("X-API-Key", tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// The captured body of a successful IMAP login (reference/mail-servers.md).
const success = `{"device_id":"","local":"127.0.0.1","login":"alice","protocol":"imap","pwhash":"0abc","remote":"81.2.69.142","session_id":"f9oNkvZgMr5/AAAB","success":true,"policy_reject":false,"tls":false}`

func TestReportBecomesLoginEvent(t *testing.T) {
	h, srv, stream := setup(t, 100)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	if code, body := post(t, srv, "allow", success, token); code != 200 || body != `{"status":0}` {
		t.Fatalf("allow = %d %s; want 200 {\"status\":0}", code, body)
	}
	if code, body := post(t, srv, "report", success, token); code != 200 || body != `{"status":0}` {
		t.Fatalf("report = %d %s", code, body)
	}
	failed := strings.NewReplacer(`"success":true`, `"success":false`, `"protocol":"imap"`, `"protocol":"smtp"`).Replace(success)
	post(t, srv, "report", failed, token)
	post(t, srv, "report", success, token) // Dovecot retried: deduplicated by session id
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := stream.Info(context.Background())
		if info.State.Msgs == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d events; want 2 (ok and fail of one session)", info.State.Msgs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	want := event.Event{Kind: event.KindLogin, User: "alice"}
	msg, err := stream.GetLastMsgForSubject(context.Background(), want.Subject(4))
	if err != nil {
		t.Fatal(err)
	}
	var got event.Event
	if err := event.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != "dovecot:f9oNkvZgMr5/AAAB:fail" || got.IP.String() != "81.2.69.142" || got.Success || got.Service != "smtp" || got.Source != "imap1" || got.PWHash != "0abc" {
		t.Errorf("stored %+v; want the failed SMTP login of alice from 81.2.69.142", got)
	}
}

func TestBadRequestsNeverBlockLogins(t *testing.T) {
	h, srv, _ := setup(t, 1)
	for _, tt := range []struct {
		name, cmd, body, tok string
		code                 int
	}{
		{"no token", "report", success, "", 401},
		{"wrong token", "report", success, "nope", 401},
		{"not json", "report", "{", token, 400},
		{"no login", "report", `{"remote":"1.1.1.1","success":true}`, token, 400},
		{"bad ip", "report", `{"login":"a","remote":"x","success":true}`, token, 400},
		{"unknown command", "frob", success, token, 400},
		{"huge", "report", `{"login":"` + strings.Repeat("a", 70<<10) + `"}`, token, 400},
	} {
		code, body := post(t, srv, tt.cmd, tt.body, tt.tok)
		if code != tt.code || !strings.Contains(body, `"status":0`) {
			t.Errorf("%s: %d %s; want %d with status 0 (never reject a login)", tt.name, code, body, tt.code)
		}
	}
	// Without a running flusher the buffer of one fills: the second report is counted as dropped, not blocked.
	post(t, srv, "report", success, token)
	start := time.Now()
	if code, _ := post(t, srv, "report", strings.Replace(success, "AAAB", "AAAC", 1), token); code != 200 {
		t.Errorf("report with a full buffer = %d; want 200", code)
	}
	if time.Since(start) > time.Second {
		t.Error("a full buffer slowed the answer")
	}
	if n := testutil.ToFloat64(h.dropped.WithLabelValues("buffer_full")); n != 1 {
		t.Errorf("dropped{buffer_full} = %v; want 1", n)
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add([]byte(success))
	f.Add([]byte(`{"login":"a","remote":"::1","success":false}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, err := ParseReport(body)
		if err == nil && (rep.Login == "" || rep.Remote == "" || rep.Success == nil) {
			t.Fatalf("ParseReport(%q) accepted an incomplete report", body)
		}
	})
}
