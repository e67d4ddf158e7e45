package authapi

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/totp"
)

// clock is the injected time of the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recorder keeps audit records and admin login events in memory for assertions (the ClickHouse adapter is tested
// in internal/app).
type recorder struct {
	mu      sync.Mutex
	records []AuditRecord
	logins  []string
}

func (r *recorder) Audit(a AuditRecord) { r.mu.Lock(); r.records = append(r.records, a); r.mu.Unlock() }
func (r *recorder) AdminLogin(user string, ip netip.Addr, ok bool, _ time.Time) {
	r.mu.Lock()
	r.logins = append(r.logins, user+" "+ip.String()+" "+map[bool]string{true: "ok", false: "fail"}[ok])
	r.mu.Unlock()
}
func (r *recorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, a := range r.records {
		out = append(out, a.Action)
	}
	return out
}

var testKey = bytes.Repeat([]byte{7}, 32)

type harness struct {
	t     testing.TB
	ns    *server.Server
	nc    *nats.Conn
	js    jetstream.JetStream
	s     *Server
	clock *clock
	audit *recorder
	logs  *bytes.Buffer
	opts  Options
}

const (
	myIP  = "203.0.113.9"
	pw    = "correct horse battery staple"
	admin = "root"
)

func newHarness(t testing.TB, mutate ...func(*Options)) *harness {
	t.Helper()
	ns := testenv.NATS(t)
	nc := testenv.Connect(t, ns)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ns: ns, nc: nc, js: js, clock: &clock{t: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, audit: &recorder{}, logs: &bytes.Buffer{}}
	h.opts = Options{Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1}, Insecure: true, Now: h.clock.Now}
	for _, m := range mutate {
		m(&h.opts)
	}
	h.s = h.start(testKey)
	if err := h.s.CreateAccount(context.Background(), admin, pw, RoleAdmin); err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) start(key []byte) *Server {
	h.t.Helper()
	s, err := New(context.Background(), h.js, key, h.opts, h.audit, slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})), prometheus.NewRegistry())
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

type resp struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) errCode() string {
	if e, ok := r.body["error"].(map[string]any); ok {
		c, _ := e["code"].(string)
		return c
	}
	return ""
}

// do sends a request from ip (host:port added) with an optional bearer token; body is JSON-encoded unless a string.
func (h *harness) do(method, path, ip, token string, body any, hdr ...string) resp {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req := httptest.NewRequest(method, path, rd)
	req.RemoteAddr = netip.AddrPortFrom(netip.MustParseAddr(ip), 40000).String()
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.s.Handler().ServeHTTP(rec, req)
	out := resp{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	json.Unmarshal(rec.Body.Bytes(), &out.body)
	return out
}

// session logs in with the password only (accounts without 2FA).
func (h *harness) session(user, password string) string {
	h.t.Helper()
	r := h.do("POST", "/v1/auth/login", myIP, "", map[string]string{"username": user, "password": password})
	tok, _ := r.body["session"].(string)
	if r.code != 200 || tok == "" {
		h.t.Fatalf("login %s: %d %s", user, r.code, r.raw)
	}
	return tok
}

// enroll2FA enrolls and confirms TOTP for the account behind tok and returns the secret, the new session and the
// recovery codes.
func (h *harness) enroll2FA(tok string) (secret []byte, session string, recovery []string) {
	h.t.Helper()
	r := h.do("POST", "/v1/2fa/enroll", myIP, tok, nil)
	if r.code != 200 {
		h.t.Fatalf("enroll: %d %s", r.code, r.raw)
	}
	secret = decodeSecret(h.t, r.body["secret"].(string))
	r = h.do("POST", "/v1/2fa/confirm", myIP, tok, map[string]string{"code": h.code(secret, 0)})
	if r.code != 200 {
		h.t.Fatalf("confirm: %d %s", r.code, r.raw)
	}
	for _, c := range r.body["recovery_codes"].([]any) {
		recovery = append(recovery, c.(string))
	}
	return secret, r.body["session"].(string), recovery
}

func decodeSecret(t testing.TB, text string) []byte {
	b, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(text, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// code returns the TOTP code of the current step plus delta.
func (h *harness) code(secret []byte, delta int64) string {
	c, err := totp.Code(secret, totp.Default, totp.Default.Step(h.clock.Now())+delta)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

// ticket runs the password step of an account with 2FA and returns the second-factor ticket.
func (h *harness) ticket(user, password, ip string) string {
	h.t.Helper()
	r := h.do("POST", "/v1/auth/login", ip, "", map[string]string{"username": user, "password": password})
	t, _ := r.body["ticket"].(string)
	if r.code != 200 || t == "" {
		h.t.Fatalf("password step: %d %s", r.code, r.raw)
	}
	return t
}

func passwordDefault() password.Params { return password.Default }
