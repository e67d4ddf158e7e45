package dovecot

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

const token = "dovecot-test-token"

// The captured body of a successful IMAP login (reference/mail-servers.md).
const success = `{"device_id":"","local":"127.0.0.1","login":"alice","protocol":"imap","pwhash":"0abc","remote":"81.2.69.142","session_id":"f9oNkvZgMr5/AAAB","success":true,"policy_reject":false,"tls":false}`

// jetStream starts an in-process NATS server; withStream creates the events stream.
func jetStream(t testing.TB, withStream bool) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	if !withStream {
		return js, nil
	}
	stream, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return js, stream
}

// serve starts the endpoint on a real HTTP server and, when run, its flusher.
func serve(t testing.TB, o Options, sink event.Sink, run bool) (*Handler, *httptest.Server) {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{token}
	}
	h, err := New(o, sink, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if run {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- h.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	return h, srv
}

func post(t testing.TB, url, cmd, body, tok string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url+"/?command="+cmd, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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

// stored waits until the stream holds want messages and returns their events in order.
func stored(t *testing.T, s jetstream.Stream, want uint64) []event.Event {
	t.Helper()
	return testenv.StoredEvents(t, s, want)
}

func TestReportsBecomeLoginEvents(t *testing.T) {
	js, stream := jetStream(t, true)
	now := time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)
	_, srv := serve(t, Options{Source: "imap1", Now: func() time.Time { return now }}, natsbus.NewPublisher(js, 4, prometheus.NewRegistry()), true)

	if code, body := post(t, srv.URL, "allow", success, token); code != 200 || body != `{"status":0}` {
		t.Fatalf("allow = %d %s; want 200 {\"status\":0}", code, body)
	}
	// Two failed attempts, then a success, in one IMAP session; Dovecot reports each.
	failed := strings.Replace(success, `"success":true`, `"success":false`, 1)
	for _, body := range []string{failed, failed, success, success /* repeated: the same id */} {
		if code, answer := post(t, srv.URL, "report", body, token); code != 200 || answer != `{"status":0}` {
			t.Fatalf("report = %d %s; want 200 {\"status\":0}", code, answer)
		}
	}
	// SMTP AUTH through Dovecot SASL: no session, an IPv4-mapped address, a user in upper case.
	smtp := `{"login":"Bob@Example.ORG","protocol":"smtp","pwhash":"f0e","remote":"::ffff:8.8.8.8","session_id":"","success":false,"policy_reject":false,"tls":true}`
	post(t, srv.URL, "report", smtp, token)

	got := stored(t, stream, 4)
	ip := netip.MustParseAddr
	want := []event.Event{
		{ID: "dovecot:f9oNkvZgMr5/AAAB:fail:1", Kind: event.KindLogin, Time: now, User: "alice", IP: ip("81.2.69.142"), Service: "imap", Source: "imap1", Session: "f9oNkvZgMr5/AAAB", PWHash: "0abc"},
		{ID: "dovecot:f9oNkvZgMr5/AAAB:fail:2", Kind: event.KindLogin, Time: now, User: "alice", IP: ip("81.2.69.142"), Service: "imap", Source: "imap1", Session: "f9oNkvZgMr5/AAAB", PWHash: "0abc"},
		{ID: "dovecot:f9oNkvZgMr5/AAAB:ok", Kind: event.KindLogin, Time: now, User: "alice", IP: ip("81.2.69.142"), Service: "imap", Success: true, Source: "imap1", Session: "f9oNkvZgMr5/AAAB", PWHash: "0abc"},
		{Kind: event.KindLogin, Time: now, User: "bob@example.org", Domain: "example.org", IP: ip("8.8.8.8"), Service: "smtp", Source: "imap1", PWHash: "f0e"},
	}
	want[3].ID = event.ContentID(&want[3])
	byID := cmpopts.SortSlices(func(a, b event.Event) bool { return a.ID < b.ID }) // natsbus.Buffer may reorder a batch
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{}), byID); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

func TestSourceDefaultsToThePeer(t *testing.T) {
	js, stream := jetStream(t, true)
	_, srv := serve(t, Options{}, natsbus.NewPublisher(js, 4, prometheus.NewRegistry()), true)
	post(t, srv.URL, "report", success, token)
	if got := stored(t, stream, 1)[0].Source; got != "127.0.0.1" {
		t.Errorf("source = %q; want the peer address 127.0.0.1", got)
	}
}

