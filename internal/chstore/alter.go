package chstore

import (
	"context"
	"errors"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// ClickHouse 18.16 has no ALTER TABLE ... ADD COLUMN IF NOT EXISTS. execIdempotent runs such a statement as a plain
// ADD COLUMN and takes "column already exists" (DUPLICATE_COLUMN, code 15) as done, so migrations adding columns
// stay idempotent on every supported server. ON CLUSTER, a replica that already has the column reports it through
// the distributed DDL queue as ILLEGAL_COLUMN (code 44), "column with this name already exists".
const (
	codeDuplicateColumn = 15
	codeIllegalColumn   = 44
)

func (s *Store) execIdempotent(ctx context.Context, stmt string) error {
	const ifNot = "ADD COLUMN IF NOT EXISTS"
	if !strings.Contains(stmt, ifNot) {
		return s.conn.Exec(ctx, stmt)
	}
	err := s.conn.Exec(ctx, strings.ReplaceAll(stmt, ifNot, "ADD COLUMN"))
	var ex *clickhouse.Exception
	if errors.As(err, &ex) && (ex.Code == codeDuplicateColumn ||
		ex.Code == codeIllegalColumn && strings.Contains(ex.Message, "column with this name already exists")) {
		return nil
	}
	return err
}
