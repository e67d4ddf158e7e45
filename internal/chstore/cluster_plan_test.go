package chstore

import (
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/schemas"
)

// TestClusterPlanCoversEveryMigration rewrites every migration file for a cluster, so a migration added later that
// has no cluster variant fails here without a server.
func TestClusterPlanCoversEveryMigration(t *testing.T) {
	files, err := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("migrations: %v, %d files", err, len(files))
	}
	slices.Sort(files)
	p := newClusterPlan("vigil", "vigil")
	for _, f := range files {
		body, _ := fs.ReadFile(schemas.ClickHouse, f)
		out, err := p.rewriteAll(splitStatements(string(body)))
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		for _, st := range out {
			if !strings.Contains(st, " ON CLUSTER vigil") && !strings.HasPrefix(st, "INSERT INTO {db}.") { // a fill runs per shard
				t.Errorf("%s: statement without ON CLUSTER:\n%s", f, st)
			}
		}
	}
}

func TestClusterPlanRewrite(t *testing.T) {
	create := "-- comment\nCREATE TABLE IF NOT EXISTS {db}.t\n(\n    id String,\n    a Array(String),\n    at DateTime DEFAULT now()\n)\nENGINE = ReplacingMergeTree(at)\nPARTITION BY toYYYYMM(at)\nORDER BY (id, at)"
	tests := []struct {
		name, stmt string
		want       []string
		err        string
	}{
		{"create", create, []string{
			"CREATE TABLE IF NOT EXISTS {db}.t_local ON CLUSTER c\n(\n    id String,\n    a Array(String),\n    at DateTime DEFAULT now()\n)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/d/t_local', '{replica}', at)\nPARTITION BY toYYYYMM(at)\nORDER BY (id, at)",
			"CREATE TABLE IF NOT EXISTS {db}.t ON CLUSTER c AS {db}.t_local ENGINE = Distributed(c, d, t_local, cityHash64(id, at))",
		}, ""},
		{"create without engine arguments", "CREATE TABLE IF NOT EXISTS {db}.u (id String) ENGINE = ReplacingMergeTree() ORDER BY id", []string{
			"CREATE TABLE IF NOT EXISTS {db}.u_local ON CLUSTER c\n(id String)\nENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/d/u_local', '{replica}') ORDER BY id",
			"CREATE TABLE IF NOT EXISTS {db}.u ON CLUSTER c AS {db}.u_local ENGINE = Distributed(c, d, u_local, cityHash64(id))",
		}, ""},
		{"add column recreates the Distributed table", "ALTER TABLE {db}.t ADD COLUMN b String DEFAULT ''", []string{
			"ALTER TABLE {db}.t_local ON CLUSTER c ADD COLUMN b String DEFAULT ''",
			"DROP TABLE IF EXISTS {db}.t ON CLUSTER c",
			"CREATE TABLE IF NOT EXISTS {db}.t ON CLUSTER c AS {db}.t_local ENGINE = Distributed(c, d, t_local, cityHash64(id, at))",
		}, ""},
		{"other alter on the replicated table only", "ALTER TABLE {db}.t DROP PARTITION 202401", []string{
			"ALTER TABLE {db}.t_local ON CLUSTER c DROP PARTITION 202401",
		}, ""},
		{"materialized view feeds the replicated tables", "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feed TO {db}.u AS\nSELECT id FROM {db}.t WHERE at > 0", []string{
			"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feed ON CLUSTER c TO {db}.u_local AS SELECT id FROM {db}.t_local WHERE at > 0",
		}, ""},
		{"fill copies the shard's rows", "INSERT INTO {db}.u (id)\nSELECT id FROM {db}.t", []string{
			"INSERT INTO {db}.u_local (id)\nSELECT id FROM {db}.t_local",
		}, ""},
		{"view of an unknown table", "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.feed TO {db}.u AS SELECT id FROM {db}.nope", nil, "no earlier migration creates table nope"},
		{"fill into an unknown table", "INSERT INTO {db}.nope (id) SELECT id FROM {db}.t", nil, "no earlier migration creates table nope"},
		{"alter of an unknown table", "ALTER TABLE {db}.nope ADD COLUMN b String", nil, "no earlier migration creates it"},
		{"already replicated", "CREATE TABLE IF NOT EXISTS {db}.r (id String) ENGINE = ReplicatedMergeTree('/p', '{replica}') ORDER BY id", nil, "write migrations for one server"},
		{"no sorting key", "CREATE TABLE IF NOT EXISTS {db}.m (id String) ENGINE = MergeTree()", nil, "no ORDER BY"},
		{"unsupported statement", "CREATE VIEW {db}.v AS SELECT 1", nil, "no cluster variant"},
		{"other engine", "CREATE TABLE IF NOT EXISTS {db}.l (id String) ENGINE = Log", nil, "no cluster variant"},
	}
	p := newClusterPlan("c", "d")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.rewrite(tt.stmt)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("rewrite(%q) error = %v; want one containing %q", tt.stmt, err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("rewrite(%q) = %v", tt.stmt, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rewrite(%q) =\n%q\nwant\n%q", tt.stmt, got, tt.want)
			}
		})
	}
}

func TestClusterNameValidated(t *testing.T) {
	for _, name := range []string{"vigil; DROP TABLE x", "a b", "1st", strings.Repeat("c", 65)} {
		if err := (Options{Cluster: name}).Validate(); err == nil || !strings.Contains(err.Error(), "clickhouse cluster") {
			t.Errorf("Validate(Cluster: %q) = %v; want a cluster name error", name, err)
		}
	}
	if err := (Options{Cluster: "prod_cluster"}).Validate(); err != nil {
		t.Errorf("Validate(Cluster: prod_cluster) = %v", err)
	}
}
