package chstore

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/schemas"
)

// Migrate applies the migrations in schemas/clickhouse that the database has not recorded yet. Every statement is
// idempotent (IF NOT EXISTS), so concurrent or repeated runs are harmless.
func (s *Store) Migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	db := s.opts.Database
	engine := "ReplacingMergeTree(applied)"
	if s.opts.Cluster != "" {
		// Each shard records its migrations in a replicated table; all shards run every migration anyway.
		engine = "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/" + db + "/schema_migrations', '{replica}', applied)"
	}
	if err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+db+".schema_migrations"+s.opts.onCluster()+" (version UInt32, name String, applied DateTime) ENGINE = "+engine+" ORDER BY version"); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	if s.opts.Cluster != "" {
		// Another node may have just recorded a migration on the other replica: fetch what it replicated first.
		if err := s.conn.Exec(ctx, "SYSTEM SYNC REPLICA "+db+".schema_migrations"); err != nil {
			return fmt.Errorf("sync migrations table: %w", err)
		}
	}
	var applied []uint32
	rows, err := s.conn.Query(ctx, "SELECT DISTINCT version FROM "+db+".schema_migrations")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	for rows.Next() {
		var v uint32
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("read migrations: %w", err)
		}
		applied = append(applied, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	migrations, err := Migrations(s.opts.Cluster, db)
	if err != nil {
		return err
	}
	for _, m := range migrations {
		v, name, stmts := m.Version, m.Name, m.Statements
		if slices.Contains(applied, v) {
			continue
		}
		for _, stmt := range stmts {
			if err := s.execIdempotent(ctx, stmt); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied)")
		if err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
		if err := batch.Append(v, name, time.Now()); err != nil {
			return err
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
		s.logger.Info("clickhouse migration applied", "migration", name, "database", db)
	}
	return nil
}

// Migration is one file of schemas/clickhouse, as the statements to run.
type Migration struct {
	Version    uint32
	Name       string   // file name without .sql
	Statements []string // for database db, rewritten for the cluster when one is named
}

// Migrations returns every migration in order, its statements written for database db, and for cluster when it is
// not empty (see cluster.go).
func Migrations(cluster, db string) ([]Migration, error) {
	files, err := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
	if err != nil {
		return nil, err
	}
	slices.Sort(files)
	var plan *clusterPlan
	if cluster != "" {
		plan = newClusterPlan(cluster, db)
	}
	var out []Migration
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "clickhouse/"), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", f)
		}
		body, err := fs.ReadFile(schemas.ClickHouse, f)
		if err != nil {
			return nil, err
		}
		stmts := splitStatements(string(body))
		if plan != nil {
			// Every file passes through the plan, applied or not, so it knows each table's sharding key.
			if stmts, err = plan.rewriteAll(stmts); err != nil {
				return nil, fmt.Errorf("migration %s: %w", name, err)
			}
		}
		for i := range stmts {
			stmts[i] = strings.ReplaceAll(stmts[i], "{db}", db)
		}
		out = append(out, Migration{Version: uint32(v), Name: name, Statements: stmts})
	}
	return out, nil
}

// splitStatements splits a migration at lines holding only ";" and drops comment-only parts.
func splitStatements(body string) []string {
	var out []string
	var cur strings.Builder
	flush := func() {
		stmt := strings.TrimSpace(cur.String())
		cur.Reset()
		code := false
		for _, l := range strings.Split(stmt, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				code = true
			}
		}
		if code {
			out = append(out, stmt)
		}
	}
	for _, l := range strings.Split(body, "\n") {
		if strings.TrimSpace(l) == ";" {
			flush()
			continue
		}
		cur.WriteString(l)
		cur.WriteByte('\n')
	}
	flush()
	return out
}
