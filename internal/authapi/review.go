package authapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Statuses an incident is shown with.
const (
	StatusOpen         = "open"
	StatusAcknowledged = "acknowledged"
	StatusResolved     = "resolved"
)

// Reasons a resolution can give.
var ResolveReasons = []string{"compromised_account", "third_party_app", "user_travelling", "mobile_connection", "false_positive", "other"}

// maxNote bounds a review note (characters).
const maxNote = 2000

// Review is the review state of an incident, stored in its own bucket so that the detector's evidence versions
// never overwrite it.
type Review struct {
	IncidentID string    `json:"incident_id"`
	Status     string    `json:"status"` // open (reopened), acknowledged or resolved
	Action     string    `json:"action"` // acknowledge, resolve or reopen
	Reason     string    `json:"reason,omitempty"`
	Note       string    `json:"note,omitempty"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
	ClientIP   string    `json:"client_ip,omitempty"`
	Revision   uint64    `json:"revision"` // the store's revision of this state
}

// ReviewRequest is a review action. Revision is the review revision the reviewer saw (0 when the incident was not
// reviewed yet); a request with a stale revision is refused with 409, so two admins cannot overwrite each other.
type ReviewRequest struct {
	Action   string  `json:"action"`
	Reason   string  `json:"reason,omitempty"`
	Note     string  `json:"note,omitempty"`
	Revision *uint64 `json:"revision,omitempty"`
}

func etag(rev uint64) string { return `"` + strconv.FormatUint(rev, 10) + `"` }

// review reads an incident's review and its history (newest first); nil when nobody reviewed it.
func (s *Server) review(ctx context.Context, id string) (*Review, []Review, error) {
	e, err := s.reviews.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, unavailable(err)
	}
	cur, err := decodeReview(e)
	if err != nil {
		return nil, nil, err
	}
	var hist []Review
	if entries, err := s.reviews.History(ctx, id); err == nil {
		for _, h := range entries {
			if r, err := decodeReview(h); err == nil {
				hist = append(hist, *r)
			}
		}
	}
	slices.Reverse(hist)
	return cur, hist, nil
}

func decodeReview(e jetstream.KeyValueEntry) (*Review, error) {
	var r Review
	if err := jsonUnmarshal(e.Value(), &r); err != nil {
		return nil, fmt.Errorf("review %s: %w", e.Key(), err)
	}
	r.Revision = e.Revision()
	return &r, nil
}

var errStale = httpapi.Errorf(http.StatusConflict, "conflict", "the incident was reviewed meanwhile; reload it and review again")

// checkReview validates a review request and returns the new state's status.
func checkReview(req *ReviewRequest, current string) (string, error) {
	req.Note = strings.TrimSpace(req.Note)
	if utf8.RuneCountInString(req.Note) > maxNote || !utf8.ValidString(req.Note) ||
		strings.ContainsFunc(req.Note, func(c rune) bool { return unicode.IsControl(c) && c != '\n' && c != '\t' }) {
		return "", badParam("note", fmt.Sprintf("at most %d characters of text (line breaks allowed, no other control characters)", maxNote))
	}
	var next string
	var from []string
	switch req.Action {
	case "acknowledge":
		next, from = StatusAcknowledged, []string{StatusOpen}
	case "resolve":
		next, from = StatusResolved, []string{StatusOpen, StatusAcknowledged}
		if !slices.Contains(ResolveReasons, req.Reason) {
			return "", badParam("reason", "resolving needs a reason: "+strings.Join(ResolveReasons, ", "))
		}
		if req.Reason == "other" && req.Note == "" {
			return "", badParam("note", `the reason "other" needs a note`)
		}
	case "reopen":
		next, from = StatusOpen, []string{StatusAcknowledged, StatusResolved}
	default:
		return "", badParam("action", "one of acknowledge, resolve, reopen")
	}
	if req.Action != "resolve" && req.Reason != "" {
		return "", badParam("reason", "only a resolution takes a reason")
	}
	if !slices.Contains(from, current) {
		return "", httpapi.Errorf(http.StatusConflict, "invalid_transition", fmt.Sprintf("cannot %s an incident that is %s", req.Action, current))
	}
	return next, nil
}

// ReviewIncident applies a review action with compare-and-set on the review's revision and audits it.
func (s *Server) ReviewIncident(ctx context.Context, r *http.Request, p *principal, id string, req ReviewRequest) (*Review, error) {
	if err := canAct(p, "incidents"); err != nil {
		return nil, err
	}
	if req.Revision == nil {
		return nil, httpapi.Errorf(http.StatusPreconditionRequired, "revision_required",
			`send the review revision you saw: "revision" in the body or an If-Match header (0 when not reviewed yet)`)
	}
	inc, err := s.incident(ctx, p, id)
	if err != nil {
		return nil, err
	}
	cur, _, err := s.review(ctx, id)
	if err != nil {
		return nil, err
	}
	status, seen := inc.DetectorState, uint64(0)
	if cur != nil {
		status, seen = cur.Status, cur.Revision
	}
	if *req.Revision != seen {
		return nil, errStale
	}
	next, err := checkReview(&req, status)
	if err != nil {
		return nil, err
	}
	rev := Review{IncidentID: id, Status: next, Action: req.Action, Reason: req.Reason, Note: req.Note, By: p.account.Username,
		At: s.opts.Now().UTC().Truncate(time.Second), ClientIP: clientIP(r).String()}
	data := jsonMarshal(rev)
	var n uint64
	if seen == 0 {
		n, err = s.reviews.Create(ctx, id, data)
	} else {
		n, err = s.reviews.Update(ctx, id, data, seen)
	}
	if natsbus.IsKVConflict(err) {
		return nil, errStale
	}
	if err != nil {
		return nil, unavailable(err)
	}
	rev.Revision = n
	s.cm.reviews.WithLabelValues(req.Action).Inc()
	before := ""
	if cur != nil {
		before = string(jsonMarshal(cur))
	}
	s.record(r, "incident_review", p.account.Username, id, "success", before, string(jsonMarshal(rev)))
	return &rev, nil
}

func (s *Server) reviewIncident(w http.ResponseWriter, r *http.Request, p *principal) error {
	var req ReviewRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if im := r.Header.Get("If-Match"); im != "" {
		n, err := strconv.ParseUint(strings.Trim(im, `"`), 10, 64)
		if err != nil || len(im) > 24 {
			return badParam("If-Match", `the review revision in quotes, e.g. "12"`)
		}
		if req.Revision != nil && *req.Revision != n {
			return badParam("revision", "differs from If-Match")
		}
		req.Revision = &n
	}
	rev, err := s.ReviewIncident(r.Context(), r, p, r.PathValue("id"), req)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", etag(rev.Revision))
	httpapi.WriteJSON(w, http.StatusOK, rev)
	return nil
}

