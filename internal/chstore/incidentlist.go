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
// The status shown is the review's when there is one, else the newest version's. When every matching row has the
// same detector status (the detector writes only "open"), the counts by status are the reviewed incidents counted
// by their review's status (a read of the reviews against the set of matching ids, no grouping of the incidents) and
// the rest under that one status.
// Otherwise, and for a To filter (on the newest version's first_seen, which may grow as the window slides), the
// exact path groups every matching incident to its newest version.

// The filters a list query names, as bits: a query has only the conditions of the filters set (a condition that
// matches everything still reads its column), so each combination is a registered query of its own.
const (
	byRule = 1 << iota
	byDomain
	byScope // a domain limit
	byUser
	filterCombinations = 1 << iota
)

func filterBits(f IncidentFilter) int {
	bits := 0
	if f.Rule != "" {
		bits |= byRule
	}
	if f.Domain != "" {
		bits |= byDomain
	}
	if f.Domains != nil {
		bits |= byScope
	}
	if f.User != "" {
		bits |= byUser
	}
	return bits
}

// listCond filters incident_list rows on last_seen and on the columns every version shares; its arguments come from
// listArgs.
func listCond(bits int) string {
	c := "last_seen >= ?"
	if bits&byRule != 0 {
		c += " AND rule = ?"
	}
	if bits&byDomain != 0 {
		c += " AND domain = ?"
	}
	if bits&byScope != 0 {
		c += " AND has(?, domain)"
	}
	if bits&byUser != 0 {
		c += " AND position(user, ?) > 0"
	}
	return c
}

// listArgs returns listCond's arguments: rows whose last_seen is at or after since, matching f's rule, domain,
// domain limit and user.
func listArgs(f IncidentFilter, since time.Time) []any {
	args := []any{since.UTC()}
	if f.Rule != "" {
		args = append(args, f.Rule)
	}
	if f.Domain != "" {
		args = append(args, f.Domain)
	}
	if f.Domains != nil {
		_, list := domainScope(f.Domains)
		args = append(args, list)
	}
	if f.User != "" {
		args = append(args, f.User)
	}
	return args
}

// reviewStatus is each reviewed incident's newest review status.
const reviewStatus = "SELECT incident_id, argMax(status, revision) AS review_status FROM {db}.incident_reviews"

func withArgs(a []any, more ...any) []any { return append(slices.Clone(a), more...) }

// listQueries are the incident list's queries for one combination of filters.
type listQueries struct {
	// page: the newest versions of the incidents in a range of last_seen, their review status joined for those alone.
	page Query
	// count: the number of incidents, and the oldest and newest last_seen among their rows.
	count Query
	// byRule: per rule, the number of incidents, the detector statuses of their rows and their oldest and newest
	// last_seen.
	byRule Query
	// reviewed: the reviewed incidents by review status.
	reviewed Query
	// exact: by shown status, rule and whether reviewed, grouping every incident to its newest version.
	exact Query
}

var (
	qConsoleNewest = register("console incident times", "SELECT min(last_seen), max(last_seen) FROM {db}.incident_list")
	listSQL        = registerListQueries()
)

func registerListQueries() (out [filterCombinations]listQueries) {
	for bits := range filterCombinations {
		name := func(q string) string { return fmt.Sprintf("console %s (filters %04b)", q, bits) }
		ex := IncidentFilter{}
		if bits&byRule != 0 {
			ex.Rule = "spray"
		}
		if bits&byDomain != 0 {
			ex.Domain = "example.org"
		}
		if bits&byScope != 0 {
			ex.Domains = []string{"example.org"}
		}
		if bits&byUser != 0 {
			ex.User = "alice"
		}
		args, cond := listArgs(ex, exampleTime), listCond(bits)
		out[bits] = listQueries{
			page: register(name("incident page"), "SELECT incident_id, i_rule, i_user, i_domain, i_status, i_window,"+
				" i_first, i_last, i_countries, i_ips, i_logins, i_messages, i_recipients, i_version, review_status FROM"+
				" (SELECT incident_id, any(rule) AS i_rule, any(user) AS i_user, any(domain) AS i_domain, argMax(status, version) AS i_status,"+
				" argMax(window_start, version) AS i_window, argMax(first_seen, version) AS i_first, argMax(last_seen, version) AS i_last,"+
				" argMax(countries, version) AS i_countries, argMax(ips, version) AS i_ips, argMax(logins, version) AS i_logins,"+
				" argMax(messages_24h, version) AS i_messages, argMax(recipients_24h, version) AS i_recipients, max(version) AS i_version"+
				" FROM {db}.incident_list WHERE "+cond+" GROUP BY incident_id HAVING i_first <= ?) AS i"+
				" ANY LEFT JOIN ("+reviewStatus+" WHERE incident_id GLOBAL IN (SELECT incident_id FROM {db}.incident_list WHERE "+cond+")"+
				" GROUP BY incident_id) AS r USING incident_id WHERE (? = '' OR if(review_status = '', i_status, review_status) = ?)"+
				" ORDER BY i_last DESC, incident_id DESC LIMIT ?, ?",
				withArgs(withArgs(args, exampleTime), withArgs(args, "open", "open", 0, 50)...)...),
			count: register(name("count incidents"), "SELECT uniqExact(id64), min(last_seen), max(last_seen) FROM {db}.incident_list WHERE "+cond, args...),
			byRule: register(name("incident counts by rule"), "SELECT rule, uniqExact(id64), groupUniqArray(status), min(last_seen), max(last_seen)"+
				" FROM {db}.incident_list WHERE "+cond+" GROUP BY rule", args...),
			reviewed: register(name("reviewed incident counts"), "SELECT review_status, count() FROM ("+reviewStatus+
				" WHERE cityHash64(incident_id) GLOBAL IN (SELECT id64 FROM {db}.incident_list WHERE "+cond+") GROUP BY incident_id)"+
				" GROUP BY review_status", args...),
			exact: register(name("incident summary"), "SELECT if(review_status = '', i_status, review_status) AS shown, i_rule,"+
				" review_status = '' AS unreviewed, count() FROM (SELECT incident_id, any(rule) AS i_rule, argMax(status, version) AS i_status,"+
				" argMax(first_seen, version) AS i_first FROM {db}.incident_list WHERE "+cond+" GROUP BY incident_id HAVING i_first <= ?) AS i"+
				" ANY LEFT JOIN ("+reviewStatus+" GROUP BY incident_id) AS r USING incident_id GROUP BY shown, i_rule, unreviewed",
				withArgs(args, exampleTime)...),
		}
	}
	return out
}

