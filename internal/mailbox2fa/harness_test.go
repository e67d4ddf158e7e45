package mailbox2fa

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/console"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/totp"
	"github.com/vigil-ids/vigil/pkg/webmail2fa"
)

func TestMain(m *testing.M) { testenv.Main(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// recorder keeps audit records and second-factor events for assertions.
type recorder struct {
	mu      sync.Mutex
	records []authapi.AuditRecord
	events  []string
}

func (r *recorder) Audit(a authapi.AuditRecord) {
	r.mu.Lock()
	r.records = append(r.records, a)
	r.mu.Unlock()
}
func (r *recorder) AdminLogin(string, netip.Addr, bool, time.Time) {}
func (r *recorder) MailboxSecondFactor(user string, ip netip.Addr, ok bool, _ time.Time) {
	r.mu.Lock()
	r.events = append(r.events, user+" "+ip.String()+" "+map[bool]string{true: "ok", false: "fail"}[ok])
	r.mu.Unlock()
}

func (r *recorder) find(action, target string) []authapi.AuditRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []authapi.AuditRecord
	for _, a := range r.records {
		if a.Action == action && (target == "" || a.Target == target) {
			out = append(out, a)
		}
	}
	return out
}

var (
	testKey   = bytes.Repeat([]byte{9}, 32)
	cheap     = password.Params{MemoryKiB: 64, Time: 1, Threads: 1}
	mailUsers = map[string]string{"alice@example.org": "pw-alice", "bob@example.org": "pw-bob", "carol@example.org": "pw-carol",
		"dave@example.org": "pw-dave", "alice@recovery.example": "pw-rec", "erin@strict.example": "pw-erin",
		"frank@example.org": "pw-frank", "frank@recovery.example": "pw-frank-rec", "grace@example.org": "pw-grace"}
)

type harness struct {
	t     *testing.T
	clock *clock
	rec   *recorder
	srv   *httptest.Server
	mail  *testenv.Mail
	store *chstore.Store
	key   string // API key with scope mailbox-2fa
	admin string // admin session
	svc   *Service
	js    jetstream.JetStream
	log   *slog.Logger
	cl    *webmail2fa.Client // the reference client with h.key
}

// newHarness runs the auth API with mailbox 2FA on a real NATS, ClickHouse, Postfix and Dovecot: mails go through
// Postfix's relay port into the Dovecot mailboxes.
func newHarness(t *testing.T) *harness {
	t.Helper()
	ctx := t.Context()
	ns := testenv.NATS(t)
	nc := testenv.Connect(t, ns)
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	chAddr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mail := testenv.StartMail(t, testenv.MailOptions{Users: mailUsers, Deliver: true})
	h := &harness{t: t, clock: &clock{t: time.Date(2026, 3, 1, 12, 0, 10, 0, time.UTC)}, rec: &recorder{}, mail: mail, store: store}
	var logw io.Writer = io.Discard
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		logw = os.Stderr
	}
	h.js, h.log = js, slog.New(slog.NewTextHandler(logw, nil))
	var auth *authapi.Server
	auth, h.svc, h.srv = h.node()
	if err := auth.CreateAccount(ctx, "root", "correct horse battery staple", authapi.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	h.login()
	var key struct{ Key string }
	h.do("POST", "/v1/apikeys", h.admin, `{"name":"webmail","scopes":["mailbox-2fa"]}`, 201, &key)
	h.key = key.Key
	if h.cl, err = webmail2fa.New(h.srv.URL, h.key, nil); err != nil {
		t.Fatal(err)
	}
	return h
}

// node starts one auth API replica with mailbox 2FA and the console on the harness's NATS and ClickHouse (the
// accounts, keys and 2FA state live in NATS, so every replica serves the same users).
func (h *harness) node() (*authapi.Server, *Service, *httptest.Server) {
	h.t.Helper()
	ctx := h.t.Context()
	auth, err := authapi.New(ctx, h.js, testKey, authapi.Options{Require2FA: []string{}, Insecure: true, Password: cheap, Now: h.clock.Now,
		Console: authapi.Console{History: h.store}}, h.rec, h.log, prometheus.NewRegistry())
	if err != nil {
		h.t.Fatal(err)
	}
	con, err := console.New(auth.Handler(), h.log)
	if err != nil {
		h.t.Fatal(err)
	}
	srv := httptest.NewServer(auth.WithConsole(nil, con))
	h.t.Cleanup(srv.Close)
	svc, err := New(ctx, h.js, testKey, Options{PublicURL: srv.URL, SMTPAddr: h.mail.RelayAddr, MailFrom: "vigil@vigil-test.localdomain", Password: cheap, UserLimit: 30, Now: h.clock.Now,
		Issuers: map[string]string{"example.org": "Example Mail"}, Policies: map[string]Policy{"strict.example": PolicyRequired},
		UnenrolledBy: map[string]StepUp{"deny.example": StepUpDeny, "allow.example": StepUpAllow}},
		Deps{Gate: auth, Suspicion: h.store, Outcomes: h.store, Events: h.rec}, h.log, prometheus.NewRegistry())
	if err != nil {
		h.t.Fatal(err)
	}
	return auth, svc, srv
}

// login opens an admin session (h.admin).
func (h *harness) login() {
	h.t.Helper()
	var login struct{ Session string }
	h.do("POST", "/v1/auth/login", "", `{"username":"root","password":"correct horse battery staple"}`, 200, &login)
	h.admin = login.Session
}

// do sends a JSON request and checks the status; out (if not nil) receives the JSON answer.
func (h *harness) do(method, path, token, body string, want int, out any) {
	h.t.Helper()
	var raw json.RawMessage
	got := h.call(method, path, token, body, &raw)
	if got != want {
		log, _ := os.ReadFile(h.mail.PostfixLog)
		h.t.Fatalf("%s %s = %d %s; want %d\npostfix log:\n%s", method, path, got, raw, want, log)
	}
	if out != nil && len(raw) > 0 {
		json.Unmarshal(raw, out)
	}
}

func (h *harness) call(method, path, token, body string, out any) int {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			h.t.Fatalf("%s %s: %v in %s", method, path, err, data)
		}
	}
	return resp.StatusCode
}

