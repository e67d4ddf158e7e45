package chstore

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// BenchmarkConsoleQueries loads 10,000,000 logins of 100,000 users and 100,000 incidents (10,000 of them reviewed)
// and measures, over 300 queries each, the incident page (newest 50: all, status=open, and a sub-admin's three
// domains), the incident summary and a random user's Last Logins (newest 50), reporting p50 and p99 in milliseconds
// next to a SELECT 1 round trip (the baseline). Each incident query runs 300 times alone, then 300 times in turn with
// its previous form (before migration 0011, console_previous_test.go), whose answers it must equal; the log gives
// both and their ratios.
// Run: go test -run '^$' -bench ConsoleQueries -benchtime 1x ./internal/chstore
// With VIGIL_BENCH_CONSOLE_DB naming a database (on VIGIL_TEST_CLICKHOUSE_ADDR), the data is loaded there once and
// kept: a later run finds incidents in it and skips the load, so two versions of the queries can be compared on the
// same data.
func BenchmarkConsoleQueries(b *testing.B) {
	const (
		users     = 100_000
		logins    = 10_000_000
		incidents = 100_000
		batch     = 200_000
	)
	ctx := context.Background()
	user := func(i int) string { return fmt.Sprintf("user%d@domain%d.example", i, i%500) }
	seed := time.Now().UnixNano()
	b.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	var s *Store
	if db := os.Getenv("VIGIL_BENCH_CONSOLE_DB"); db != "" {
		var err error
		if s, err = Open(ctx, Options{Addr: testenv.ClickHouse(b), Database: db}, slog.New(slog.DiscardHandler), nil); err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		if err := s.Migrate(ctx); err != nil {
			b.Fatal(err)
		}
		var n uint64
		if err := s.conn.QueryRow(ctx, "SELECT count() FROM "+db+".incidents").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			load(b, s, rng, user, users, logins, incidents, batch)
		}
	} else {
		s = open(b)
		load(b, s, rng, user, users, logins, incidents, batch)
	}
	measureQueries(b, s, rng, user, users)
}

func load(b *testing.B, s *Store, rng *rand.Rand, user func(int) string, users, logins, incidents, batch int) {
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	rows := make([]event.Enriched, 0, batch)
	for i := range logins {
		u := rng.IntN(users)
		rows = append(rows, event.Enriched{Event: event.Event{ID: fmt.Sprintf("e%09d", i), Kind: event.KindLogin,
			Time: base.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))), User: user(u), Domain: fmt.Sprintf("domain%03d.example", u%500),
			IP: netip.AddrFrom4([4]byte{10, byte(u >> 16), byte(u >> 8), byte(u)}), Service: "imap", Success: rng.IntN(10) > 0, Source: "mx1"}, Country: "DE"})
		if len(rows) == batch {
			if err := s.Write(ctx, rows, nil, nil); err != nil {
				b.Fatal(err)
			}
			rows = rows[:0]
		}
	}
	var incs []incident.Incident
	var reviews []ReviewRow
	for i := range incidents {
		last := base.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour))))
		u := user(i % users)
		inc := incident.Incident{ID: incident.ID(incident.MultiCountry, u, last), Rule: incident.MultiCountry, User: u, Domain: fmt.Sprintf("domain%03d.example", i%500),
			Status: incident.StatusOpen, WindowStart: last.Add(-time.Hour), FirstSeen: last.Add(-time.Hour), LastSeen: last,
			Countries: []string{"DE", "FR"}, IPs: []string{"192.0.2.1", "198.51.100.1"}, Version: 1,
			Detail: []incident.Country{{Country: "DE", IPs: []string{"192.0.2.1"}, Logins: 1}, {Country: "FR", IPs: []string{"198.51.100.1"}, Logins: 1}}}
		incs = append(incs, inc)
		if i%10 == 0 {
			reviews = append(reviews, ReviewRow{IncidentID: inc.ID, Status: "resolved", Reason: "false_positive", Actor: "root", Time: last, Revision: uint64(i + 1)})
		}
	}
	if err := s.Write(ctx, nil, nil, incs); err != nil {
		b.Fatal(err)
	}
	if err := s.WriteReviews(ctx, reviews); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d logins, %d incidents, %d reviews in %v", logins, incidents, len(reviews), time.Since(start).Round(time.Second))
}

