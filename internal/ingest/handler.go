package ingest

import (
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

// Publisher stores events and reports, per event, those JetStream did not acknowledge.
type Publisher interface {
	PublishEach(ctx context.Context, evs []event.Event) []error
}

// Options configures the events endpoint.
type Options struct {
	Tokens     []string      // accepted bearer tokens; at least one
	MaxBody    int64         // bytes; default 8 MiB
	RetryAfter time.Duration // advertised when JetStream is unavailable; default 5s
	Timeout    time.Duration // longest wait for JetStream's acks; default 5s
	Now        func() time.Time
}

// DefaultMaxBody is the default request body limit.
const DefaultMaxBody = 8 << 20

// Validate reports every problem with the options.
func (o *Options) Validate() error {
	var errs []error
	if len(o.Tokens) == 0 {
		errs = append(errs, errors.New("ingest: at least one bearer token is required (VIGIL_INGEST_TOKENS)"))
	}
	for i, t := range o.Tokens {
		if len(t) < 16 {
			errs = append(errs, fmt.Errorf("ingest: token %d is shorter than 16 characters", i+1))
		}
	}
	if o.MaxBody < 0 {
		errs = append(errs, errors.New("ingest: max body must not be negative"))
	}
	return errors.Join(errs...)
}

// Handler serves POST /v1/events.
type Handler struct {
	opts     Options
	tokens   [][32]byte
	pub      Publisher
	logger   *slog.Logger
	events   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	batch    prometheus.Histogram
}

// NewHandler returns the events endpoint.
func NewHandler(opts Options, pub Publisher, logger *slog.Logger, reg prometheus.Registerer) (*Handler, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxBody == 0 {
		opts.MaxBody = DefaultMaxBody
	}
	if opts.RetryAfter == 0 {
		opts.RetryAfter = 5 * time.Second
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	h := &Handler{opts: opts, pub: pub, logger: logger}
	for _, t := range opts.Tokens {
		h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
	}
	f := promauto.With(reg)
	h.events = f.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_ingest_events_total",
		Help: "Events received over HTTP by result (accepted, rejected, unavailable).",
	}, []string{"result"})
	h.rejected = f.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_ingest_rejected_total",
		Help: "Events or bodies rejected, by the field at fault (or body, auth).",
	}, []string{"reason"})
	h.batch = f.NewHistogram(prometheus.HistogramOpts{
		Name:    "vigil_ingest_batch_events",
		Help:    "Events per request.",
		Buckets: prometheus.ExponentialBuckets(1, 4, 8),
	})
	return h, nil
}

// Response is the body of a successful POST /v1/events.
type Response struct {
	Accepted int        `json:"accepted"`
	IDs      []string   `json:"ids"`
	Rejected []Rejected `json:"rejected"`
}