// lastSeen is the range of last_seen of the rows an incident filter matches.
type lastSeen struct{ oldest, newest time.Time }

// pageSpans returns the ranges of last_seen, back from the newest, that ListIncidents reads in turn for the first
// need of total incidents, before it reads everything the filter allows: twice the share of the whole range the
// need would take if the incidents were spread evenly (at least an hour), then eight times as much each time.
func pageSpans(need, total uint64, r lastSeen) []time.Duration {
	whole := r.newest.Sub(r.oldest)
	var out []time.Duration
	for d := max(time.Duration(float64(whole)*2*float64(need)/float64(total)), time.Hour); d < whole; d *= 8 {
		out = append(out, d)
	}
	return out
}

// ListIncidents returns one page of incidents, newest evidence first, and the number of all that match.
func (s *Store) ListIncidents(ctx context.Context, f IncidentFilter) ([]IncidentRow, uint64, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	total, seen, err := s.countIncidents(ctx, f)
	if err != nil {
		return nil, 0, err
	}
	out := []IncidentRow{}
	if uint64(f.Offset) >= total {
		return out, total, nil
	}
	want := int(min(uint64(f.Limit), total-uint64(f.Offset)))
	from := fromOrMin(f.From)
	spans := pageSpans(uint64(f.Offset+f.Limit), total, seen)
	for i := 0; ; i++ {
		since := from
		if i < len(spans) && seen.newest.Add(-spans[i]).After(since) {
			since = seen.newest.Add(-spans[i])
		}
		rows, err := s.incidentPage(ctx, f, since)
		if err != nil {
			return nil, 0, err
		}
		// Every incident outside the range is older than every one inside, so a range holding the page holds the
		// right one; the whole range holds all there are.
		if len(rows) >= want || since.Equal(from) {
			// An incident written between the count and the page is on the page: count it too.
			return rows, max(total, uint64(f.Offset+len(rows))), nil
		}
	}
}

