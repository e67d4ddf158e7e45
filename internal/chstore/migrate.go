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
	if err := s.conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+db+".schema_migrations (version UInt32, name String, applied DateTime) ENGINE = ReplacingMergeTree(applied) ORDER BY version"); err != nil {
		return fmt.Errorf("migrations table: %w", err)
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
	files, err := fs.Glob(schemas.ClickHouse, "clickhouse/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files)
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "clickhouse/"), ".sql")
		num, _, _ := strings.Cut(name, "_")
		v, err := strconv.ParseUint(num, 10, 32)
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", f)
		}
		if slices.Contains(applied, uint32(v)) {
			continue
		}
		body, err := fs.ReadFile(schemas.ClickHouse, f)
		if err != nil {
			return err
		}
		for _, stmt := range splitStatements(string(body)) {
			if err := s.execIdempotent(ctx, strings.ReplaceAll(stmt, "{db}", db)); err != nil {
				return fmt.Errorf("migration %s: %w", name, err)
			}
		}
		batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+db+".schema_migrations (version, name, applied)")
		if err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
		if err := batch.Append(uint32(v), name, time.Now()); err != nil {
			return err
		}
		if err := batch.Send(); err != nil {
			return fmt.Errorf("record migration %s: %w", name, err)
		}
		s.logger.Info("clickhouse migration applied", "migration", name, "database", db)
	}
	return nil
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
