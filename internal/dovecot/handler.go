package dovecot

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Handler is the auth policy endpoint (an http.Handler) and, through Run, the flusher of its buffer.
type Handler struct {
	opts     Options
	tokens   [][32]byte
	logger   *slog.Logger
	buf      *natsbus.Buffer
	attempts *attempts
	m        *metrics
}

// New returns the endpoint. Mount it where auth_policy_server_url points and run Run for the flusher.
func New(o Options, sink event.Sink, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{opts: o, logger: logger, attempts: newAttempts(o.Sessions), m: newMetrics(reg)}
	for _, t := range o.Tokens {
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	h.buf = natsbus.NewBuffer(sink, o.Buffer, "dovecot", logger, func(n int) { h.m.dropped.WithLabelValues(reasonStore).Add(float64(n)) })
	return h, nil
}

// Run publishes queued reports in batches, retrying while the event store fails, until ctx is cancelled; then it
// tries for a few seconds to store what is left and counts the rest as dropped.
func (h *Handler) Run(ctx context.Context) error { return h.buf.Run(ctx) }

// allowed is the answer to every report and to an allow request no decision refuses.
var allowed = []byte(`{"status":0}` + "\n")

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	cmd := commandLabel(r.URL.Query().Get("command"))
	result := h.serve(w, r, cmd)
	h.m.requests.WithLabelValues(cmd, result).Inc()
	h.m.latency.Observe(time.Since(start).Seconds())
}

// serve answers one request and returns the result label.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, cmd string) string {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.WriteHeader(http.StatusMethodNotAllowed)
		w.Write(allowed)
		return "bad_request"
	}
	if !h.authorised(r.Header.Get(h.opts.Header)) {
		h.logger.Warn("dovecot policy request without a valid API token", "peer", r.RemoteAddr, "header", h.opts.Header)
		w.WriteHeader(http.StatusUnauthorized)
		w.Write(allowed)
		return "unauthorized"
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = fmt.Errorf("body larger than %d bytes", tooBig.Limit)
		}
		return h.bad(w, r, cmd, err)
	}
	switch cmd {
	case "allow":
		w.Write(h.allow(body))
		return "ok"
	case "report":
		if err := h.report(body, r); err != nil {
			return h.bad(w, r, cmd, err)
		}
	default:
		return h.bad(w, r, cmd, fmt.Errorf("command must be allow or report, not %.40q", r.URL.Query().Get("command")))
	}
	w.Write(allowed)
	return "ok"
}

// bad answers 400 (still with status 0: a request Vigil cannot read never fails a login) and logs why.
func (h *Handler) bad(w http.ResponseWriter, r *http.Request, cmd string, err error) string {
	h.logger.Warn("bad dovecot policy request", "peer", r.RemoteAddr, "command", cmd, "err", clip(err.Error()))
	w.WriteHeader(http.StatusBadRequest)
	w.Write(allowed)
	return "bad_request"
}

// report queues the login event of a report. It returns an error only for a body that is not a report (answered
// 400); a report that cannot become an event, or finds the buffer full, is counted, logged and answered 200.
func (h *Handler) report(body []byte, r *http.Request) error {
	rep, err := ParseReport(body)
	if err != nil {
		if errors.Is(err, ErrMissing) {
			h.m.dropped.WithLabelValues(reasonMissing).Inc()
		} else {
			h.m.dropped.WithLabelValues(reasonMalformed).Inc()
		}
		return err
	}
	source := h.opts.Source
	if source == "" {
		source, _, _ = net.SplitHostPort(r.RemoteAddr)
	}
	if len(rep.SessionID) > event.MaxSessionLen {
		// Checked before the session becomes a key of the attempt counter or a log value.
		h.m.dropped.WithLabelValues(reasonInvalid).Inc()
		h.logger.Warn("dovecot report not recorded: session_id too long", "peer", r.RemoteAddr, "bytes", len(rep.SessionID), "max", event.MaxSessionLen)
		return nil
	}
	attempt := 0
	if rep.SessionID != "" {
		if *rep.Success {
			h.attempts.done(rep.SessionID)
		} else {
			attempt = h.attempts.fail(rep.SessionID)
		}
	}
	ev, err := rep.Event(h.opts.Now(), source, attempt)
	if err != nil {
		h.m.dropped.WithLabelValues(reasonInvalid).Inc()
		h.logger.Warn("dovecot report not recorded: it does not make a valid login event", "peer", r.RemoteAddr, "session", rep.SessionID, "err", clip(err.Error()))
		return nil
	}
	if !h.buf.Offer(ev) {
		h.m.dropped.WithLabelValues(reasonBufferFull).Inc()
		h.logger.Error("dovecot report dropped: buffer full (the event store is too slow or down)", "user", ev.User, "session", ev.Session, "buffer", h.buf.Cap())
	}
	return nil
}

func (h *Handler) authorised(v string) bool {
	sum := sha256.Sum256([]byte(v))
	ok := 0
	for _, t := range h.tokens {
		ok |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return ok == 1 && v != ""
}

func commandLabel(cmd string) string {
	if cmd == "allow" || cmd == "report" {
		return cmd
	}
	return "other"
}

// clip bounds a log value that may quote what a client sent.
func clip(s string) string {
	const max = 256
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}
