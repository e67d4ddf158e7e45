package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
)

// Write inserts logins, sends and incidents, one batch per non-empty table, and returns once all are committed.
// Rows are keyed by event or incident id, so writing the same rows again after a failure is harmless.
func (s *Store) Write(ctx context.Context, logins, sends []event.Enriched, incidents []incident.Incident) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	if len(logins) > 0 {
		err := s.insert(ctx, "logins", "event_id, time, user, domain, ip, country, service, success, trusted, source, session, pwhash", len(logins), appendColumns(loginColumns, logins))
		if err != nil {
			return err
		}
	}
	if len(sends) > 0 {
		err := s.insert(ctx, "sends", "event_id, time, user, domain, ip, country, service, recipients, size, message_id, source, session, trusted", len(sends), appendColumns(sendColumns, sends))
		if err != nil {
			return err
		}
	}
	if len(incidents) > 0 {
		err := s.insert(ctx, "incidents", "incident_id, rule, user, domain, status, window_start, first_seen, last_seen, countries, ips, detail, logins, messages_24h, recipients_24h, version, failures, distinct_passwords", len(incidents), func(b driver.Batch) error {
			for i := range incidents {
				inc := &incidents[i]
				detail, err := detailJSON(inc)
				if err != nil {
					return err
				}
				if err := b.Append(inc.ID, string(inc.Rule), inc.User, inc.Domain, inc.Status, inc.WindowStart, inc.FirstSeen, inc.LastSeen,
					nonNil(inc.Countries), nonNil(inc.IPs), string(detail), inc.Logins, inc.Messages24h, inc.Recipients24h, inc.Version,
					inc.Failures, inc.DistinctPasswords); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// AuditRow is one security-relevant action of the admin panel.
type AuditRow struct {
	EventID                                                         string // deduplication key
	Time                                                            time.Time
	Action, Actor, ClientIP, Target, Result, Before, After, Details string
}

// WriteAudit inserts audit rows and returns once they are committed.
func (s *Store) WriteAudit(ctx context.Context, rows []AuditRow) error {
	if len(rows) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	return s.insert(ctx, "audit_log", "event_id, time, action, actor, client_ip, target, result, before, after, details", len(rows), func(b driver.Batch) error {
		for _, r := range rows {
			if err := b.Append(r.EventID, r.Time, r.Action, r.Actor, r.ClientIP, r.Target, r.Result, r.Before, r.After, r.Details); err != nil {
				return err
			}
		}
		return nil
	})
}

// insert sends one batch with an explicit column list (ClickHouse 18.16 needs it) and records metrics.
func (s *Store) insert(ctx context.Context, table, columns string, n int, fill func(driver.Batch) error) error {
	start := time.Now()
	err := func() error {
		b, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.opts.Database+"."+table+" ("+columns+")")
		if err != nil {
			return err
		}
		if err := fill(b); err != nil {
			b.Abort()
			return err
		}
		return b.Send()
	}()
	if err != nil {
		s.m.errors.WithLabelValues(table).Inc()
		return fmt.Errorf("insert %d rows into %s: %w", n, table, err)
	}
	s.m.seconds.WithLabelValues(table).Observe(time.Since(start).Seconds())
	s.m.rows.WithLabelValues(table).Add(float64(n))
	s.m.batch.WithLabelValues(table).Observe(float64(n))
	return nil
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
