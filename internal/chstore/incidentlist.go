package chstore

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The incident list and its counts read incident_list (migration 0011): every evidence version without its evidence
// JSON, ordered by last_seen. Two facts keep them exact without merging every incident with FINAL:
//
//   - an incident's last_seen never decreases from one version to the next, so an incident whose newest version
//     is at or after a time T has that version among the rows at or after T, and those rows are a range of the
//     sorting key: the newest page reads the newest granules only, widening the range until it holds the page;
//   - the columns a filter names besides status and first_seen (rule, domain, user) are the same on every version,
//     so the number of incidents that match is the number of distinct ids among the matching rows (uniqExact of
//     id64, cityHash64 of the id: two of a million ids collide with a chance under 10^-7).
//
// The status shown is the review's when there is one, else the newest version's. The counts by status take the
// number of incidents per detector status from the rows, which is exact when no incident has versions of two
// statuses (the detector writes only "open"; the query checks it and falls back otherwise), then move the reviewed
// incidents, a join over those alone, to their review's status. A To filter (on the newest version's first_seen,
// which may grow as the window slides) takes the exact path that groups every matching incident.

// listCond filters incident_list rows on the columns every version shares, and on last_seen: its arguments come
// from listArgs.
const listCond = "last_seen >= ? AND (? = '' OR rule = ?) AND (? = '' OR domain = ?) AND " + domainCond + " AND (? = '' OR position(user, ?) > 0)"

// listArgs returns listCond's arguments: rows whose last_seen is at or after since, matching f's rule, domain, user
// and domain limit.
func listArgs(f IncidentFilter, since time.Time) []any {
	all, list := domainScope(f.Domains)
	return []any{since.UTC(), f.Rule, f.Rule, f.Domain, f.Domain, all, list, f.User, f.User}
}

// reviewStatus is each reviewed incident's newest review status.
const reviewStatus = "SELECT incident_id, argMax(status, revision) AS review_status FROM {db}.incident_reviews"

var exampleListArgs = listArgs(IncidentFilter{Rule: "spray", Domain: "example.org", User: "alice", Domains: []string{"example.org"}}, exampleTime)

func withArgs(a []any, more ...any) []any { return append(slices.Clone(a), more...) }

var (
	qConsoleNewest = register("console newest incident", "SELECT max(last_seen) FROM {db}.incident_list")
	// The newest versions of the incidents in a range of last_seen, their review status joined for those alone.
	qConsoleIncidentPage = register("console incident page", "SELECT incident_id, i_rule, i_user, i_domain, i_status, i_window,"+
		" i_first, i_last, i_countries, i_ips, i_logins, i_messages, i_recipients, i_version, review_status FROM"+
		" (SELECT incident_id, any(rule) AS i_rule, any(user) AS i_user, any(domain) AS i_domain, argMax(status, version) AS i_status,"+
		" argMax(window_start, version) AS i_window, argMax(first_seen, version) AS i_first, argMax(last_seen, version) AS i_last,"+
		" argMax(countries, version) AS i_countries, argMax(ips, version) AS i_ips, argMax(logins, version) AS i_logins,"+
		" argMax(messages_24h, version) AS i_messages, argMax(recipients_24h, version) AS i_recipients, max(version) AS i_version"+
		" FROM {db}.incident_list WHERE "+listCond+" GROUP BY incident_id HAVING i_first <= ?) AS i"+
		" ANY LEFT JOIN ("+reviewStatus+" WHERE incident_id IN (SELECT incident_id FROM {db}.incident_list WHERE last_seen >= ?)"+
		" GROUP BY incident_id) AS r USING incident_id WHERE (? = '' OR if(review_status = '', i_status, review_status) = ?)"+
		" ORDER BY i_last DESC, incident_id DESC LIMIT ?, ?",
		withArgs(exampleListArgs, exampleTime, exampleTime, "open", "open", 0, 50)...)
	qConsoleIncidentCount = register("console count incidents", "SELECT uniqExact(id64) FROM {db}.incident_list WHERE "+listCond, exampleListArgs...)
	// Incidents per rule and detector status (whole = 0), and per rule (whole = 1), to check no incident has two.
	qConsoleDetectorCounts = register("console incident counts by detector status",
		"SELECT rule, status, 0 AS whole, uniqExact(id64) FROM {db}.incident_list WHERE "+listCond+" GROUP BY rule, status"+
			" UNION ALL SELECT rule, '' AS status, 1 AS whole, uniqExact(id64) FROM {db}.incident_list WHERE "+listCond+" GROUP BY rule",
		withArgs(exampleListArgs, exampleListArgs...)...)
	qConsoleReviewedCounts = register("console reviewed incident counts", "SELECT i_rule, i_status, review_status, count() FROM"+
		" (SELECT incident_id, any(rule) AS i_rule, argMax(status, version) AS i_status FROM {db}.incident_list WHERE "+listCond+
		" AND id64 IN (SELECT cityHash64(incident_id) FROM {db}.incident_reviews) GROUP BY incident_id) AS i"+
		" ANY INNER JOIN ("+reviewStatus+" GROUP BY incident_id) AS r USING incident_id GROUP BY i_rule, i_status, review_status",
		exampleListArgs...)
	qConsoleSummaryExact = register("console incident summary", "SELECT if(review_status = '', i_status, review_status) AS shown, i_rule,"+
		" review_status = '' AS unreviewed, count() FROM (SELECT incident_id, any(rule) AS i_rule, argMax(status, version) AS i_status,"+
		" argMax(first_seen, version) AS i_first FROM {db}.incident_list WHERE "+listCond+" GROUP BY incident_id HAVING i_first <= ?) AS i"+
		" ANY LEFT JOIN ("+reviewStatus+" GROUP BY incident_id) AS r USING incident_id GROUP BY shown, i_rule, unreviewed",
		withArgs(exampleListArgs, exampleTime)...)
)