// page fetches an HTML page (GET, or POST of the form values).
func (h *harness) page(method, rawURL string, form url.Values) (int, string) {
	h.t.Helper()
	if !strings.HasPrefix(rawURL, "http") {
		rawURL = h.srv.URL + rawURL
	}
	var resp *http.Response
	var err error
	if method == "POST" {
		resp, err = http.PostForm(rawURL, form)
	} else {
		resp, err = http.Get(rawURL)
	}
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// mailbox waits for the n-th message (1-based) in a Dovecot mailbox and returns it, read back over IMAP.
func (h *harness) mailbox(user string, n int) string {
	h.t.Helper()
	var msgs []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		var err error
		msgs, err = testenv.IMAPFetch(h.mail.IMAPAddr, user, mailUsers[user])
		if err == nil && len(msgs) >= n {
			return msgs[n-1]
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(h.mail.PostfixLog)
			lda, _ := os.ReadFile(h.mail.Dovecot.Dir + "/lda.log")
			h.t.Fatalf("no message %d for %s after 30s (have %d, err %v)\npostfix:\n%s\nlda:\n%s", n, user, len(msgs), err, log, lda)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var (
	linkRE   = regexp.MustCompile(`http://127\.0\.0\.1:\d+/mailbox-2fa/enroll/[A-Za-z0-9_-]{43}`)
	secretRE = regexp.MustCompile(`<code id="secret">([A-Z2-7 ]+)</code>`)
	actionRE = regexp.MustCompile(`action="(/mailbox-2fa/enroll/[A-Za-z0-9_-]{43})"`)
	backupRE = regexp.MustCompile(`<li>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</li>`)
	codeRE   = regexp.MustCompile(`code for \S+ is (\d{6})`)
)

// enrolled is a user enrolled through the e-mailed link: its TOTP secret and backup codes.
type enrolled struct {
	secret []byte
	backup []string
}

// enroll starts an enrollment through the API, reads the link from the delivered mail, opens the QR page, and
// confirms with a code computed from the page's secret.
func (h *harness) enroll(user, body string, nth int) enrolled {
	h.t.Helper()
	h.do("POST", "/v1/mailbox-2fa/"+user+"/enroll", h.key, body, 202, nil)
	link := linkRE.FindString(h.mailbox(user, nth))
	if link == "" {
		h.t.Fatalf("no enrollment link in the mail to %s", user)
	}
	status, qr := h.page("GET", link, nil)
	m, a := secretRE.FindStringSubmatch(qr), actionRE.FindStringSubmatch(qr)
	if status != 200 || m == nil || a == nil {
		h.t.Fatalf("QR page = %d without secret or form:\n%s", status, qr)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(m[1], " ", ""))
	if err != nil {
		h.t.Fatal(err)
	}
	status, done := h.page("POST", html.UnescapeString(a[1]), url.Values{"code": {h.code(secret, 0)}})
	codes := backupRE.FindAllStringSubmatch(done, -1)
	if status != 200 || len(codes) != 10 {
		h.t.Fatalf("confirm = %d with %d backup codes:\n%s", status, len(codes), done)
	}
	e := enrolled{secret: secret}
	for _, c := range codes {
		e.backup = append(e.backup, c[1])
	}
	return e
}

// code is the TOTP code of secret at the test clock plus offset steps.
func (h *harness) code(secret []byte, offset int64) string {
	h.t.Helper()
	c, err := totp.Code(secret, totp.Default, totp.Default.Step(h.clock.Now())+offset)
	if err != nil {
		h.t.Fatal(err)
	}
	return c
}

type verdict struct {
	Result string `json:"result"`
	StepUp bool   `json:"step_up"`
	Code   string `json:"code"`
}

func (h *harness) verify(user, body string) (int, verdict) {
	h.t.Helper()
	var v verdict
	return h.call("POST", "/v1/mailbox-2fa/"+user+"/verify", h.key, body, &v), v
}

type status struct {
	Enrolled       bool     `json:"enrolled"`
	Required       bool     `json:"required"`
	Policy         string   `json:"policy"`
	Methods        []string `json:"methods"`
	StepUpRequired bool     `json:"step_up_required"`
}

func (h *harness) status(user string) status {
	h.t.Helper()
	var s status
	h.do("GET", "/v1/mailbox-2fa/"+user, h.key, "", 200, &s)
	return s
}

func (h *harness) writeIncident(user, st string, version uint64) string {
	h.t.Helper()
	now := h.clock.Now()
	inc := incident.Incident{ID: incident.ID(incident.MultiCountry, user, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), Rule: incident.MultiCountry, User: user, Domain: user[strings.IndexByte(user, '@')+1:],
		Status: st, WindowStart: now, FirstSeen: now, LastSeen: now, Countries: []string{"DE", "US"}, IPs: []string{"192.0.2.1"}, Version: version}
	if err := h.store.Write(context.Background(), nil, nil, []incident.Incident{inc}); err != nil {
		h.t.Fatal(err)
	}
	return inc.ID
}
