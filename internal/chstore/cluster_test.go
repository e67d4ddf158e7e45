package chstore

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"sync/atomic"
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

var clusterDB atomic.Int64

// openCluster opens one store per replica of the test cluster on a fresh database and migrates through each, the
// second run being the idempotent one a second Vigil node makes at start.
func openCluster(t *testing.T) (*testenv.CHCluster, []*Store) {
	t.Helper()
	c := testenv.ClickHouseCluster(t)
	db := fmt.Sprintf("vigil_cluster_%d_%d", os.Getpid(), clusterDB.Add(1))
	var stores []*Store
	for i, addr := range c.Addrs {
		s, err := Open(context.Background(), Options{Addr: addr, Database: db, Cluster: testenv.ClickHouseClusterName}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatalf("Open(replica %d) = %v\n%s", i+1, err, c.ErrLog(i))
		}
		t.Cleanup(func() { s.Close() })
		if err := s.Migrate(context.Background()); err != nil {
			t.Fatalf("Migrate(replica %d) = %v\n%s", i+1, err, c.ErrLog(i))
		}
		stores = append(stores, s)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		stores[0].Conn().Exec(ctx, "DROP DATABASE IF EXISTS "+db+" ON CLUSTER "+testenv.ClickHouseClusterName)
	})
	return c, stores
}

func TestClusterMigrationsCreateReplicatedAndDistributedTables(t *testing.T) {
	_, stores := openCluster(t)
	for i, s := range stores {
		for _, table := range []string{"logins", "sends", "incidents", "audit_log"} {
			for name, want := range map[string]string{table: "Distributed", table + LocalSuffix: "ReplicatedReplacingMergeTree"} {
				var engine string
				q := "SELECT engine FROM system.tables WHERE database = ? AND name = ?"
				if err := s.Conn().QueryRow(context.Background(), q, s.Database(), name).Scan(&engine); err != nil || engine != want {
					t.Errorf("replica %d: engine of %s = %q, %v; want %s", i+1, name, engine, err, want)
				}
			}
		}
		files, _ := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
		if n := count(t, s, "SELECT uniqExact(version) FROM schema_migrations"); n != uint64(len(files)) {
			t.Errorf("replica %d: recorded migrations = %d; want %d (one per file)", i+1, n, len(files))
		}
	}
}

// TestClusterConcurrentMigrate starts two nodes at once, one per replica, on a new database.
func TestClusterConcurrentMigrate(t *testing.T) {
	c := testenv.ClickHouseCluster(t)
	db := fmt.Sprintf("vigil_cluster_%d_%d", os.Getpid(), clusterDB.Add(1))
	errs := make(chan error, len(c.Addrs))
	for _, addr := range c.Addrs {
		go func() {
			s, err := Open(context.Background(), Options{Addr: addr, Database: db, Cluster: testenv.ClickHouseClusterName}, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			errs <- s.Migrate(context.Background())
		}()
	}
	for range c.Addrs {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Migrate = %v", err)
		}
	}
}

