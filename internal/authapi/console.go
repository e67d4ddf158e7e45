package authapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// Console is what the admin console's routes read and write besides the auth buckets: the ClickHouse history and
// the trusted-network store the detector watches. A nil field answers 503 console_unavailable on the routes that
// need it.
type Console struct {
	History    *chstore.Store
	Trust      *trustkv.Store
	Quarantine *quarantine.Manager // held mail (held.go); nil answers 503 quarantine_unavailable
}

// bucketReviews holds incident reviews, keyed by incident id, compare-and-set by revision.
const bucketReviews = "vigil_incident_reviews"

var errNoHistory = httpapi.Errorf(http.StatusServiceUnavailable, "console_unavailable", "the incident history (ClickHouse) is not configured on this server")

type consoleMetrics struct {
	reviews      *prometheus.CounterVec
	trusted      *prometheus.CounterVec
	mirrorErrors prometheus.Counter
}

// initConsole opens the reviews bucket and registers the console's metrics.
func (s *Server) initConsole(ctx context.Context, js jetstream.JetStream, reg prometheus.Registerer) error {
	f := promauto.With(reg)
	s.cm = &consoleMetrics{
		reviews: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_auth_incident_reviews_total", Help: "Incident reviews stored, by action."}, []string{"action"}),
		trusted: f.NewCounterVec(prometheus.CounterOpts{Name: "vigil_auth_trusted_network_changes_total", Help: "Trusted networks added or removed through the API, by operation."}, []string{"op"}),
		mirrorErrors: f.NewCounter(prometheus.CounterOpts{Name: "vigil_auth_review_mirror_errors_total",
			Help: "Failed writes of review revisions to ClickHouse (the mirror restarts and catches up)."}),
	}
	replicas := s.opts.Replicas
	if replicas == 0 {
		replicas = 1
	}
	kv, err := OpenReviews(ctx, js, replicas)
	if err != nil {
		return err
	}
	s.reviews = kv
	return nil
}

// ReviewsBucket is the KV bucket of incident reviews (Review records, keyed by incident id).
const ReviewsBucket = bucketReviews

// OpenReviews creates or updates the reviews bucket and returns it, for the auth API and for the components that
// act on reviews (the responder).
func OpenReviews(ctx context.Context, js jetstream.JetStream, replicas int) (jetstream.KeyValue, error) {
	if replicas < 1 {
		replicas = 1
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: bucketReviews, History: 64, Replicas: replicas,
		Storage: jetstream.FileStorage, Description: "Vigil incident reviews"})
	if err != nil {
		return nil, fmt.Errorf("auth bucket %s: %w", bucketReviews, err)
	}
	return kv, nil
}

// DecodeReview reads a review record from its KV entry (or the bucket stream's message data).
func DecodeReview(e jetstream.KeyValueEntry) (*Review, error) { return decodeReview(e) }

// ParseReview reads a review record's JSON.
func ParseReview(data []byte) (*Review, error) {
	var r Review
	if err := jsonUnmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("review: %w", err)
	}
	return &r, nil
}

func (s *Server) history() (*chstore.Store, error) {
	if s.opts.Console.History == nil {
		return nil, errNoHistory
	}
	return s.opts.Console.History, nil
}

// queryTimeout bounds every console query.
const queryTimeout = 10 * time.Second

// domainLimit returns the domains the caller may see, or nil for every domain.
func domainLimit(p *principal) []string {
	if len(p.account.Domains) == 0 {
		return nil
	}
	return p.account.Domains
}

// mayDomain reports whether the caller may see and act on domain.
func mayDomain(p *principal, domain string) bool {
	l := domainLimit(p)
	return l == nil || slices.Contains(l, domain)
}

// userDomain is the domain part of a user name ("" without an @).
func userDomain(user string) string {
	if i := strings.LastIndexByte(user, '@'); i >= 0 {
		return user[i+1:]
	}
	return ""
}

// canAct reports whether the caller may change incidents and trusted networks (sub-admins and admins; API keys
// need scope).
func canAct(p *principal, scope string) error {
	if p.account.Role == RoleViewer {
		return errForbidden
	}
	if p.apiKey != nil && !p.scoped(scope) {
		return httpapi.Errorf(http.StatusForbidden, "forbidden", "this API key lacks the "+scope+" scope")
	}
	return nil
}

func badParam(name, msg string) error {
	return httpapi.Errorf(http.StatusBadRequest, "bad_parameter", name+": "+msg)
}