// RunConsole mirrors every review revision into ClickHouse (incident_reviews) until ctx is cancelled, so the
// incident list can filter and count by the status shown. The watch starts with the current value of every key,
// so a restart (or a ClickHouse outage, after which the watch restarts) catches up; rows are idempotent. With a
// quarantine configured it also runs its consumer of held records and mail-host results (held.go).
func (s *Server) RunConsole(ctx context.Context) error {
	if q := s.opts.Console.Quarantine; q != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			q.Run(ctx)
		}()
		defer func() { <-done }()
	}
	if s.opts.Console.History == nil {
		<-ctx.Done()
		return nil
	}
	for {
		err := s.mirrorReviews(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.cm.mirrorErrors.Inc()
		s.logger.Warn("review mirror stopped; restarting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

func (s *Server) mirrorReviews(ctx context.Context) error {
	w, err := s.reviews.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer w.Stop()
	var pending []chstore.ReviewRow
	flush := func(ctx context.Context) error {
		if err := s.opts.Console.History.WriteReviews(ctx, pending); err != nil {
			return err
		}
		pending = pending[:0]
		return nil
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			return flush(fctx)
		case e, ok := <-w.Updates():
			if !ok {
				return errors.New("watch closed")
			}
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			r, err := decodeReview(e)
			if err != nil {
				s.logger.Warn("review record unreadable; not mirrored", "err", err)
				continue
			}
			pending = append(pending, chstore.ReviewRow{IncidentID: r.IncidentID, Status: r.Status, Reason: r.Reason, Note: r.Note, Actor: r.By, Time: r.At, Revision: r.Revision})
			if len(pending) >= 5000 {
				if err := flush(ctx); err != nil {
					return err
				}
			}
		case <-tick.C:
			if len(pending) > 0 {
				if err := flush(ctx); err != nil {
					return err
				}
			}
		}
	}
}
