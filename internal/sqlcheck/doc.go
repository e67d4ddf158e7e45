// Package sqlcheck runs Vigil's SQL — migrations, the store's queries and inserts, the README's queries — against
// the ClickHouse releases Vigil supports: a server (Debian's 18.16 in the tests) and chDB, a current release as a
// library (scripts/fetch-chdb.sh).
package sqlcheck
