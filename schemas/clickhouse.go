package schemas

import "embed"

// ClickHouse holds the versioned migrations (clickhouse/NNNN_name.sql). Each file is one or more statements
// separated by lines holding only ";"; {db} stands for the configured database.
//
//go:embed clickhouse/*.sql
var ClickHouse embed.FS