// Rejected reports one event that was not stored.
type Rejected struct {
	Index   int    `json:"index"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Register mounts the handler on mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("POST /v1/events", httpapi.Handle(h.logger, h.serve))
}

func (h *Handler) authorised(r *http.Request) bool {
	tok, ok := httpapi.BearerToken(r)
	if !ok {
		return false
	}
	sum := sha256.Sum256([]byte(tok))
	match := 0
	for _, t := range h.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return match == 1
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) error {
	if !h.authorised(r) {
		h.rejected.WithLabelValues("auth").Inc()
		w.Header().Set("WWW-Authenticate", `Bearer realm="vigil"`)
		return httpapi.Errorf(http.StatusUnauthorized, "unauthorized", "a valid Authorization: Bearer token is required")
	}
	ndjson, err := bodyFormat(r.Header.Get("Content-Type"))
	if err != nil {
		h.rejected.WithLabelValues("body").Inc()
		return err
	}
	body, err := h.readBody(w, r)
	if err != nil {
		h.rejected.WithLabelValues("body").Inc()
		return err
	}
	items, err := event.DecodeBatch(body, ndjson, h.opts.Now())
	if err != nil {
		h.rejected.WithLabelValues("body").Inc()
		return httpapi.Errorf(http.StatusBadRequest, "bad_body", err.Error())
	}
	h.batch.Observe(float64(len(items)))

	resp := Response{IDs: []string{}, Rejected: []Rejected{}}
	evs := make([]event.Event, 0, len(items))
	for _, it := range items {
		if it.Err != nil {
			rej := Rejected{Index: it.Index, Message: it.Err.Error()}
			var fe *event.FieldError
			if errors.As(it.Err, &fe) {
				rej.Field = fe.Field
			}
			resp.Rejected = append(resp.Rejected, rej)
			h.rejected.WithLabelValues(reasonLabel(rej.Field)).Inc()
			continue
		}
		evs = append(evs, it.Event)
	}
	h.events.WithLabelValues("rejected").Add(float64(len(resp.Rejected)))
	if len(evs) == 0 {
		httpapi.WriteJSON(w, http.StatusBadRequest, struct {
			httpapi.Body
			Rejected []Rejected `json:"rejected"`
		}{httpapi.Body{Error: httpapi.BodyError{Code: "no_valid_events", Message: "every event was rejected"}}, resp.Rejected})
		return nil
	}

	failed := 0
	var firstErr error
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.Timeout)
	defer cancel()
	for _, err := range h.pub.PublishEach(ctx, evs) {
		if err != nil {
			failed++
			firstErr = cmpErr(firstErr, err)
		}
	}
	if failed > 0 {
		h.events.WithLabelValues("unavailable").Add(float64(len(evs)))
		return &httpapi.Error{
			Status:     http.StatusServiceUnavailable,
			Code:       "unavailable",
			Message:    fmt.Sprintf("%d of %d events were not stored; retry the request (events are deduplicated by id)", failed, len(evs)),
			RetryAfter: h.opts.RetryAfter,
			Err:        firstErr,
		}
	}
	h.events.WithLabelValues("accepted").Add(float64(len(evs)))
	resp.Accepted = len(evs)
	for i := range evs {
		resp.IDs = append(resp.IDs, evs[i].ID)
	}
	httpapi.WriteJSON(w, http.StatusOK, resp)
	return nil
}

// readBody reads the body, decoding Content-Encoding: gzip; the limit applies to the decoded size, so a small
// compressed body that expands past it (a gzip bomb) is refused with 413 like a large plain one.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	tooLarge := httpapi.Errorf(http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("the body exceeds %d bytes; send smaller batches", h.opts.MaxBody))
	var in io.Reader = http.MaxBytesReader(w, r.Body, h.opts.MaxBody)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(in)
		if err != nil {
			return nil, readError(err, tooLarge, "the body is not valid gzip")
		}
		defer zr.Close()
		in = io.LimitReader(zr, h.opts.MaxBody+1)
	default:
		return nil, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_encoding", "Content-Encoding must be gzip or absent")
	}
	body, err := io.ReadAll(in)
	if err != nil {
		return nil, readError(err, tooLarge, "reading the body failed")
	}
	if int64(len(body)) > h.opts.MaxBody {
		return nil, tooLarge
	}
	return body, nil
}

func readError(err error, tooLarge *httpapi.Error, msg string) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge
	}
	return httpapi.Errorf(http.StatusBadRequest, "bad_body", msg)
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// bodyFormat tells NDJSON from JSON by the Content-Type.
func bodyFormat(ct string) (ndjson bool, err error) {
	if ct == "" {
		return false, nil
	}
	mt, _, perr := mime.ParseMediaType(ct)
	switch {
	case perr != nil:
		return false, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "unreadable Content-Type")
	case mt == "application/json":
		return false, nil
	case mt == "application/x-ndjson" || mt == "application/ndjson" || mt == "application/jsonl":
		return true, nil
	}
	return false, httpapi.Errorf(http.StatusUnsupportedMediaType, "unsupported_media_type", "Content-Type must be application/json or application/x-ndjson")
}

var knownReasons = map[string]bool{"": true, "id": true, "kind": true, "time": true, "user": true, "domain": true, "ip": true,
	"service": true, "success": true, "recipients": true, "size": true, "message_id": true, "source": true, "session": true, "pwhash": true}

// reasonLabel bounds the metric label: unknown field names collapse into one value.
func reasonLabel(field string) string {
	if !knownReasons[field] {
		return "unknown_field"
	}
	if field == "" {
		return "malformed"
	}
	return field
}
