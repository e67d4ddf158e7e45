package chstore

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/schemas"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func open(t testing.TB) *Store {
	t.Helper()
	addr, db := testenv.ClickHouseDB(t)
	s, err := Open(context.Background(), Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func count(t *testing.T, s *Store, q string) uint64 {
	t.Helper()
	var n uint64
	if err := s.Conn().QueryRow(context.Background(), q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestMigrateIsIdempotentAndConcurrent(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate = %v", err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, err := Open(ctx, s.opts, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				errs <- err
				return
			}
			defer other.Close()
			errs <- other.Migrate(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent Migrate = %v", err)
		}
	}
	for _, table := range []string{"logins", "sends", "incidents", "audit_log"} {
		if n := count(t, s, fmt.Sprintf("SELECT count() FROM system.tables WHERE database = '%s' AND name = '%s'", s.Database(), table)); n != 1 {
			t.Errorf("table %s: %d; want 1", table, n)
		}
	}
	files, _ := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
	if n := count(t, s, "SELECT uniqExact(version) FROM schema_migrations"); n != uint64(len(files)) {
		t.Errorf("recorded migrations = %d; want %d (one per file)", n, len(files))
	}
	// Columns added by ALTER (no IF NOT EXISTS on ClickHouse 18.16) exist once, after concurrent runs.
	if n := count(t, s, fmt.Sprintf("SELECT count() FROM system.columns WHERE database = '%s' AND table = 'incidents' AND name IN ('failures', 'distinct_passwords')", s.Database())); n != 2 {
		t.Errorf("brute_force columns on incidents: %d; want 2", n)
	}
}

func TestWriteRoundTripsAndDeduplicates(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	login := event.Enriched{Event: event.Event{ID: "l1", Kind: event.KindLogin, Time: now.Add(-time.Minute), User: "alice@example.org", Domain: "example.org",
		IP: netip.MustParseAddr("2a00:1450:4001::1"), Service: "imap", Success: true, Source: "mx1", Session: "s1", PWHash: "0abc"}, Country: "IE", Trusted: true}
	send := event.Enriched{Event: event.Event{ID: "s1", Kind: event.KindSend, Time: now, User: "alice@example.org", Domain: "example.org",
		IP: netip.MustParseAddr("81.2.69.142"), Service: "submission", Recipients: 7, Size: 1 << 33, MessageID: "<m@x>", Source: "mx2", Session: "s2"}, Country: "GB", Trusted: true}
	inc := incident.Incident{ID: "i1", Rule: incident.MultiCountry, User: "alice@example.org", Domain: "example.org", Status: incident.StatusOpen,
		WindowStart: now.Add(-time.Minute), FirstSeen: now.Add(-time.Hour), LastSeen: now, Countries: []string{"GB", "IE"}, IPs: []string{"81.2.69.142", "2a00:1450:4001::1"},
		Detail: []incident.Country{{Country: "GB", IPs: []string{"81.2.69.142"}, FirstSeen: now.Add(-time.Hour), LastSeen: now.Add(-time.Hour), Logins: 1}},
		Logins: 2, Messages24h: 1, Recipients24h: 7, Version: 1, Failures: 9, DistinctPasswords: 8}
	for range 2 { // the second write is a redelivery
		if err := s.Write(ctx, []event.Enriched{login}, []event.Enriched{send}, []incident.Incident{inc}); err != nil {
			t.Fatal(err)
		}
	}
	for table, want := range map[string]uint64{"logins": 1, "sends": 1, "incidents": 1} {
		if n := count(t, s, "SELECT count() FROM "+table+" FINAL"); n != want {
			t.Errorf("%s FINAL = %d rows; want %d", table, n, want)
		}
	}
	got, err := s.LastLogins(ctx, "alice@example.org", 5)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]event.Enriched{login}, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("LastLogins mismatch (-want +got):\n%s", diff)
	}
	if n := count(t, s, "SELECT count() FROM sends FINAL WHERE event_id = 's1' AND user = 'alice@example.org' AND domain = 'example.org' AND ip = '81.2.69.142' AND service = 'submission' AND recipients = 7 AND size = 8589934592 AND country = 'GB' AND message_id = '<m@x>' AND source = 'mx2' AND session = 's2' AND trusted = 1 AND time = toDateTime("+strconv.FormatInt(now.Unix(), 10)+")"); n != 1 {
		t.Errorf("send row columns do not round-trip")
	}
	// A higher version replaces the incident.
	inc2 := inc
	inc2.Version, inc2.Messages24h, inc2.Countries = 2, 40, []string{"GB", "IE", "US"}
	if err := s.Write(ctx, nil, nil, []incident.Incident{inc2}); err != nil {
		t.Fatal(err)
	}
	incs, err := s.Incidents(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]incident.Incident{inc2}, incs); diff != "" {
		t.Errorf("Incidents mismatch (-want +got):\n%s", diff)
	}
	n, err := s.CountEvents(ctx, now.Add(-time.Hour), []string{"example.org"})
	if err != nil || n != 2 {
		t.Errorf("CountEvents = %d, %v; want 2", n, err)
	}
}

func TestWriteAudit(t *testing.T) {
	s := open(t)
	row := AuditRow{EventID: "a1", Time: time.Now().UTC().Truncate(time.Second), Action: "login_failure", Actor: "root", ClientIP: "127.0.0.1", Result: "denied", Before: "{}", After: "{}"}
	for range 2 {
		if err := s.WriteAudit(context.Background(), []AuditRow{row}); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, s, "SELECT count() FROM audit_log FINAL WHERE action = 'login_failure' AND client_ip = '127.0.0.1'"); n != 1 {
		t.Errorf("audit rows = %d; want 1", n)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(context.Background(), Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond}, slog.New(slog.DiscardHandler), nil); err == nil {
		t.Error("Open(unreachable) = nil error")
	}
	if err := (Options{Database: "bad-name; DROP"}).Validate(); err == nil {
		t.Error("Validate(bad database name) = nil")
	}
}