var (
	reIncidentID = regexp.MustCompile(`^[0-9a-f]{32}$`)
	reRule       = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	reDomain     = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*$`)
)

// validIncidentID reports whether id has the shape incident.ID makes (32 lower-case hex digits).
func validIncidentID(id string) bool { return reIncidentID.MatchString(id) }

// parseDomain validates a domain name (lower-cased, at most 253 bytes).
func parseDomain(name, v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) == 0 || len(v) > 253 || !reDomain.MatchString(v) {
		return "", badParam(name, "a domain name of letters, digits, '-' and '.', at most 253 bytes")
	}
	return v, nil
}

// parseUser validates a mail user (lower-cased, 1-320 bytes of printable UTF-8 without spaces or quotes).
func parseUser(name, v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" || len(v) > 320 || strings.ContainsAny(v, " \t\"'\\") || !printable(v) {
		return "", badParam(name, "a user name of 1-320 bytes of printable UTF-8 without spaces or quotes")
	}
	return v, nil
}

// maxPage is the largest page a list returns; maxOffset bounds paging (use the time filters to go further back).
const (
	maxPage   = 500
	maxOffset = 100000
)

// query reads and validates query parameters, collecting the first error; it also refuses parameters the route
// does not know, so a misspelt filter is a 400 rather than silently ignored.
type query struct {
	v   url.Values
	err error
}

func newQuery(r *http.Request, known ...string) *query {
	q := &query{v: r.URL.Query()}
	if len(r.URL.RawQuery) > 4096 {
		q.err = httpapi.Errorf(http.StatusRequestURITooLong, "query_too_long", "the query string is longer than 4096 bytes")
		return q
	}
	for k, vs := range q.v {
		if !slices.Contains(known, k) {
			q.err = badParam(k, "unknown parameter; this route takes "+strings.Join(known, ", "))
			return q
		}
		if len(vs) > 1 {
			q.err = badParam(k, "given more than once")
			return q
		}
	}
	return q
}

func (q *query) fail(err error) {
	if q.err == nil {
		q.err = err
	}
}

func (q *query) str(name string, parse func(string, string) (string, error)) string {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return ""
	}
	out, err := parse(name, v)
	q.fail(err)
	return out
}

func (q *query) int(name string, def, lo, hi int) int {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		q.fail(badParam(name, fmt.Sprintf("an integer from %d to %d", lo, hi)))
		return def
	}
	return n
}

func (q *query) time(name string) time.Time {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil || t.Year() < 2000 || t.Year() > 2200 {
		q.fail(badParam(name, "an RFC 3339 time between the years 2000 and 2200, e.g. 2026-11-24T09:30:00Z"))
		return time.Time{}
	}
	return t.UTC()
}

// span reads from and to, checking from < to.
func (q *query) span() (from, to time.Time) {
	from, to = q.time("from"), q.time("to")
	if q.err == nil && !from.IsZero() && !to.IsZero() && !from.Before(to) {
		q.fail(badParam("to", "must be later than from"))
	}
	return from, to
}

func (q *query) oneOf(name string, allowed ...string) string {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return ""
	}
	if !slices.Contains(allowed, v) {
		q.fail(badParam(name, "one of "+strings.Join(allowed, ", ")))
	}
	return v
}

func parseRule(name, v string) (string, error) {
	if !reRule.MatchString(v) {
		return "", badParam(name, "a rule name: lower-case letters, digits and _, at most 64")
	}
	return v, nil
}

// parseSearch accepts a free-text search term of at most 100 bytes of printable UTF-8.
func parseSearch(name, v string) (string, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if len(v) > 100 || !printable(v) {
		return "", badParam(name, "at most 100 bytes of printable UTF-8")
	}
	return v, nil
}

// parseText accepts a search term of at most 100 bytes of printable UTF-8, case kept.
func parseText(name, v string) (string, error) {
	if len(v) > 100 || !printable(v) {
		return "", badParam(name, "at most 100 bytes of printable UTF-8")
	}
	return v, nil
}

// parseName accepts an exact admin account or action name.
func parseName(name, v string) (string, error) {
	if len(v) > 128 || !printable(v) || strings.ContainsAny(v, " \t") {
		return "", badParam(name, "at most 128 bytes of printable UTF-8 without spaces")
	}
	return v, nil
}

// consoleRoutes mounts the console's JSON API: incidents, reviews, logins, trusted networks, accounts, keys and the
// audit log. Reads need a session or a key with scope read; writes check the role (and the key's scope) inside.
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	mux.Handle("GET /v1/incidents", s.need("read", false, s.listIncidents))
	mux.Handle("GET /v1/incidents/summary", s.need("read", false, s.summarizeIncidents))
	mux.Handle("GET /v1/incidents/{id}", s.need("read", false, s.getIncident))
	mux.Handle("POST /v1/incidents/{id}/review", s.need("incidents", false, s.reviewIncident))
	mux.Handle("GET /v1/users/{user}/logins", s.need("read", false, s.listUserLogins))
	mux.Handle("GET /v1/trusted-networks", s.need("read", false, s.listTrusted))
	mux.Handle("POST /v1/trusted-networks", s.need("trusted", false, s.addTrusted))
	mux.Handle("DELETE /v1/trusted-networks/{id}", s.need("trusted", false, s.removeTrusted))
	mux.Handle("GET /v1/accounts", s.need("accounts", false, s.listAccounts))
	mux.Handle("PUT /v1/accounts/{username}/domains", s.need("accounts", false, s.setAccountDomains))
	mux.Handle("POST /v1/accounts/{username}/reset-2fa", s.need("", false, s.resetAccount2FA))
	mux.Handle("GET /v1/apikeys", s.need("read", false, s.listKeys))
	mux.Handle("GET /v1/audit-log", s.need("read", false, s.listAuditLog))
	s.heldRoutes(mux)
}
