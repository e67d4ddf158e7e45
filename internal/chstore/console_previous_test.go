package chstore

import (
	"context"
	"fmt"
	"slices"
)

// The incident list as it was before incident_list (migration 0011): the newest version of every incident picked by
// FINAL over the incidents table, joined with every review, for the count, the page's ids and the page's rows. It is
// kept here, unregistered, only so that BenchmarkConsoleQueries can measure both on the same data in the same run.

const previousSource = "(SELECT incident_id, rule, status, first_seen, last_seen FROM {db}.incidents FINAL" +
	" WHERE (? = '' OR rule = ?) AND (? = '' OR domain = ?) AND " + domainCond + " AND (? = '' OR position(user, ?) > 0)) AS i" +
	" ANY LEFT JOIN (SELECT incident_id, argMax(status, revision) AS review_status FROM {db}.incident_reviews GROUP BY incident_id) AS r USING incident_id" +
	" WHERE last_seen >= ? AND first_seen <= ? AND (? = '' OR if(review_status = '', status, review_status) = ?)"

var (
	previousCount   = Query{SQL: "SELECT count() FROM " + previousSource}
	previousPage    = Query{SQL: "SELECT incident_id, review_status FROM " + previousSource + " ORDER BY last_seen DESC, incident_id DESC LIMIT ?, ?"}
	previousRows    = Query{SQL: "SELECT " + incidentColumns + ", '' FROM {db}.incidents FINAL WHERE incident_id IN (SELECT arrayJoin(?))"}
	previousSummary = Query{SQL: "SELECT if(review_status = '', status, review_status) AS shown, rule, review_status = '' AS unreviewed, count() FROM " +
		previousSource + " GROUP BY shown, rule, unreviewed"}
)

func previousArgs(f IncidentFilter) []any {
	all, list := domainScope(f.Domains)
	return []any{f.Rule, f.Rule, f.Domain, f.Domain, all, list, f.User, f.User, fromOrMin(f.From), toOrMax(f.To), f.Status, f.Status}
}

// previousListIncidents is ListIncidents before migration 0011.
func (s *Store) previousListIncidents(ctx context.Context, f IncidentFilter) ([]IncidentRow, uint64, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	args := previousArgs(f)
	var total uint64
	if err := s.conn.QueryRow(ctx, s.sql(previousCount), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count incidents: %w", err)
	}
	rows, err := s.conn.Query(ctx, s.sql(previousPage), append(slices.Clone(args), f.Offset, f.Limit)...)
	if err != nil {
		return nil, 0, err
	}
	var ids []string
	review := map[string]string{}
	for rows.Next() {
		var id, rs string
		if err := rows.Scan(&id, &rs); err != nil {
			rows.Close()
			return nil, 0, err
		}
		ids = append(ids, id)
		review[id] = rs
	}
	rows.Close()
	out := []IncidentRow{}
	if len(ids) == 0 {
		return out, total, rows.Err()
	}
	rows, err = s.conn.Query(ctx, s.sql(previousRows), ids)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	byID := map[string]IncidentRow{}
	for rows.Next() {
		r, err := scanIncident(rows, false)
		if err != nil {
			return nil, 0, err
		}
		if r.ReviewStatus = review[r.ID]; r.ReviewStatus != "" {
			r.Status = r.ReviewStatus
		}
		byID[r.ID] = r
	}
	for _, id := range ids {
		out = append(out, byID[id])
	}
	return out, total, rows.Err()
}

// previousSummarizeIncidents is SummarizeIncidents before migration 0011.
func (s *Store) previousSummarizeIncidents(ctx context.Context, f IncidentFilter) (IncidentSummary, error) {
	f.Status = ""
	sum := newSummary()
	rows, err := s.conn.Query(ctx, s.sql(previousSummary), previousArgs(f)...)
	if err != nil {
		return sum, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			status, rule string
			unreviewed   uint8
			n            uint64
		)
		if err := rows.Scan(&status, &rule, &unreviewed, &n); err != nil {
			return sum, err
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