// pageSpans are the ranges of last_seen, back from the newest incident, that ListIncidents reads in turn until one
// holds the page; after the last it reads everything the filter allows.
var pageSpans = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 60 * 24 * time.Hour}

// ListIncidents returns one page of incidents, newest evidence first, and the number of all that match.
func (s *Store) ListIncidents(ctx context.Context, f IncidentFilter) ([]IncidentRow, uint64, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	total, err := s.countIncidents(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	out := []IncidentRow{}
	if uint64(f.Offset) >= total {
		return out, total, nil
	}
	want := int(min(uint64(f.Limit), total-uint64(f.Offset)))
	var newest time.Time
	if err := s.conn.QueryRow(ctx, s.sql(qConsoleNewest)).Scan(&newest); err != nil {
		return nil, 0, fmt.Errorf("query incidents: %w", err)
	}
	from := fromOrMin(f.From)
	for i := 0; ; i++ {
		since := from
		if i < len(pageSpans) && newest.Add(-pageSpans[i]).After(since) {
			since = newest.Add(-pageSpans[i])
		}
		rows, err := s.incidentPage(ctx, f, since)
		if err != nil {
			return nil, 0, err
		}
		// Every incident outside the range is older than every one inside, so a range holding the page holds the
		// right one; the whole range holds all there are.
		if len(rows) >= want || since.Equal(from) {
			return rows, total, nil
		}
	}
}

// incidentPage returns f's page among the incidents whose newest version's last_seen is at or after since.
func (s *Store) incidentPage(ctx context.Context, f IncidentFilter, since time.Time) ([]IncidentRow, error) {
	args := withArgs(listArgs(f, since), toOrMax(f.To), since.UTC(), f.Status, f.Status, f.Offset, f.Limit)
	rows, err := s.conn.Query(ctx, s.sql(qConsoleIncidentPage), args...)
	if err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	defer rows.Close()
	out := []IncidentRow{}
	for rows.Next() {
		r, err := scanIncident(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	return out, nil
}

// countIncidents returns the number of incidents that match f.
func (s *Store) countIncidents(ctx context.Context, f IncidentFilter) (uint64, error) {
	if f.Status == "" && f.To.IsZero() {
		var n uint64
		if err := s.conn.QueryRow(ctx, s.sql(qConsoleIncidentCount), listArgs(f, fromOrMin(f.From))...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count incidents: %w", err)
		}
		return n, nil
	}
	sum, err := s.SummarizeIncidents(ctx, f)
	if err != nil {
		return 0, err
	}
	if f.Status == "" {
		return sum.Total, nil
	}
	return sum.ByStatus[f.Status], nil
}

// IncidentSummary counts incidents by the status shown; Unreviewed counts those nobody has reviewed yet.
type IncidentSummary struct {
	Total      uint64            `json:"total"`
	Unreviewed uint64            `json:"unreviewed"`
	ByStatus   map[string]uint64 `json:"by_status"`
	ByRule     map[string]uint64 `json:"by_rule"`
}

func (sum *IncidentSummary) add(status, rule string, unreviewed bool, n uint64) {
	if n == 0 {
		return
	}
	sum.Total += n
	sum.ByStatus[status] += n
	sum.ByRule[rule] += n
	if unreviewed {
		sum.Unreviewed += n
	}
}

// SummarizeIncidents counts the incidents that match f (Status, Limit and Offset are ignored).
func (s *Store) SummarizeIncidents(ctx context.Context, f IncidentFilter) (IncidentSummary, error) {
	if f.To.IsZero() {
		sum, ok, err := s.summarizeByStatus(ctx, f)
		if err != nil || ok {
			return sum, err
		}
	}
	return s.summarizeExact(ctx, f)
}

type ruleStatus struct{ rule, status string }

// summarizeByStatus counts from the detector statuses of the rows and the reviewed incidents alone; ok is false
// when an incident has versions of two statuses, which these counts cannot place.
func (s *Store) summarizeByStatus(ctx context.Context, f IncidentFilter) (sum IncidentSummary, ok bool, err error) {
	sum = IncidentSummary{ByStatus: map[string]uint64{}, ByRule: map[string]uint64{}}
	args := listArgs(f, fromOrMin(f.From))
	rows, err := s.conn.Query(ctx, s.sql(qConsoleDetectorCounts), withArgs(args, args...)...)
	if err != nil {
		return sum, false, fmt.Errorf("summarize incidents: %w", err)
	}
	detector := map[ruleStatus]uint64{} // unreviewed incidents by rule and detector status, once reviewed ones leave
	perRule := map[string]uint64{}
	for rows.Next() {
		var (
			rule, status string
			whole        uint8
			n            uint64
		)
		if err := rows.Scan(&rule, &status, &whole, &n); err != nil {
			rows.Close()
			return sum, false, fmt.Errorf("scan summary: %w", err)
		}
		if whole == 1 {
			perRule[rule] += n
		} else {
			detector[ruleStatus{rule, status}] += n
			perRule[rule] -= n
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, false, fmt.Errorf("summarize incidents: %w", err)
	}
	for _, n := range perRule {
		if n != 0 { // an incident counted under two statuses
			return sum, false, nil
		}
	}
	rows, err = s.conn.Query(ctx, s.sql(qConsoleReviewedCounts), args...)
	if err != nil {
		return sum, false, fmt.Errorf("summarize incidents: %w", err)
	}
	defer rows.Close()
	reviewed := map[ruleStatus]uint64{}
	for rows.Next() {
		var (
			rule, status, review string
			n                    uint64
		)
		if err := rows.Scan(&rule, &status, &review, &n); err != nil {
			return sum, false, fmt.Errorf("scan summary: %w", err)
		}
		k := ruleStatus{rule, status}
		if detector[k] < n {
			return sum, false, nil
		}
		detector[k] -= n
		reviewed[ruleStatus{rule, review}] += n
	}
	if err := rows.Err(); err != nil {
		return sum, false, fmt.Errorf("summarize incidents: %w", err)
	}
	for k, n := range detector {
		sum.add(k.status, k.rule, true, n)
	}
	for k, n := range reviewed {
		sum.add(k.status, k.rule, false, n)
	}
	return sum, true, nil
}

// summarizeExact groups every matching incident to its newest version and review.
func (s *Store) summarizeExact(ctx context.Context, f IncidentFilter) (IncidentSummary, error) {
	sum := IncidentSummary{ByStatus: map[string]uint64{}, ByRule: map[string]uint64{}}
	rows, err := s.conn.Query(ctx, s.sql(qConsoleSummaryExact), withArgs(listArgs(f, fromOrMin(f.From)), toOrMax(f.To))...)
	if err != nil {
		return sum, fmt.Errorf("summarize incidents: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status, rule string
			unreviewed   uint8
			n            uint64
		)
		if err := rows.Scan(&status, &rule, &unreviewed, &n); err != nil {
			return sum, fmt.Errorf("scan summary: %w", err)
		}
		sum.add(status, rule, unreviewed == 1, n)
	}
	return sum, rows.Err()
}
