package chstore

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
)

// Incidents returns the current version of every incident whose newest evidence is at or after since.
func (s *Store) Incidents(ctx context.Context, since time.Time) ([]incident.Incident, error) {
	rows, err := s.conn.Query(ctx, s.sql(qIncidentsSince), since.UTC())
	if err != nil {
		return nil, fmt.Errorf("query incidents: %w", err)
	}
	defer rows.Close()
	var out []incident.Incident
	for rows.Next() {
		var (
			inc          incident.Incident
			rule, detail string
		)
		if err := rows.Scan(&inc.ID, &rule, &inc.User, &inc.Domain, &inc.Status, &inc.WindowStart, &inc.FirstSeen, &inc.LastSeen,
			&inc.Countries, &inc.IPs, &detail, &inc.Logins, &inc.Messages24h, &inc.Recipients24h, &inc.Version,
			&inc.Failures, &inc.DistinctPasswords); err != nil {
			return nil, fmt.Errorf("scan incident: %w", err)
		}
		inc.Rule = incident.Rule(rule)
		inc.WindowStart, inc.FirstSeen, inc.LastSeen = inc.WindowStart.UTC(), inc.FirstSeen.UTC(), inc.LastSeen.UTC()
		if err := parseDetail(detail, &inc); err != nil {
			return nil, err
		}
		out = append(out, inc)
	}
	return out, rows.Err()
}

// LastLogins returns a user's newest n logins.
func (s *Store) LastLogins(ctx context.Context, user string, n int) ([]event.Enriched, error) {
	rows, err := s.conn.Query(ctx, s.sql(qLastLogins), user, n)
	if err != nil {
		return nil, fmt.Errorf("query logins: %w", err)
	}
	defer rows.Close()
	var out []event.Enriched
	for rows.Next() {
		var (
			e                event.Enriched
			ip               string
			success, trusted uint8
		)
		if err := rows.Scan(&e.ID, &e.Time, &e.User, &e.Domain, &ip, &e.Country, &e.Service, &success, &trusted, &e.Source, &e.Session, &e.PWHash); err != nil {
			return nil, fmt.Errorf("scan login: %w", err)
		}
		e.Kind, e.Time, e.Success, e.Trusted = event.KindLogin, e.Time.UTC(), success == 1, trusted == 1
		e.IP, _ = netip.ParseAddr(ip)
		out = append(out, e)
	}
	return out, rows.Err()
}

// CountEvents returns the deduplicated number of logins and sends at or after since in the given domains.
func (s *Store) CountEvents(ctx context.Context, since time.Time, domains []string) (uint64, error) {
	var logins, sends uint64
	if err := s.conn.QueryRow(ctx, s.sql(qCountLogins), since.UTC(), domains).Scan(&logins); err != nil {
		return 0, fmt.Errorf("count logins: %w", err)
	}
	if err := s.conn.QueryRow(ctx, s.sql(qCountSends), since.UTC(), domains).Scan(&sends); err != nil {
		return 0, fmt.Errorf("count sends: %w", err)
	}
	return logins + sends, nil
}
