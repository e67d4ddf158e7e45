package chstore

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/window"
)

var qLoginHistory = register("login history", `SELECT user, country, min(time), max(time), count()
	FROM {db}.logins FINAL
	WHERE success = 1 AND trusted = 0 AND length(country) = 2 AND time >= ? AND time < ?
	GROUP BY user, country ORDER BY user`, exampleTime, exampleTime)

// LoginHistory calls fn with every user's country history built from the successful untrusted located logins with
// since <= time < before: the first login's time, the number of logins and, per country, the day it was last used.
// It is new_country's durable source: the detector rebuilds the histories from it at start (see the rule package).
// fn is called once per user, in no particular order.
func (s *Store) LoginHistory(ctx context.Context, since, before time.Time, fn func(user string, first time.Time, logins int, countries []window.HistoryCountry)) error {
	rows, err := s.conn.Query(ctx, s.sql(qLoginHistory), since.UTC(), before.UTC())
	if err != nil {
		return fmt.Errorf("query login history: %w", err)
	}
	defer rows.Close()
	var (
		cur       string
		first     time.Time
		logins    int
		countries []window.HistoryCountry
	)
	flush := func() {
		if cur != "" {
			fn(cur, first, logins, countries)
		}
	}
	for rows.Next() {
		var (
			user, country string
			lo, hi        time.Time
			n             uint64
		)
		if err := rows.Scan(&user, &country, &lo, &hi, &n); err != nil {
			return fmt.Errorf("scan login history: %w", err)
		}
		if user != cur {
			flush()
			cur, first, logins, countries = user, lo.UTC(), 0, nil
		}
		if lo.Before(first) {
			first = lo.UTC()
		}
		logins += int(min(n, 1<<20))
		countries = append(countries, window.HistoryCountry{Country: country, LastUsed: hi.UTC().Truncate(24 * time.Hour)})
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read login history: %w", err)
	}
	flush()
	return nil
}