func TestBadRequestsNeverFailALogin(t *testing.T) {
	h, srv := serve(t, Options{Buffer: 100}, nil, false)
	for _, tt := range []struct {
		name, cmd, body, tok string
		code                 int
		dropped              string // the reason counted, or ""
	}{
		{"no token", "report", success, "", 401, ""},
		{"wrong token", "report", success, "nope", 401, ""},
		{"not json", "report", "{", token, 400, reasonMalformed},
		{"array", "report", "[1]", token, 400, reasonMalformed},
		{"login not a string", "report", `{"login":1,"remote":"1.1.1.1","success":true}`, token, 400, reasonMalformed},
		{"no login attribute", "report", `{"remote":"1.1.1.1","success":true}`, token, 400, reasonMissing},
		{"no remote attribute", "report", `{"login":"a","success":true}`, token, 400, reasonMissing},
		{"no success", "report", `{"login":"a","remote":"1.1.1.1"}`, token, 400, reasonMissing},
		{"remote not an address", "report", `{"login":"a","remote":"","success":false}`, token, 200, reasonInvalid},
		{"user with a space", "report", `{"login":"a b","remote":"1.1.1.1","success":false}`, token, 200, reasonInvalid},
		{"pwhash not hex", "report", `{"login":"a","remote":"1.1.1.1","pwhash":"zz","success":false}`, token, 200, reasonInvalid},
		{"unknown command", "frob", success, token, 400, ""},
		{"huge body", "report", `{"login":"` + strings.Repeat("a", 70<<10) + `"}`, token, 400, ""},
		{"allow ignores the body", "allow", "not json", token, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var before float64
			if tt.dropped != "" {
				before = testutil.ToFloat64(h.m.dropped.WithLabelValues(tt.dropped))
			}
			code, body := post(t, srv.URL, tt.cmd, tt.body, tt.tok)
			if code != tt.code || body != `{"status":0}` {
				t.Errorf("POST ?command=%s %.30q = %d %s; want %d {\"status\":0} (never reject a login)", tt.cmd, tt.body, code, body, tt.code)
			}
			if tt.dropped != "" {
				if n := testutil.ToFloat64(h.m.dropped.WithLabelValues(tt.dropped)) - before; n != 1 {
					t.Errorf("dropped{reason=%q} grew by %v; want 1", tt.dropped, n)
				}
			}
		})
	}
	resp, err := http.Get(srv.URL + "/?command=allow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET = %d; want 405", resp.StatusCode)
	}
}

// A full buffer costs a counted, logged drop, never a slow answer.
func TestFullBufferDropsWithoutWaiting(t *testing.T) {
	h, srv := serve(t, Options{Buffer: 1}, nil, false) // no flusher: the buffer of one stays full
	post(t, srv.URL, "report", success, token)
	start := time.Now()
	if code, _ := post(t, srv.URL, "report", strings.Replace(success, "AAAB", "AAAC", 1), token); code != 200 {
		t.Errorf("report with a full buffer = %d; want 200", code)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("a full buffer slowed the answer to %s", d)
	}
	if n := testutil.ToFloat64(h.m.dropped.WithLabelValues(reasonBufferFull)); n != 1 {
		t.Errorf("dropped{buffer_full} = %v; want 1", n)
	}
}

// Reports accepted while JetStream cannot store them are published once it can.
func TestReportsWaitForTheStore(t *testing.T) {
	js, _ := jetStream(t, false) // no stream yet: every publish fails
	_, srv := serve(t, Options{}, natsbus.NewPublisher(js, 4, prometheus.NewRegistry()), true)
	for _, s := range []string{"AAAB", "AAAC", "AAAD"} {
		start := time.Now()
		if code, _ := post(t, srv.URL, "report", strings.Replace(success, "AAAB", s, 1), token); code != 200 {
			t.Fatalf("report = %d; want 200", code)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("report answered in %s while the store is down; want at once", d)
		}
	}
	stream, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored(t, stream, 3)
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults with a token", Options{Tokens: []string{"t"}}, true},
		{"no token", Options{}, false},
		{"empty token", Options{Tokens: []string{""}}, false},
		{"token with a space", Options{Tokens: []string{"a b"}}, false},
		{"header with a colon", Options{Tokens: []string{"t"}, Header: "X-API-Key:"}, false},
		{"negative buffer", Options{Tokens: []string{"t"}, Buffer: -1}, false},
		{"tiny body limit", Options{Tokens: []string{"t"}, MaxBody: 10}, false},
		{"long source", Options{Tokens: []string{"t"}, Source: strings.Repeat("s", 300)}, false},
	} {
		if err := tt.o.Validate(); (err == nil) != tt.ok {
			t.Errorf("%s: Validate() = %v; want ok = %v", tt.name, err, tt.ok)
		}
	}
}

