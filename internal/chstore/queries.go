package chstore

import (
	"slices"
	"strings"
	"time"
)

// Query is one SQL statement the store runs, so tests can run every statement against each ClickHouse release
// Vigil supports (internal/sqlcheck): Debian's 18.16 and a current one.
type Query struct {
	Name string // unique, e.g. "incidents since"
	SQL  string // {db} stands for the database, ? for an argument
	Args []any  // example arguments, one per ?
}

// queries is filled by the package's variable declarations below and elsewhere, before any function runs.
var queries []Query

// register adds a read query to Queries and returns it. Every query the store sends goes through register (a test
// reads the package's code to keep it so); example holds one valid argument per placeholder.
func register(name, sql string, example ...any) Query {
	q := Query{Name: name, SQL: sql, Args: example}
	queries = append(queries, q)
	return q
}

// Queries returns every read query the store runs, sorted by name.
func Queries() []Query {
	out := slices.Clone(queries)
	slices.SortFunc(out, func(a, b Query) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// sql returns q's text for this store's database.
func (s *Store) sql(q Query) string { return strings.ReplaceAll(q.SQL, "{db}", s.opts.Database) }

// exampleTime is the time argument of the registered examples.
var exampleTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

var (
	qIncidentsSince = register("incidents since", `SELECT incident_id, rule, user, domain, status, window_start, first_seen, last_seen,
		countries, ips, detail, logins, messages_24h, recipients_24h, version, failures, distinct_passwords
		FROM {db}.incidents FINAL WHERE last_seen >= ? ORDER BY last_seen`, exampleTime)
	qLastLogins = register("last logins of a user", `SELECT event_id, time, user, domain, ip, country, service, success, trusted, source, session, pwhash
		FROM {db}.logins FINAL WHERE user = ? ORDER BY time DESC LIMIT ?`, "alice@example.org", 10)
	qCountLogins = register("count logins", "SELECT count() FROM {db}.logins FINAL WHERE time >= ? AND has(?, domain)", exampleTime, []string{"example.org"})
	qCountSends  = register("count sends", "SELECT count() FROM {db}.sends FINAL WHERE time >= ? AND has(?, domain)", exampleTime, []string{"example.org"})
)
