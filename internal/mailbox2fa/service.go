package mailbox2fa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/secretbox"
)

// Gate is what the service uses of the auth API (*authapi.Server): authentication of admins and scoped API keys,
// the per-client-address throttle, the audit log and the lockout backoff.
type Gate interface {
	Authorize(r *http.Request, scope string) (*authapi.Caller, error)
	Throttle(r *http.Request) error
	Record(r *http.Request, action, actor, target, result, before, after string)
	Lockout(failures int) time.Duration
	Mount(pattern string, h http.Handler)
	MountPublic(prefix string, h http.Handler)
}

// Suspicion reports the open incident of a user ("" when there is none).
type Suspicion interface {
	OpenIncident(ctx context.Context, user string) (string, error)
}

// Decisions reports whether a block_login decision is being considered for a user. Decisions do not exist yet
// (issue 12); a nil Decisions means none.
type Decisions interface {
	BlockLoginPending(ctx context.Context, user string) (bool, error)
}

// Events receives second-factor results as login events (service webmail) for the detector; it must not block.
type Events interface {
	MailboxSecondFactor(user string, ip netip.Addr, ok bool, at time.Time)
}

// Mailer sends one plain-text message.
type Mailer interface {
	Send(ctx context.Context, to, subject, body string) error
}

// Deps are the service's collaborators; Suspicion, Decisions and Events may be nil.
type Deps struct {
	Gate      Gate
	Suspicion Suspicion
	Decisions Decisions
	Events    Events
	Mailer    Mailer // default: SMTP to Options.SMTPAddr
}

// Service is mailbox-user 2FA.
type Service struct {
	opts   Options
	st     *store
	box    *secretbox.Box
	d      Deps
	logger *slog.Logger
	m      *metrics

	mu    sync.Mutex
	start time.Time
	tries map[string]int // verification attempts per mailbox address in the current minute
}

type metrics struct {
	verify *prometheus.CounterVec
	events *prometheus.CounterVec
}

// New opens the mailbox 2FA buckets and mounts the routes on the auth API.
func New(ctx context.Context, js jetstream.JetStream, key []byte, o Options, d Deps, logger *slog.Logger, reg prometheus.Registerer) (*Service, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	box, err := secretbox.New(key)
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, js, o.Replicas, max(o.LinkTTL, o.QRTTL))
	if err != nil {
		return nil, err
	}
	if d.Mailer == nil {
		d.Mailer = &SMTP{Addr: o.SMTPAddr, From: o.MailFrom}
	}
	f := promauto.With(reg)
	s := &Service{opts: o, st: st, box: box, d: d, logger: logger, tries: map[string]int{}, m: &metrics{
		verify: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_mailbox_2fa_verifications_total", Help: "Mailbox-user second-factor verifications by method and result."}, []string{"method", "result"}),
		events: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_mailbox_2fa_events_total", Help: "Mailbox-user 2FA life-cycle events."}, []string{"event"}),
	}}
	if d.Gate != nil {
		s.mount(d.Gate)
	}
	return s, nil
}

func (s *Service) mount(g Gate) {
	h := func(f httpapi.HandlerFunc) http.Handler { return httpapi.Handle(s.logger, f) }
	g.Mount("GET /v1/mailbox-2fa/{user}", h(s.status))
	g.Mount("POST /v1/mailbox-2fa/{user}/enroll", h(s.enroll))
	g.Mount("POST /v1/mailbox-2fa/{user}/verify", h(s.verify))
	g.Mount("POST /v1/mailbox-2fa/{user}/email-code", h(s.emailCode))
	g.Mount("POST /v1/mailbox-2fa/{user}/disable", h(s.disable))
	pages := http.NewServeMux()
	pages.Handle("GET /mailbox-2fa/enroll/{token}", h(s.openLink))
	pages.Handle("POST /mailbox-2fa/enroll/{token}", h(s.confirm))
	pages.Handle("POST /mailbox-2fa/enroll/{token}/email-code", h(s.pageEmailCode))
	g.MountPublic("/mailbox-2fa/", pages)
}

// allow counts a verification attempt for user in fixed one-minute windows.
func (s *Service) allow(user string) (bool, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opts.Now()
	if now.Sub(s.start) >= time.Minute || len(s.tries) > 100000 {
		s.start, s.tries = now, map[string]int{}
	}
	s.tries[user]++
	if s.tries[user] > s.opts.UserLimit {
		return false, time.Minute - now.Sub(s.start)
	}
	return true, 0
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Errors of the API.
var (
	errInvalid     = httpapi.Errorf(http.StatusUnauthorized, "invalid_credentials", "invalid code")
	errBadUser     = httpapi.Errorf(http.StatusBadRequest, "bad_user", "user: a mailbox address local@domain of at most 320 bytes")
	errNotEnrolled = httpapi.Errorf(http.StatusConflict, "not_enrolled", "this user has no second factor")
)

func storeErr(err error) error {
	if err == nil {
		return nil
	}
	var he *httpapi.Error
	if errors.As(err, &he) {
		return err
	}
	return &httpapi.Error{Status: http.StatusServiceUnavailable, Code: "store_unavailable", Message: "the 2FA store is unavailable; try again", Err: err}
}