func measureQueries(b *testing.B, s *Store, rng *rand.Rand, user func(int) string, users int) {
	ctx := context.Background()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	pct := func(ds []time.Duration) (p50, p99 float64) {
		slices.Sort(ds)
		return ms(ds[len(ds)/2]), ms(ds[len(ds)*99/100])
	}
	measure := func(name string, q func(i int) error) (p50, p99 float64) {
		var ds []time.Duration
		for i := range 300 {
			t0 := time.Now()
			if err := q(i); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		p50, p99 = pct(ds)
		b.Logf("%-40s p50 %7.1f ms  p99 %7.1f ms", name, p50, p99)
		return p50, p99
	}
	// compare runs the current query 300 times alone (the p50 and p99 reported), then it and the previous query
	// (before migration 0011) in turn, 300 times each, so both see the same load, for their ratio.
	compare := func(name string, now, prev func(i int) (any, error)) float64 {
		var alone []time.Duration
		for i := range 300 {
			t0 := time.Now()
			if _, err := now(i); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			alone = append(alone, time.Since(t0))
		}
		a50, a99 := pct(alone)
		var dn, dp []time.Duration
		for i := range 300 {
			t0 := time.Now()
			a, err := now(i)
			if err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			t1 := time.Now()
			p, err := prev(i)
			if err != nil {
				b.Fatalf("%s (previous): %v", name, err)
			}
			dn, dp = append(dn, t1.Sub(t0)), append(dp, time.Since(t1))
			if i < 5 {
				if diff := cmp.Diff(p, a); diff != "" {
					b.Fatalf("%s: the current answer differs from the previous one (-previous +current):\n%s", name, diff)
				}
			}
		}
		n50, n99 := pct(dn)
		p50, p99 := pct(dp)
		b.Logf("%-36s p50 %6.1f ms  p99 %6.1f ms | in turn with the previous: p50 %6.1f / %6.1f ms, p99 %6.1f / %6.1f ms (ratio p50 %.2f, p99 %.2f)",
			name, a50, a99, n50, p50, n99, p99, n50/p50, n99/p99)
		return a99
	}
	type page struct {
		Rows  []IncidentRow
		Total uint64
	}
	list := func(list func(context.Context, IncidentFilter) ([]IncidentRow, uint64, error), f func(i int) IncidentFilter) func(int) (any, error) {
		return func(i int) (any, error) {
			rows, total, err := list(ctx, f(i))
			return page{rows, total}, err
		}
	}
	summary := func(sum func(context.Context, IncidentFilter) (IncidentSummary, error), f IncidentFilter) func(int) (any, error) {
		return func(int) (any, error) { return sum(ctx, f) }
	}
	all := func(i int) IncidentFilter { return IncidentFilter{Limit: 50, Offset: (i % 5) * 50} }
	open := func(int) IncidentFilter { return IncidentFilter{Status: "open", Limit: 50} }
	subAdmin := func(int) IncidentFilter {
		return IncidentFilter{Domains: []string{"domain001.example", "domain002.example", "domain003.example"}, Limit: 50}
	}
	b.ResetTimer()
	for range b.N {
		_, base99 := measure("SELECT 1 (baseline)", func(int) error { var x uint8; return s.conn.QueryRow(ctx, "SELECT 1").Scan(&x) })
		inc99 := compare("incidents page", list(s.ListIncidents, all), list(s.previousListIncidents, all))
		open99 := compare("incidents page, status=open", list(s.ListIncidents, open), list(s.previousListIncidents, open))
		sub99 := compare("incidents page, 3-domain sub-admin", list(s.ListIncidents, subAdmin), list(s.previousListIncidents, subAdmin))
		sum99 := compare("incident summary", summary(s.SummarizeIncidents, IncidentFilter{}), summary(s.previousSummarizeIncidents, IncidentFilter{}))
		_, log99 := measure("user's last logins", func(int) error {
			_, err := s.UserLogins(ctx, LoginFilter{User: user(rng.IntN(users)), Limit: 50})
			return err
		})
		b.ReportMetric(base99, "baseline-p99-ms")
		b.ReportMetric(inc99, "incidents-p99-ms")
		b.ReportMetric(open99, "incidents-open-p99-ms")
		b.ReportMetric(sub99, "incidents-subadmin-p99-ms")
		b.ReportMetric(sum99, "summary-p99-ms")
		b.ReportMetric(log99, "logins-p99-ms")
	}
}
