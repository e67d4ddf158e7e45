package testenv

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/vigil-ids/vigil/internal/chserver"
)

var (
	chOnce   sync.Once
	chServer *chserver.Server
	chDir    string
	chAddr   string
	chErr    error
	dbSeq    atomic.Int64
)

// ClickHouse returns the address of a ClickHouse server for tests: VIGIL_TEST_CLICKHOUSE_ADDR when set, otherwise
// one private server started per test binary (stopped by Main). It fails the test, never skips it, when no server
// can be had: make test installs clickhouse-server.
func ClickHouse(t testing.TB) string {
	t.Helper()
	chOnce.Do(func() {
		if addr := os.Getenv("VIGIL_TEST_CLICKHOUSE_ADDR"); addr != "" {
			chAddr = addr
			return
		}
		chDir, chErr = os.MkdirTemp("", "vigil-test-clickhouse-")
		if chErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		chServer, chErr = chserver.Start(ctx, chserver.Options{Dir: chDir})
		if chErr == nil {
			chAddr = chServer.Addr()
		}
	})
	if chErr != nil {
		t.Fatalf("ClickHouse for tests: %v (make test installs clickhouse-server; or set VIGIL_TEST_CLICKHOUSE_ADDR)", chErr)
	}
	return chAddr
}

// ClickHouseDB creates a fresh database for the test on the test server and drops it when the test ends.
func ClickHouseDB(t testing.TB) (addr, database string) {
	t.Helper()
	addr = ClickHouse(t)
	database = fmt.Sprintf("vigil_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("ClickHouse at %s: %v", addr, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+database); err != nil {
		t.Fatalf("ClickHouse at %s: create database: %v", addr, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+database)
		conn.Close()
	})
	return addr, database
}

// Main runs the tests, then stops the private ClickHouse server if one was started. Use it in TestMain.
func Main(m *testing.M) {
	code := m.Run()
	runMainCleanups()
	if chServer != nil {
		chServer.Stop()
	}
	if chDir != "" {
		os.RemoveAll(chDir)
	}
	os.Exit(code)
}
