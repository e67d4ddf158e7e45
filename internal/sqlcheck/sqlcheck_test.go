package sqlcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const storeDir = "../chstore"

func chdb(t *testing.T) *ChDB {
	t.Helper()
	cache := os.Getenv("VIGIL_CHDB_CACHE")
	if cache == "" {
		cache = "../../.cache/chdb"
	}
	runner, lib, err := FindChDB(cache)
	if errors.Is(err, ErrNoChDB) && os.Getenv("VIGIL_TEST_REQUIRE_DATA") == "" {
		t.Skipf("%v; make test fetches it", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	c, err := StartChDB(runner, lib, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// sampleRow is one row of the given columns as JSONEachRow; columns it has no value for take their defaults.
func sampleRow(cols []string, now time.Time, i int) string {
	ts := now.Add(-time.Duration(i) * time.Minute).Format(time.DateTime)
	cc := []string{"GB", "US"}[i%2]
	values := map[string]any{
		"event_id": "e" + string(rune('0'+i)), "incident_id": "i" + string(rune('0'+i)), "time": ts, "window_start": ts, "first_seen": ts, "last_seen": ts,
		"user": "alice@example.org", "domain": "example.org", "ip": "81.2.69.142", "country": cc, "service": "imap", "success": 1,
		"recipients": 3, "rule": "multi_country", "status": "open", "countries": []string{"GB", "US"}, "ips": []string{"81.2.69.142"},
		"detail": "[]", "logins": 2, "version": 1, "action": "login", "actor": "root", "client_ip": "127.0.0.1", "result": "ok",
	}
	row := map[string]any{}
	for _, c := range cols {
		if v, ok := values[c]; ok {
			row[c] = v
		}
	}
	b, _ := json.Marshal(row)
	return string(b)
}

// TestSQLOnCurrentClickHouse runs the migrations, every insert and registered query of the store, and the README's
// queries on chDB (a current ClickHouse release), and parses the cluster variant of the migrations there.
func TestSQLOnCurrentClickHouse(t *testing.T) {
	c := chdb(t)
	v, err := c.Version()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("chDB embeds ClickHouse %s", v)
	run := func(what, sql string) string {
		t.Helper()
		out, err := c.Exec(sql)
		if err != nil {
			t.Errorf("%s fails on ClickHouse %s:\n%s\n%v", what, v, sql, err)
		}
		return out
	}
	const db = "vigil"
	run("create database", "CREATE DATABASE IF NOT EXISTS "+db)
	migrations, err := chstore.Migrations("", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations {
		for _, st := range m.Statements {
			run("migration "+m.Name, st)
		}
	}
	cluster, err := chstore.Migrations("vigil", db)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range cluster {
		for _, st := range m.Statements {
			run("cluster migration "+m.Name+" (parse)", "EXPLAIN AST "+st)
		}
	}
	inserts, err := StoreInserts(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(inserts) < 4 {
		t.Fatalf("found %d inserts in %s; want logins, sends, incidents and audit_log", len(inserts), storeDir)
	}
	now := time.Now().UTC().Truncate(time.Second)
	for _, ins := range inserts {
		rows := sampleRow(ins.Columns, now, 0) + "\n" + sampleRow(ins.Columns, now, 1)
		run("insert into "+ins.Table, ins.SQL(db)+" FORMAT JSONEachRow "+rows)
	}
	queries := chstore.Queries()
	if len(queries) == 0 {
		t.Fatal("chstore.Queries() is empty")
	}
	for _, q := range queries {
		sql, err := Bind(strings.ReplaceAll(q.SQL, "{db}", db), q.Args)
		if err != nil {
			t.Errorf("query %q: %v", q.Name, err)
			continue
		}
		run("query "+q.Name, sql)
	}
	for k, val := range chstore.ClusterSettings {
		run("cluster connection setting "+k, fmt.Sprintf("SELECT 1 SETTINGS %s = %v", k, val))
	}
	readme, err := ReadmeQueries("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range readme {
		out := run("README query", q)
		if strings.Contains(q, "HAVING uniqExact(country) > 1") && strings.Count(out, "\n") != 1 {
			t.Errorf("README multi-country query returned %q; want alice's row", out)
		}
	}
}

// TestRegisteredQueriesOnServer runs every registered query on the test server (Debian's 18.16), with its example
// arguments bound by the driver and, as Bind writes them for chDB, as literals, over rows the store wrote.
func TestRegisteredQueriesOnServer(t *testing.T) {
	addr, db := testenv.ClickHouseDB(t)
	ctx := context.Background()
	s, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	login := event.Enriched{Event: event.Event{ID: "l1", Kind: event.KindLogin, Time: now, User: "alice@example.org", Domain: "example.org",
		IP: netip.MustParseAddr("81.2.69.142"), Service: "imap", Success: true}, Country: "GB"}
	inc := incident.Incident{ID: "i1", Rule: incident.MultiCountry, User: "alice@example.org", Domain: "example.org", Status: incident.StatusOpen,
		WindowStart: now, FirstSeen: now, LastSeen: now, Countries: []string{"GB", "US"}, Version: 1}
	if err := s.Write(ctx, []event.Enriched{login}, nil, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	for _, q := range chstore.Queries() {
		sql := strings.ReplaceAll(q.SQL, "{db}", db)
		rows, err := s.Conn().Query(ctx, sql, q.Args...)
		if err != nil {
			t.Errorf("query %q fails on the server:\n%s\n%v", q.Name, sql, err)
			continue
		}
		rows.Close()
		bound, err := Bind(sql, q.Args)
		if err != nil {
			t.Errorf("query %q: %v", q.Name, err)
			continue
		}
		if rows, err = s.Conn().Query(ctx, bound); err != nil {
			t.Errorf("query %q with literal arguments fails on the server:\n%s\n%v", q.Name, bound, err)
			continue
		}
		rows.Close()
	}
}

// TestEveryStoreQueryRegistered keeps the check complete: a query the store sends without register would escape it.
func TestEveryStoreQueryRegistered(t *testing.T) {
	bad, err := UnregisteredQueries(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Error(b)
	}
	names := map[string]bool{}
	for _, q := range chstore.Queries() {
		if names[q.Name] {
			t.Errorf("query name %q registered twice", q.Name)
		}
		names[q.Name] = true
	}
}

func TestBind(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	tests := []struct {
		sql  string
		args []any
		want string
		err  bool
	}{
		{"SELECT ? , ?", []any{"it's \\", 7}, `SELECT 'it\'s \\' , 7`, false},
		{"WHERE t >= ? AND has(?, d) AND x = '?'", []any{at, []string{"a", "b"}}, "WHERE t >= toDateTime('2026-01-02 02:04:05', 'UTC') AND has(['a', 'b'], d) AND x = '?'", false},
		{"SELECT 1 FROM `a?b` WHERE b = ?", []any{true}, "SELECT 1 FROM `a?b` WHERE b = 1", false},
		{"SELECT ?", nil, "", true},
		{"SELECT 1", []any{1}, "", true},
		{"SELECT ?", []any{3.5}, "", true},
	}
	for _, tt := range tests {
		got, err := Bind(tt.sql, tt.args)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Bind(%q, %v) = %q, %v; want %q (error %v)", tt.sql, tt.args, got, err, tt.want, tt.err)
		}
	}
}

func TestStoreInsertsFindsEveryTable(t *testing.T) {
	inserts, err := StoreInserts(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for _, i := range inserts {
		tables = append(tables, i.Table)
		if !slices.Contains(i.Columns, "event_id") && !slices.Contains(i.Columns, "incident_id") {
			t.Errorf("insert into %s: columns %v lack the deduplication key", i.Table, i.Columns)
		}
	}
	slices.Sort(tables)
	if want := []string{"audit_log", "held_messages", "incident_reviews", "incidents", "logins", "sends"}; !slices.Equal(tables, want) {
		t.Errorf("inserts found into %v; want %v", tables, want)
	}
}

func TestUnregisteredQueriesReported(t *testing.T) {
	bad, err := UnregisteredQueries("testdata/store")
	if err != nil {
		t.Fatal(err)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0], "store.go:5: s.conn.QueryRow") {
		t.Errorf("UnregisteredQueries(testdata/store) = %q; want the raw QueryRow on line 5", bad)
	}
	inserts, err := StoreInserts("testdata/store")
	if err != nil || len(inserts) != 1 || inserts[0].SQL("d") != "INSERT INTO d.t (a, b)" {
		t.Errorf("StoreInserts(testdata/store) = %v, %v; want INSERT INTO d.t (a, b)", inserts, err)
	}
}
