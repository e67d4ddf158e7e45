// Package dovecot serves Dovecot's auth policy protocol and turns its reports into login events.
//
// Dovecot calls POST <url>?command=allow before (and after) authentication and POST <url>?command=report after it.
// allow is answered {"status":0} at once: Vigil watches, it never blocks a login. report becomes a login event that
// is queued in a bounded buffer and published by a background flusher, so a slow event store never slows a login.
//
// Deduplication: a report with a session id gets the event id "dovecot:<session>:<ok|fail>", the id the log reader
// (internal/maillog) derives from the same session's log line, so a login seen by both is stored once. One failed
// session is one failed login, however many attempts it made.
package dovecot

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Options configures the endpoint.
type Options struct {
	Header  string   // the header auth_policy_server_api_header sends; default X-API-Key
	Tokens  []string // accepted values; at least one
	Source  string   // the reporting server's name for the events; default: Dovecot's address
	Buffer  int      // reports held while the store is slow; default 10000
	MaxBody int64    // default 64 KiB
	Now     func() time.Time
}

// Handler is the auth policy endpoint and its flusher.
type Handler struct {
	opts    Options
	tokens  [][32]byte
	logger  *slog.Logger
	buf     *natsbus.Buffer
	reports *prometheus.CounterVec
	dropped *prometheus.CounterVec
	latency prometheus.Histogram
}

// New returns the endpoint; run Run for the flusher.
func New(o Options, sink natsbus.Sink, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if o.Header == "" {
		o.Header = "X-API-Key"
	}
	if len(o.Tokens) == 0 {
		return nil, errors.New("dovecot policy: at least one API token is required (VIGIL_DOVECOT_TOKENS)")
	}
	if o.Buffer == 0 {
		o.Buffer = 10000
	}
	if o.MaxBody == 0 {
		o.MaxBody = 64 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &Handler{opts: o, logger: logger}
	for _, t := range o.Tokens {
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	f := promauto.With(reg)
	h.reports = f.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_dovecot_requests_total", Help: "Dovecot auth policy requests by command and result.",
	}, []string{"command", "result"})
	h.dropped = f.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_dovecot_dropped_total", Help: "Dovecot reports not kept, by reason (buffer_full, invalid, unauthorized, store).",
	}, []string{"reason"})
	h.buf = natsbus.NewBuffer(sink, o.Buffer, "dovecot", logger, func(n int) { h.dropped.WithLabelValues("store").Add(float64(n)) })
	h.latency = f.NewHistogram(prometheus.HistogramOpts{
		Name: "vigil_dovecot_request_seconds", Help: "Time to answer Dovecot.", Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
	})
	return h, nil
}

// allowed is the only answer Vigil gives: it observes logins, it does not decide them.
var allowed = []byte(`{"status":0}` + "\n")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { h.latency.Observe(time.Since(start).Seconds()) }()
	cmd := r.URL.Query().Get("command")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, `{"status":0,"msg":"POST only"}`, http.StatusMethodNotAllowed)
		return
	}
	if !h.authorised(r.Header.Get(h.opts.Header)) {
		h.reports.WithLabelValues(label(cmd), "unauthorized").Inc()
		h.logger.Warn("dovecot policy request without a valid API header", "peer", r.RemoteAddr, "header", h.opts.Header)
		http.Error(w, `{"status":0,"msg":"unauthorized"}`, http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		h.bad(w, r, cmd, fmt.Errorf("body: %w", err))
		return
	}
	switch cmd {
	case "allow":
		h.reports.WithLabelValues("allow", "ok").Inc()
	case "report":
		ev, err := h.report(body, r)
		if err != nil {
			h.dropped.WithLabelValues("invalid").Inc()
			h.bad(w, r, cmd, err)
			return
		}
		if h.buf.Offer(ev) {
			h.reports.WithLabelValues("report", "ok").Inc()
		} else {
			h.dropped.WithLabelValues("buffer_full").Inc()
			h.logger.Error("dovecot report dropped: buffer full (the event store is too slow)", "user", ev.User, "buffer", h.buf.Cap())
		}
	default:
		h.bad(w, r, cmd, fmt.Errorf("unknown command %q", cmd))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(allowed)
}

func (h *Handler) bad(w http.ResponseWriter, r *http.Request, cmd string, err error) {
	h.reports.WithLabelValues(label(cmd), "bad_request").Inc()
	h.logger.Warn("bad dovecot policy request", "peer", r.RemoteAddr, "command", label(cmd), "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(allowed)
}

func label(cmd string) string {
	if cmd == "allow" || cmd == "report" {
		return cmd
	}
	return "other"
}

func (h *Handler) authorised(v string) bool {
	sum := sha256.Sum256([]byte(v))
	ok := 0
	for _, t := range h.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return ok == 1 && v != ""
}

// Report is the body of a report request: template values arrive as strings, flags as booleans.
type Report struct {
	Login     string `json:"login"`
	Remote    string `json:"remote"`
	Protocol  string `json:"protocol"`
	SessionID string `json:"session_id"`
	PWHash    string `json:"pwhash"`
	Local     string `json:"local"`
	Success   *bool  `json:"success"`
}

// ParseReport decodes a report body; unknown attributes are ignored (operators add their own).
func ParseReport(body []byte) (Report, error) {
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, fmt.Errorf("report body: %w", err)
	}
	switch {
	case rep.Login == "":
		return rep, errors.New("report without login (add login=%{requested_username} to auth_policy_request_attributes)")
	case rep.Remote == "":
		return rep, errors.New("report without remote (add remote=%{rip})")
	case rep.Success == nil:
		return rep, errors.New("report without success")
	}
	return rep, nil
}

func (h *Handler) report(body []byte, r *http.Request) (event.Event, error) {
	rep, err := ParseReport(body)
	if err != nil {
		return event.Event{}, err
	}
	source := h.opts.Source
	if source == "" {
		source, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	now := h.opts.Now()
	e := event.Event{
		Kind:    event.KindLogin,
		Time:    now.UTC(),
		User:    rep.Login,
		IP:      parseIP(rep.Remote),
		Service: Service(rep.Protocol),
		Success: *rep.Success,
		Source:  source,
		Session: rep.SessionID,
		PWHash:  rep.PWHash,
	}
	if e.Session != "" {
		e.ID = SessionID(e.Session, e.Success)
	}
	return event.New(e, now)
}

// SessionID is the event id of a Dovecot login session's outcome, shared with the log reader.
func SessionID(session string, success bool) string {
	if success {
		return "dovecot:" + session + ":ok"
	}
	return "dovecot:" + session + ":fail"
}

// Service maps Dovecot's protocol names to event services.
func Service(protocol string) string {
	switch p := strings.ToLower(protocol); p {
	case "imap", "pop3", "smtp", "submission":
		return p
	}
	return "other"
}

func parseIP(s string) (a netip.Addr) {
	a, _ = event.ParseIP(s)
	return a
}

// Run publishes queued reports until ctx is cancelled (see natsbus.Buffer).
func (h *Handler) Run(ctx context.Context) error { return h.buf.Run(ctx) }
