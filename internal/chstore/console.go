package chstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// The admin console's queries: incidents with their review status, a user's logins, the audit log. Every filter is
// bound as a "?" parameter of a registered query (quoted client-side by the driver); nothing from a request is spliced into SQL text.

// IncidentFilter selects incidents for the console. Zero fields do not filter.
type IncidentFilter struct {
	Status  string    // the status shown: the review's when present, else the incident's
	Rule    string    // exact rule name
	Domain  string    // exact domain
	User    string    // substring of the user
	Domains []string  // nil: every domain; otherwise only these (a sub-admin's limit)
	From    time.Time // incidents whose evidence reaches at or after From
	To      time.Time // incidents whose evidence starts at or before To
	Limit   int       // rows; default 50
	Offset  int
}

// IncidentRow is one incident as the console lists it.
type IncidentRow struct {
	ID            string          `json:"incident_id"`
	Rule          string          `json:"rule"`
	User          string          `json:"user"`
	Domain        string          `json:"domain"`
	Status        string          `json:"status"`          // shown: ReviewStatus when present, else DetectorStatus
	DetectorState string          `json:"detector_status"` // the detector's status on the newest evidence version
	ReviewStatus  string          `json:"review_status,omitempty"`
	WindowStart   time.Time       `json:"window_start"`
	FirstSeen     time.Time       `json:"first_seen"`
	LastSeen      time.Time       `json:"last_seen"`
	Countries     []string        `json:"countries"`
	IPs           []string        `json:"ips"`
	Logins        uint32          `json:"logins"`
	Messages24h   uint32          `json:"messages_24h"`
	Recipients24h uint32          `json:"recipients_24h"`
	Version       uint64          `json:"version"`
	Detail        json.RawMessage `json:"evidence,omitempty"` // the rule's evidence JSON (GetIncident only)
}

// noDomain stands in the domain list of a scope that allows no domain: ClickHouse 18.16 cannot type an empty array
// literal in has(), and no domain contains "<".
const noDomain = "<none>"

// domainScope returns the arguments of domainCond: every domain when domains is nil, otherwise only these (none when
// the list is empty).
func domainScope(domains []string) (all int, list []string) {
	switch {
	case domains == nil:
		return 1, []string{noDomain}
	case len(domains) == 0:
		return 0, []string{noDomain}
	}
	return 0, domains
}

// domainCond limits rows to a scope; its arguments come from domainScope.
const domainCond = "(? = 1 OR has(?, domain))"

// Bounds standing in for a zero From or To (DateTime holds 1970 to 2106).
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(2105, 12, 31, 0, 0, 0, 0, time.UTC)
)

func fromOrMin(t time.Time) time.Time {
	if t.IsZero() {
		return minTime
	}
	return t.UTC()
}

func toOrMax(t time.Time) time.Time {
	if t.IsZero() {
		return maxTime
	}
	return t.UTC()
}

const incidentColumns = "incident_id, rule, user, domain, status, window_start, first_seen, last_seen, countries, ips, logins, messages_24h, recipients_24h, version"

var (
	qConsoleIncident = register("console incident", "SELECT "+incidentColumns+", review_status, detail FROM (SELECT "+incidentColumns+
		", detail FROM {db}.incidents FINAL WHERE incident_id = ? AND "+domainCond+") AS i ANY LEFT JOIN (SELECT incident_id,"+
		" argMax(status, revision) AS review_status FROM {db}.incident_reviews WHERE incident_id = ? GROUP BY incident_id)"+
		" AS r USING incident_id LIMIT 1", "i1", 0, []string{"example.org"}, "i1")
	// LIMIT 1 BY event_id instead of FINAL: a redelivered login is the same row (same time), and the primary key
	// (user, event_id) narrows the read to the user's granules without merging every part's range (about 3x faster
	// with 10 million rows).
	qConsoleUserLogins = register("console user logins", "SELECT event_id, time, user, domain, ip, country, service, success, trusted, source"+
		" FROM {db}.logins WHERE user = ? AND "+domainCond+" AND time >= ? AND time < ?"+
		" ORDER BY time DESC, event_id DESC LIMIT 1 BY event_id LIMIT ?, ?",
		"alice@example.org", 0, []string{"example.org"}, exampleTime, exampleTime, 0, 50)
	auditWhere         = " WHERE (? = '' OR actor = ?) AND (? = '' OR action = ?) AND (? = '' OR position(target, ?) > 0) AND time >= ? AND time < ?"
	exampleAuditArgs   = auditArgs(AuditFilter{Actor: "admin", Action: "login", Target: "alice", From: exampleTime, To: exampleTime})
	qConsoleAuditCount = register("console count audit log", "SELECT count() FROM {db}.audit_log FINAL"+auditWhere, exampleAuditArgs...)
	qConsoleAuditLog   = register("console audit log", "SELECT event_id, time, action, actor, client_ip, target, result, before, after"+
		" FROM {db}.audit_log FINAL"+auditWhere+" ORDER BY time DESC, event_id DESC LIMIT ?, ?", append(slices.Clone(exampleAuditArgs), 0, 50)...)
)

// auditArgs returns the arguments of auditWhere for f.
func auditArgs(f AuditFilter) []any {
	return []any{f.Actor, f.Actor, f.Action, f.Action, f.Target, f.Target, fromOrMin(f.From), toOrMax(f.To)}
}

