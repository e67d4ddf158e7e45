// Package authapi protects the admin panel: admin accounts with roles, password + TOTP login, the 2FA life-cycle,
// recovery codes, API keys, and the admin IP access list, as a JSON API under /v1/ and an nginx auth_request
// endpoint.
package authapi

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/clientip"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/secretbox"
)

// Options configures the auth API.
type Options struct {
	Issuer         string        // shown in authenticator apps; default "Vigil"
	SessionTTL     time.Duration // absolute session lifetime; default and maximum 24h
	IdleTimeout    time.Duration // inactivity limit; default and maximum 1h
	TicketTTL      time.Duration // second-factor ticket; default 5m
	EnrollTTL      time.Duration // pending TOTP secret; default 10m
	MaxFailures    int           // failures before the account locks; default (and at most) 10
	IPLimit        int           // login attempts per client address per minute; default 30
	Require2FA     []string      // roles that must use 2FA; default admin and sub-admin
	TrustedProxies string        // VIGIL_TRUSTED_PROXIES
	Password       password.Params
	Replicas       int
	Insecure       bool // cookies without Secure, for plain-HTTP tests only
	Now            func() time.Time
	Console        Console // the console's ClickHouse history and trusted-network store (console.go)
}

func (o *Options) setDefaults() {
	if o.Issuer == "" {
		o.Issuer = "Vigil"
	}
	if o.SessionTTL == 0 || o.SessionTTL > 24*time.Hour {
		o.SessionTTL = 24 * time.Hour
	}
	if o.IdleTimeout == 0 || o.IdleTimeout > time.Hour {
		o.IdleTimeout = time.Hour
	}
	if o.TicketTTL == 0 {
		o.TicketTTL = 5 * time.Minute
	}
	if o.EnrollTTL == 0 {
		o.EnrollTTL = 10 * time.Minute
	}
	if o.MaxFailures == 0 || o.MaxFailures > 10 {
		o.MaxFailures = 10
	}
	if o.IPLimit == 0 {
		o.IPLimit = 30
	}
	if o.Require2FA == nil {
		o.Require2FA = []string{RoleAdmin, RoleSubAdmin}
	}
	if o.Password == (password.Params{}) {
		o.Password = password.Default
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// AuditRecord is one security-relevant action.
type AuditRecord struct {
	EventID  string    `json:"event_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Actor    string    `json:"actor"`
	ClientIP string    `json:"client_ip"`
	Target   string    `json:"target,omitempty"`
	Result   string    `json:"result"`
	Before   string    `json:"before,omitempty"`
	After    string    `json:"after,omitempty"`
}

// Auditor receives audit records (written to ClickHouse and NATS by the caller's implementation) and admin login
// events; it must not block.
type Auditor interface {
	Audit(AuditRecord)
	AdminLogin(user string, ip netip.Addr, success bool, at time.Time)
}

// Server is the auth API.
type Server struct {
	opts    Options
	st      *store
	box     *secretbox.Box
	ips     *clientip.Resolver
	audit   Auditor
	logger  *slog.Logger
	limiter *limiter
	dummy   string // a password hash verified for unknown users, so every failure costs the same
	mux     *http.ServeMux
	m       *metrics
	cache   allowCache

	recoverySets atomic.Int64 // sets of recovery codes generated (each costs ten argon2id hashes)

	reviews jetstream.KeyValue // incident reviews (review.go)
	cm      *consoleMetrics
	public  []publicRoute // MountPublic: served before the allow list
}

// ErrKeyMismatch is a start-up error: the configured VIGIL_AUTH_KEY is not the key the secrets were sealed with.
var ErrKeyMismatch = errors.New("VIGIL_AUTH_KEY does not match the key the stored secrets were encrypted with")

// New opens the auth buckets and checks the encryption key.
func New(ctx context.Context, js jetstream.JetStream, key []byte, o Options, audit Auditor, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	o.setDefaults()
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	ips, err := clientip.NewResolver(o.TrustedProxies)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, js, o.Replicas, o.SessionTTL)
	if err != nil {
		return nil, err
	}
	// The first start records the key id; later starts must use the same key.
	if _, err := st.config.Create(ctx, keyKeyCheck, []byte(box.KeyID())); err != nil && !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("auth key check: %w", err)
	}
	if e, err := st.config.Get(ctx, keyKeyCheck); err != nil {
		return nil, fmt.Errorf("auth key check: %w", err)
	} else if string(e.Value()) != box.KeyID() {
		return nil, ErrKeyMismatch
	}
	s := &Server{opts: o, st: st, box: box, ips: ips, audit: audit, logger: logger, limiter: newLimiter(o.IPLimit, time.Minute, o.Now),
		dummy: password.Hash("vigil-timing-equaliser", o.Password), m: newMetrics(reg)}
	if err := s.initConsole(ctx, js, reg); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

type metrics struct {
	logins   *prometheus.CounterVec
	lockouts prometheus.Counter
	twofa    *prometheus.CounterVec
	denied   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	return &metrics{
		logins:   f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_auth_logins_total", Help: "Admin login steps by result."}, []string{"result"}),
		lockouts: f.NewCounter(prometheus.CounterOpts{Name: "vigil_auth_lockouts_total", Help: "Accounts locked after repeated failures."}),
		twofa:    f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_auth_2fa_events_total", Help: "2FA life-cycle events."}, []string{"event"}),
		denied:   f.NewCounter(prometheus.CounterOpts{Name: "vigil_auth_allowlist_denials_total", Help: "Requests refused by the admin IP access list."}),
	}
}

// Handler returns the API with the allow list enforced on every route.
func (s *Server) Handler() http.Handler { return s.WithOps(nil) }

// WithOps returns the API together with the process's operational endpoints (ops serves /healthz, /readyz and
// /metrics): /healthz stays open, /readyz and /metrics obey the admin allow list like every other route.
func (s *Server) WithOps(ops http.Handler) http.Handler { return s.WithConsole(ops, nil) }

// WithConsole is WithOps with the browser console serving every path outside /v1/, behind the same allow list
// (console nil: those paths answer the JSON 404).
func (s *Server) WithConsole(ops, console http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ops != nil && r.URL.Path == "/healthz" {
			ops.ServeHTTP(w, r)
			return
		}
		s.serve(w, r, ops, console)
	})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request, ops, console http.Handler) {
	if s.servePublic(w, r) {
		return
	}
	ip := s.ips.ClientIP(r)
	l, err := s.currentAllowlist(r.Context())
	if err != nil { // fail closed
		s.logger.Error("admin allow list unreadable; refusing", "err", err)
		httpapi.WriteError(w, &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "allowlist_unavailable", Message: "access list unavailable"})
		return
	}
	if r.URL.Path == "/v1/allowlist/check" && r.Method == http.MethodGet {
		if l.Allows(ip) {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		s.m.denied.Inc()
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if !l.Allows(ip) {
		s.m.denied.Inc()
		httpapi.WriteError(w, httpapi.Errorf(http.StatusForbidden, "forbidden", "your address may not reach the admin panel"))
		return
	}
	if ops != nil && (r.URL.Path == "/metrics" || r.URL.Path == "/readyz") {
		ops.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	if console != nil && !strings.HasPrefix(r.URL.Path, "/v1/") {
		console.ServeHTTP(w, r)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), ipKey{}, ip))
	if _, pattern := s.mux.Handler(r); pattern == "" {
		w = &muxErrorWriter{ResponseWriter: w} // the mux's own 404 and 405 (with Allow) in the JSON error shape
	}
	s.mux.ServeHTTP(w, r)
}

// muxErrorWriter replaces the plain-text body of the mux's 404 and 405 answers with the JSON error shape.
type muxErrorWriter struct {
	http.ResponseWriter
	replaced bool
}

func (w *muxErrorWriter) WriteHeader(code int) {
	switch code {
	case http.StatusNotFound:
		w.replaced = true
		httpapi.WriteError(w.ResponseWriter, httpapi.Errorf(code, "not_found", "no such endpoint"))
	case http.StatusMethodNotAllowed:
		w.replaced = true
		httpapi.WriteError(w.ResponseWriter, httpapi.Errorf(code, "method_not_allowed", "this endpoint does not accept "+
			"this method; see the Allow header"))
	default:
		w.ResponseWriter.WriteHeader(code)
	}
}

func (w *muxErrorWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

type ipKey struct{}

func clientIP(r *http.Request) netip.Addr { a, _ := r.Context().Value(ipKey{}).(netip.Addr); return a }

// errInvalid is the one answer to every failed credential: unknown user, wrong password, wrong code, locked.
var errInvalid = httpapi.Errorf(http.StatusUnauthorized, "invalid_credentials", "invalid credentials")

// maxBody is the largest request body the auth API reads.
const maxBody = 16 << 10

var errBadBody = httpapi.Errorf(http.StatusBadRequest, "bad_request", "the body must be a JSON object with the documented fields")

// decode reads exactly one JSON object of at most maxBody bytes: a larger body answers 413, trailing data after
// the object 400.
func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			err = errTrailing
			if err2 != nil {
				err = err2
			}
		}
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return httpapi.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body is larger than %d bytes", maxBody))
	case errors.Is(err, errTrailing):
		return httpapi.Errorf(http.StatusBadRequest, "bad_request", "the body must be a single JSON object without trailing data")
	case err != nil:
		return errBadBody
	}
	return nil
}

var errTrailing = errors.New("trailing data")

func randomToken(prefix string) string {
	b := make([]byte, 32)
	rand.Read(b)
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

func (s *Server) requires2FA(role string) bool {
	for _, r := range s.opts.Require2FA {
		if r == role {
			return true
		}
	}
	return false
}

// validUsername reports whether u is 1-128 bytes of printable UTF-8 without spaces, quotes, ':' or slashes. It is
// checked before a name becomes a KV key, a subject or a log value.
func validUsername(u string) bool {
	return u != "" && len(u) <= 128 && !strings.ContainsAny(u, " \t\r\n:/\\\"'") && printable(u)
}

// printable reports whether s is valid UTF-8 of printable characters only (no control characters).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