func TestAttemptsForgetTheOldestSessions(t *testing.T) {
	a := newAttempts(2)
	for _, tt := range []struct {
		session string
		want    int
	}{{"s1", 1}, {"s1", 2}, {"s2", 1}, {"s3", 1} /* forgets s1 */, {"s1", 1}, {"s3", 2}} {
		if got := a.fail(tt.session); got != tt.want {
			t.Errorf("fail(%q) = %d; want %d", tt.session, got, tt.want)
		}
	}
	a.done("s3")
	if got := a.fail("s3"); got != 1 {
		t.Errorf("fail(s3) after done = %d; want 1", got)
	}
	if len(a.n) > 2 {
		t.Errorf("remembers %d sessions; want at most 2", len(a.n))
	}
}

func FuzzParseReport(f *testing.F) {
	f.Add([]byte(success))
	f.Add([]byte(`{"login":"a","remote":"::1","success":false}`))
	f.Add([]byte(`{"login":"a b","remote":"x","session_id":"\u0000","success":false}`))
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		rep, err := ParseReport(body)
		if err != nil {
			return
		}
		if rep.Login == nil || rep.Remote == nil || rep.Success == nil {
			t.Fatalf("ParseReport(%q) accepted a report without login, remote or success", body)
		}
		e, err := rep.Event(now, "imap1", 1)
		if err != nil {
			return
		}
		if e.ID == "" || e.Kind != event.KindLogin || !e.IP.IsValid() || e.User == "" {
			t.Fatalf("Event of %q = %+v; want a complete login event", body, e)
		}
		if _, err := event.New(e, now); err != nil {
			t.Fatalf("Event of %q = %+v, which the schema rejects: %v", body, e, err)
		}
	})
}

// FuzzServeHTTP sends arbitrary bodies through the whole handler: the answer is always {"status":0}.
func FuzzServeHTTP(f *testing.F) {
	f.Add("report", []byte(success))
	f.Add("allow", []byte("{"))
	f.Add("report", []byte(`{"login":"a","remote":"1.1.1.1","success":false,"session_id":"`+strings.Repeat("s", 200)+`"}`))
	h, err := New(Options{Tokens: []string{token}, Buffer: 1 << 20, MaxBody: 4 << 10}, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cmd string, body []byte) {
		req := httptest.NewRequest("POST", "/?command="+url.QueryEscape(cmd), strings.NewReader(string(body)))
		req.Header.Set("X-API-Key", token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := strings.TrimSpace(w.Body.String()); got != `{"status":0}` {
			t.Fatalf("answer to %q %q = %d %s; want {\"status\":0}", cmd, body, w.Code, got)
		}
	})
}

// TestLongSessionNeverBecomesAKey sends failed reports with 64 KiB session ids: they are dropped as invalid before
// the attempt counter keeps them, so a client cannot make the endpoint hold gigabytes of session names.
func TestLongSessionNeverBecomesAKey(t *testing.T) {
	h, err := New(Options{Tokens: []string{token}, Buffer: 16}, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		body := `{"login":"a","remote":"1.1.1.1","success":false,"session_id":"` + strings.Repeat("s", 64<<10-100) + strconv.Itoa(i) + `"}`
		req := httptest.NewRequest("POST", "/?command=report", strings.NewReader(body))
		req.Header.Set("X-API-Key", token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if got := strings.TrimSpace(w.Body.String()); got != `{"status":0}` {
			t.Fatalf("answer = %d %s; want {\"status\":0}", w.Code, got)
		}
	}
	h.attempts.mu.Lock()
	defer h.attempts.mu.Unlock()
	if n := len(h.attempts.n); n != 0 {
		t.Errorf("attempt counter holds %d sessions after reports with oversized session ids; want 0", n)
	}
}