// incidentPage returns f's page among the incidents whose newest version's last_seen is at or after since.
func (s *Store) incidentPage(ctx context.Context, f IncidentFilter, since time.Time) ([]IncidentRow, error) {
	cond := listArgs(f, since)
	args := withArgs(withArgs(cond, toOrMax(f.To)), withArgs(cond, f.Status, f.Status, f.Offset, f.Limit)...)
	rows, err := s.conn.Query(ctx, s.sql(listSQL[filterBits(f)].page), args...)
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

// countIncidents returns the number of incidents that match f and the range of last_seen of their rows (or of
// all rows).
func (s *Store) countIncidents(ctx context.Context, f IncidentFilter) (uint64, lastSeen, error) {
	var (
		n    uint64
		seen lastSeen
	)
	if f.Status == "" && f.To.IsZero() {
		if err := s.conn.QueryRow(ctx, s.sql(listSQL[filterBits(f)].count), listArgs(f, fromOrMin(f.From))...).Scan(&n, &seen.oldest, &seen.newest); err != nil {
			return 0, seen, fmt.Errorf("count incidents: %w", err)
		}
		return n, seen, nil
	}
	sum, seen, err := s.summarize(ctx, f)
	if err != nil {
		return 0, seen, err
	}
	if f.Status == "" {
		return sum.Total, seen, nil
	}
	return sum.ByStatus[f.Status], seen, nil
}

// IncidentSummary counts incidents by the status shown; Unreviewed counts those nobody has reviewed yet.
type IncidentSummary struct {
	Total      uint64            `json:"total"`
	Unreviewed uint64            `json:"unreviewed"`
	ByStatus   map[string]uint64 `json:"by_status"`
	ByRule     map[string]uint64 `json:"by_rule"`
}

func newSummary() IncidentSummary {
	return IncidentSummary{ByStatus: map[string]uint64{}, ByRule: map[string]uint64{}}
}

// SummarizeIncidents counts the incidents that match f (Status, Limit and Offset are ignored).
func (s *Store) SummarizeIncidents(ctx context.Context, f IncidentFilter) (IncidentSummary, error) {
	sum, _, err := s.summarize(ctx, f)
	return sum, err
}

// summarize counts the incidents that match f and returns the range of last_seen of their rows (or of all rows).
func (s *Store) summarize(ctx context.Context, f IncidentFilter) (IncidentSummary, lastSeen, error) {
	if f.To.IsZero() {
		sum, seen, ok, err := s.summarizeByRule(ctx, f)
		if err != nil || ok {
			return sum, seen, err
		}
	}
	var seen lastSeen
	sum, err := s.summarizeExact(ctx, f)
	if err != nil {
		return sum, seen, err
	}
	if err := s.conn.QueryRow(ctx, s.sql(qConsoleNewest)).Scan(&seen.oldest, &seen.newest); err != nil {
		return sum, seen, fmt.Errorf("query incidents: %w", err)
	}
	return sum, seen, nil
}

// summarizeByRule counts per rule and moves the reviewed incidents to their review's status; ok is false when the
// matching rows have more than one detector status, which these counts cannot place.
func (s *Store) summarizeByRule(ctx context.Context, f IncidentFilter) (sum IncidentSummary, seen lastSeen, ok bool, err error) {
	sum = newSummary()
	q, args := listSQL[filterBits(f)], listArgs(f, fromOrMin(f.From))
	rows, err := s.conn.Query(ctx, s.sql(q.byRule), args...)
	if err != nil {
		return sum, seen, false, fmt.Errorf("summarize incidents: %w", err)
	}
	detector := "" // the one detector status of every matching row
	for rows.Next() {
		var (
			rule        string
			n           uint64
			statuses    []string
			first, last time.Time
		)
		if err := rows.Scan(&rule, &n, &statuses, &first, &last); err != nil {
			rows.Close()
			return sum, seen, false, fmt.Errorf("scan summary: %w", err)
		}
		if len(statuses) != 1 || detector != "" && statuses[0] != detector {
			rows.Close()
			return sum, seen, false, nil
		}
		detector = statuses[0]
		sum.Total += n
		sum.ByRule[rule] += n
		if seen.oldest.IsZero() || first.Before(seen.oldest) {
			seen.oldest = first
		}
		if last.After(seen.newest) {
			seen.newest = last
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return sum, seen, false, fmt.Errorf("summarize incidents: %w", err)
	}
	if sum.Total == 0 {
		return sum, seen, true, nil
	}
	rows, err = s.conn.Query(ctx, s.sql(q.reviewed), args...)
	if err != nil {
		return sum, seen, false, fmt.Errorf("summarize incidents: %w", err)
	}
	defer rows.Close()
	var reviewed uint64
	for rows.Next() {
		var (
			status string
			n      uint64
		)
		if err := rows.Scan(&status, &n); err != nil {
			return sum, seen, false, fmt.Errorf("scan summary: %w", err)
		}
		sum.ByStatus[status] += n
		reviewed += n
	}
	if err := rows.Err(); err != nil {
		return sum, seen, false, fmt.Errorf("summarize incidents: %w", err)
	}
	if reviewed > sum.Total { // two reviewed ids with one id64; cannot happen short of a hash collision
		return sum, seen, false, nil
	}
	sum.Unreviewed = sum.Total - reviewed
	if sum.Unreviewed > 0 {
		sum.ByStatus[detector] += sum.Unreviewed
	}
	return sum, seen, true, nil
}

// summarizeExact groups every matching incident to its newest version and review.
func (s *Store) summarizeExact(ctx context.Context, f IncidentFilter) (IncidentSummary, error) {
	sum := newSummary()
	rows, err := s.conn.Query(ctx, s.sql(listSQL[filterBits(f)].exact), withArgs(listArgs(f, fromOrMin(f.From)), toOrMax(f.To))...)
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
		sum.Total += n
		sum.ByStatus[status] += n
		sum.ByRule[rule] += n
		if unreviewed == 1 {
			sum.Unreviewed += n
		}
	}
	return sum, rows.Err()
}