func TestClusterWriteThroughOneReadThroughOther(t *testing.T) {
	c, stores := openCluster(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	var logins []event.Enriched
	for i := range 50 {
		logins = append(logins, event.Enriched{Event: event.Event{ID: fmt.Sprintf("l%d", i), Kind: event.KindLogin, Time: now.Add(-time.Duration(i) * time.Second),
			User: fmt.Sprintf("u%d@example.org", i%7), Domain: "example.org", IP: netip.MustParseAddr("81.2.69.142"), Service: "imap", Success: true}, Country: "GB"})
	}
	send := event.Enriched{Event: event.Event{ID: "s1", Kind: event.KindSend, Time: now, User: "u1@example.org", Domain: "example.org",
		IP: netip.MustParseAddr("81.2.69.142"), Service: "submission", Recipients: 3}, Country: "GB"}
	inc := incident.Incident{ID: "i1", Rule: incident.MultiCountry, User: "u1@example.org", Domain: "example.org", Status: incident.StatusOpen,
		WindowStart: now.Add(-time.Minute), FirstSeen: now.Add(-time.Hour), LastSeen: now, Countries: []string{"GB", "IE"}, IPs: []string{"81.2.69.142"},
		Logins: 2, Version: 1}
	if err := stores[0].Write(ctx, logins, []event.Enriched{send}, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	other := stores[1]
	// The second replica's own tables receive the rows by replication (not only its Distributed table reading the first).
	testenv.Eventually(t, 90*time.Second, "rows replicated to replica 2", func() bool {
		return count(t, other, "SELECT count() FROM logins"+LocalSuffix) == 50 && count(t, other, "SELECT count() FROM incidents"+LocalSuffix) == 1
	})
	got, err := other.LastLogins(ctx, "u1@example.org", 100)
	if err != nil {
		t.Fatalf("LastLogins through replica 2: %v\n%s", err, c.ErrLog(1))
	}
	var want []event.Enriched
	for _, e := range logins {
		if e.User == "u1@example.org" {
			want = append(want, e)
		}
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("LastLogins through replica 2 (-want +got):\n%s", diff)
	}
	incs, err := other.Incidents(ctx, now.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]incident.Incident{inc}, incs); diff != "" {
		t.Errorf("Incidents through replica 2 (-want +got):\n%s", diff)
	}
	if n, err := other.CountEvents(ctx, now.Add(-time.Hour), []string{"example.org"}); err != nil || n != 51 {
		t.Errorf("CountEvents through replica 2 = %d, %v; want 51", n, err)
	}
}

func TestClusterRetriedInsertStoredOnce(t *testing.T) {
	_, stores := openCluster(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	batch := func(prefix string) {
		t.Helper()
		// A batch the detector retries after a lost acknowledgement is the same block, inserted column by column.
		b, err := stores[0].Conn().PrepareBatch(ctx, "INSERT INTO "+stores[0].Database()+".logins (event_id, time, user, domain, ip, country, service, success, trusted, source, session, pwhash, inserted)")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := b.Append(fmt.Sprintf("%s%d", prefix, i), now, "alice@example.org", "example.org", "81.2.69.142", "GB", "imap", uint8(1), uint8(0), "", "", "", now); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Send(); err != nil {
			t.Fatal(err)
		}
	}
	batch("a")
	batch("a") // the retry
	batch("b") // a different batch is stored
	for i, s := range stores {
		// Without FINAL and before any merge: the replicated table dropped the retried block by its hash.
		testenv.Eventually(t, 90*time.Second, fmt.Sprintf("replica %d holds 40 rows", i+1), func() bool {
			return count(t, s, "SELECT count() FROM logins"+LocalSuffix) == 40
		})
		if n := count(t, s, "SELECT count() FROM logins"); n != 40 {
			t.Errorf("replica %d: Distributed logins = %d rows without FINAL; want 40 (the retried batch once)", i+1, n)
		}
	}
	// Store.Write retried: rows carry inserted = now(), so a retry in a later second is a different block; readers
	// still see each row once, as ReplacingMergeTree collapses them within the shard the sorting key chose.
	e := event.Enriched{Event: event.Event{ID: "w1", Kind: event.KindLogin, Time: now, User: "bob@example.org", Domain: "example.org",
		IP: netip.MustParseAddr("81.2.69.142"), Service: "imap", Success: true}, Country: "GB"}
	for range 2 {
		if err := stores[0].Write(ctx, []event.Enriched{e}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 90*time.Second, "replica 2 reads bob's login once", func() bool {
		return count(t, stores[1], "SELECT count() FROM logins FINAL WHERE user = 'bob@example.org'") == 1 &&
			count(t, stores[1], "SELECT count() FROM logins"+LocalSuffix+" WHERE user = 'bob@example.org'") >= 1
	})
}

// The console's incident list on a cluster: incidents written through one replica reach incident_list through the
// materialized view on the replica the insert reached, replicate, and list, count and summarize through the other
// (whose queries read Distributed tables, their review joins with GLOBAL IN).
func TestClusterConsoleIncidents(t *testing.T) {
	_, stores := openCluster(t)
	ctx := context.Background()
	incs := []incident.Incident{
		consoleIncident("a1", "alice@example.org", "example.org", incident.MultiCountry, t0, 1),
		consoleIncident("a1", "alice@example.org", "example.org", incident.MultiCountry, t0.Add(time.Hour), 2),
		consoleIncident("b2", "bob@other.net", "other.net", incident.SendVolume, t0.Add(-time.Hour), 1),
	}
	if err := stores[0].Write(ctx, nil, nil, incs); err != nil {
		t.Fatal(err)
	}
	if err := stores[0].WriteReviews(ctx, []ReviewRow{{IncidentID: "b2", Status: "resolved", Actor: "root", Time: t0, Revision: 1}}); err != nil {
		t.Fatal(err)
	}
	other := stores[1]
	testenv.Eventually(t, 90*time.Second, "replica 2's incident_list holds the three versions", func() bool {
		return count(t, other, "SELECT count() FROM incident_list"+LocalSuffix) == 3 && count(t, other, "SELECT count() FROM incident_reviews"+LocalSuffix) == 1
	})
	for _, f := range []IncidentFilter{{}, {Status: "open"}, {Domains: []string{"example.org"}}} {
		rows, total, err := other.ListIncidents(ctx, f)
		if err != nil {
			t.Fatalf("ListIncidents(%+v) through replica 2: %v", f, err)
		}
		prows, ptotal, err := other.previousListIncidents(ctx, f)
		if err != nil {
			t.Fatalf("previousListIncidents(%+v) through replica 2: %v", f, err)
		}
		if diff := cmp.Diff(prows, rows); diff != "" || total != ptotal || total == 0 {
			t.Errorf("ListIncidents(%+v) through replica 2: total %d, previous %d; rows (-previous +now):\n%s", f, total, ptotal, diff)
		}
	}
	sum, err := other.SummarizeIncidents(ctx, IncidentFilter{})
	want := IncidentSummary{Total: 2, Unreviewed: 1, ByStatus: map[string]uint64{"open": 1, "resolved": 1}, ByRule: map[string]uint64{"multi_country": 1, "send_volume": 1}}
	if diff := cmp.Diff(want, sum); err != nil || diff != "" {
		t.Errorf("SummarizeIncidents through replica 2 = %v (-want +got):\n%s", err, diff)
	}
}
