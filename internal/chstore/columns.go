package chstore

import (
	"fmt"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-ids/vigil/internal/event"
)

// A column is one column of a table with the value each row gives it. Rows are appended column by column: the
// driver then copies a slice per column, where appending a row converts every value to an interface.
type column[R any] struct {
	name     string
	appendTo func(c driver.BatchColumn, rows []R) error
}

// loginColumns and sendColumns are the events tables' columns in the order they are inserted: the columns every
// event has, then each table's own.
var (
	loginColumns = append(eventColumns(),
		uintColumn("success", func(e *event.Enriched) uint8 { return b2u(e.Success) }),
		uintColumn("trusted", func(e *event.Enriched) uint8 { return b2u(e.Trusted) }),
		textColumn("source", func(e *event.Enriched) string { return e.Source }),
		textColumn("session", func(e *event.Enriched) string { return e.Session }),
		textColumn("pwhash", func(e *event.Enriched) string { return e.PWHash }),
	)
	sendColumns = append(eventColumns(),
		uintColumn("recipients", func(e *event.Enriched) uint32 { return uint32(e.Recipients) }),
		uintColumn("size", func(e *event.Enriched) uint64 { return uint64(e.Size) }),
		textColumn("message_id", func(e *event.Enriched) string { return e.MessageID }),
		textColumn("source", func(e *event.Enriched) string { return e.Source }),
		textColumn("session", func(e *event.Enriched) string { return e.Session }),
		uintColumn("trusted", func(e *event.Enriched) uint8 { return b2u(e.Trusted) }),
	)
)

// eventColumns returns a new slice of the columns logins and sends share, first in both tables.
func eventColumns() []column[event.Enriched] {
	return []column[event.Enriched]{
		textColumn("event_id", func(e *event.Enriched) string { return e.ID }),
		timeColumn("time", func(e *event.Enriched) time.Time { return e.Time }),
		textColumn("user", func(e *event.Enriched) string { return e.User }),
		textColumn("domain", func(e *event.Enriched) string { return e.Domain }),
		textColumn("ip", func(e *event.Enriched) string { return e.IP.String() }),
		textColumn("country", func(e *event.Enriched) string { return e.Country }),
		textColumn("service", func(e *event.Enriched) string { return e.Service }),
	}
}

func textColumn[R any](name string, value func(*R) string) column[R] {
	return column[R]{name, func(c driver.BatchColumn, rows []R) error { return appendColumn(c, rows, &texts, value) }}
}

func timeColumn[R any](name string, value func(*R) time.Time) column[R] {
	return column[R]{name, func(c driver.BatchColumn, rows []R) error { return appendColumn(c, rows, &times, value) }}
}

func uintColumn[R any, T uint8 | uint32 | uint64](name string, value func(*R) T) column[R] {
	return column[R]{name, func(c driver.BatchColumn, rows []R) error { return appendColumn(c, rows, uintBuffers[T](), value) }}
}

// Buffers of column values, reused between batches and writers.
var (
	texts   sync.Pool
	times   sync.Pool
	uint8s  sync.Pool
	uint32s sync.Pool
	uint64s sync.Pool
)

func uintBuffers[T uint8 | uint32 | uint64]() *sync.Pool {
	switch any(T(0)).(type) {
	case uint8:
		return &uint8s
	case uint32:
		return &uint32s
	}
	return &uint64s
}

// appendColumn appends every row's value to c through a slice from buffers, cleared before it goes back so it holds
// no strings of the batch.
func appendColumn[R, T any](c driver.BatchColumn, rows []R, buffers *sync.Pool, value func(*R) T) error {
	buf, _ := buffers.Get().(*[]T)
	if buf == nil {
		buf = new([]T)
	}
	vs := (*buf)[:0]
	for i := range rows {
		vs = append(vs, value(&rows[i]))
	}
	err := c.Append(vs)
	clear(vs)
	*buf = vs[:0]
	buffers.Put(buf)
	return err
}

// appendColumns returns the insert callback that appends rows column by column, after checking that the batch's
// columns — the literal list of the insert, which sqlcheck verifies against the schema — are cols, in cols' order.
func appendColumns[R any](cols []column[R], rows []R) func(driver.Batch) error {
	return func(b driver.Batch) error {
		got := b.Columns()
		if len(got) != len(cols) {
			return fmt.Errorf("insert has %d columns, the column table %d", len(got), len(cols))
		}
		for i, c := range cols {
			if got[i].Name() != c.name {
				return fmt.Errorf("insert column %d is %s, the column table's %s", i+1, got[i].Name(), c.name)
			}
			if err := c.appendTo(b.Column(i), rows); err != nil {
				return fmt.Errorf("column %s: %w", c.name, err)
			}
		}
		return nil
	}
}