func scanIncident(rows driver.Rows, detail bool) (IncidentRow, error) {
	var r IncidentRow
	dest := []any{&r.ID, &r.Rule, &r.User, &r.Domain, &r.DetectorState, &r.WindowStart, &r.FirstSeen, &r.LastSeen,
		&r.Countries, &r.IPs, &r.Logins, &r.Messages24h, &r.Recipients24h, &r.Version, &r.ReviewStatus}
	var d string
	if detail {
		dest = append(dest, &d)
	}
	if err := rows.Scan(dest...); err != nil {
		return r, fmt.Errorf("scan incident: %w", err)
	}
	r.WindowStart, r.FirstSeen, r.LastSeen = r.WindowStart.UTC(), r.FirstSeen.UTC(), r.LastSeen.UTC()
	r.Status = r.DetectorState
	if r.ReviewStatus != "" {
		r.Status = r.ReviewStatus
	}
	if detail && d != "" && json.Valid([]byte(d)) {
		r.Detail = json.RawMessage(d)
	}
	return r, nil
}

// GetIncident returns the newest version of one incident with its evidence, or ok false when there is none (or it
// is outside domains, when domains is not nil).
func (s *Store) GetIncident(ctx context.Context, id string, domains []string) (r IncidentRow, ok bool, err error) {
	all, list := domainScope(domains)
	rows, err := s.conn.Query(ctx, s.sql(qConsoleIncident), id, all, list, id)
	if err != nil {
		return r, false, fmt.Errorf("query incident: %w", err)
	}
	defer rows.Close()
	if !rows.Next() {
		return r, false, rows.Err()
	}
	r, err = scanIncident(rows, true)
	return r, err == nil, err
}

// ReviewRow is one revision of an incident's review, mirrored from the review store.
type ReviewRow struct {
	IncidentID, Status, Reason, Note, Actor string
	Time                                    time.Time
	Revision                                uint64
}

// WriteReviews inserts review revisions; the highest revision of an incident wins.
func (s *Store) WriteReviews(ctx context.Context, rows []ReviewRow) error {
	if len(rows) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	return s.insert(ctx, "incident_reviews", "incident_id, status, reason, note, actor, time, revision", len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if err := b.Append(r.IncidentID, r.Status, r.Reason, r.Note, r.Actor, r.Time.UTC(), r.Revision); err != nil {
				return err
			}
		}
		return nil
	})
}

// LoginFilter selects one user's logins.
type LoginFilter struct {
	User    string
	Domains []string // nil: every domain
	From    time.Time
	To      time.Time // exclusive
	Limit   int       // default 50
	Offset  int
}

// LoginRow is one login as the console's Last Logins table shows it.
type LoginRow struct {
	ID      string    `json:"event_id"`
	Time    time.Time `json:"time"`
	User    string    `json:"user"`
	Domain  string    `json:"domain"`
	IP      string    `json:"ip"`
	Country string    `json:"country"`
	Service string    `json:"service"`
	Success bool      `json:"success"`
	Trusted bool      `json:"trusted"`
	Source  string    `json:"source"` // the reporting server
}

// UserLogins returns a user's logins, newest first.
func (s *Store) UserLogins(ctx context.Context, f LoginFilter) ([]LoginRow, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	all, list := domainScope(f.Domains)
	rows, err := s.conn.Query(ctx, s.sql(qConsoleUserLogins), f.User, all, list, fromOrMin(f.From), toOrMax(f.To), f.Offset, f.Limit)
	if err != nil {
		return nil, fmt.Errorf("query logins: %w", err)
	}
	defer rows.Close()
	out := []LoginRow{}
	for rows.Next() {
		var (
			l                LoginRow
			success, trusted uint8
		)
		if err := rows.Scan(&l.ID, &l.Time, &l.User, &l.Domain, &l.IP, &l.Country, &l.Service, &success, &trusted, &l.Source); err != nil {
			return nil, fmt.Errorf("scan login: %w", err)
		}
		l.Time, l.Success, l.Trusted = l.Time.UTC(), success == 1, trusted == 1
		out = append(out, l)
	}
	return out, rows.Err()
}

// AuditFilter selects audit rows. Zero fields do not filter.
type AuditFilter struct {
	Actor  string // exact
	Action string // exact
	Target string // substring
	From   time.Time
	To     time.Time // exclusive
	Limit  int       // default 50
	Offset int
}

// AuditEntry is one row of the audit log as the console shows it.
type AuditEntry struct {
	EventID  string    `json:"event_id"`
	Time     time.Time `json:"time"`
	Action   string    `json:"action"`
	Actor    string    `json:"actor"`
	ClientIP string    `json:"client_ip"`
	Target   string    `json:"target"`
	Result   string    `json:"result"`
	Before   string    `json:"before"`
	After    string    `json:"after"`
}

// AuditLog returns audit rows, newest first, and the number of all that match.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, uint64, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args := auditArgs(f)
	var total uint64
	if err := s.conn.QueryRow(ctx, s.sql(qConsoleAuditCount), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count audit rows: %w", err)
	}
	rows, err := s.conn.Query(ctx, s.sql(qConsoleAuditLog), append(args, f.Offset, f.Limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("query audit log: %w", err)
	}
	defer rows.Close()
	out := []AuditEntry{}
	for rows.Next() {
		var a AuditEntry
		if err := rows.Scan(&a.EventID, &a.Time, &a.Action, &a.Actor, &a.ClientIP, &a.Target, &a.Result, &a.Before, &a.After); err != nil {
			return nil, 0, fmt.Errorf("scan audit row: %w", err)
		}
		a.Time = a.Time.UTC()
		out = append(out, a)
	}
	return out, total, rows.Err()
}
