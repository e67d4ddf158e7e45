package mailbox2fa

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
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

// Decisions reports whether a block_login decision is being considered for a user: the app answers from the
// containment decisions' index (in force or observe mode, not lifted, not expired); a nil Decisions means none.
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

// Outcomes records step-up outcomes on their incident (*chstore.Store: table mailbox_step_ups), for the console's
// incident page.
type Outcomes interface {
	WriteStepUps(ctx context.Context, rows []chstore.StepUpRow) error
}

// Deps are the service's collaborators; Suspicion, Decisions, Outcomes and Events may be nil.
type Deps struct {
	Gate      Gate
	Suspicion Suspicion
	Decisions Decisions
	Outcomes  Outcomes
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
	lim    *limiter // verification attempts per mailbox address and minute, shared by the replicas
}

type metrics struct {
	verify    *prometheus.CounterVec
	events    *prometheus.CounterVec
	stepUps   *prometheus.CounterVec
	recordErr prometheus.Counter
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
	lim, err := openLimiter(ctx, js, o.Replicas, o.UserLimit, o.Now)
	if err != nil {
		return nil, err
	}
	if d.Mailer == nil {
		d.Mailer = &SMTP{Addr: o.SMTPAddr, From: o.MailFrom}
	}
	f := promauto.With(reg)
	s := &Service{opts: o, st: st, box: box, d: d, logger: logger, lim: lim, m: &metrics{
		verify:    f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_mailbox_2fa_verifications_total", Help: "Mailbox-user second-factor verifications by method and result."}, []string{"method", "result"}),
		events:    f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_mailbox_2fa_events_total", Help: "Mailbox-user 2FA life-cycle events."}, []string{"event"}),
		stepUps:   f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_mailbox_2fa_step_ups_total", Help: "Step-up outcomes (a webmail login while the user had an open incident) by result."}, []string{"result"}),
		recordErr: f.NewCounter(prometheus.CounterOpts{Name: "vigil_mailbox_2fa_step_up_record_errors_total", Help: "Step-up outcomes that could not be recorded on their incident in ClickHouse (the audit log has them)."}),
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

// throttle counts a code attempt for user in the shared limiter: 429 over the limit, 503 (fail closed) when the
// count cannot be kept.
func (s *Service) throttle(ctx context.Context, user string) error {
	ok, retry, err := s.lim.allow(ctx, user)
	if err != nil {
		return storeErr(err)
	}
	if !ok {
		return &httpapi.Error{Status: http.StatusTooManyRequests, Code: "too_many_requests", Message: "too many attempts for this user", RetryAfter: retry}
	}
	return nil
}

// randomID is a step-up attempt's id: 16 random bytes in hex.
func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
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
