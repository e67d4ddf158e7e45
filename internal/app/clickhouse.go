package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chserver"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
)

// openStore connects to ClickHouse and applies the migrations. With allowStart, when nothing answers at the
// configured address and clickhouse-server is installed, it starts a private server under dataDir; the returned
// stop function stops it (and is a no-op otherwise).
func openStore(ctx context.Context, cfg *config.Config, dataDir string, allowStart bool, logger *slog.Logger, reg prometheus.Registerer, out io.Writer) (*chstore.Store, func(), error) {
	opts := storeOptions(cfg)
	stop := func() {}
	if allowStart && cfg.ClickHouseStart == "auto" && !answers(cfg.ClickHouseAddr) {
		bin, ok := chserver.Installed()
		if !ok {
			return nil, stop, fmt.Errorf("no ClickHouse answers at %s and clickhouse-server is not installed (apt-get install clickhouse-server, or set VIGIL_CLICKHOUSE_ADDR)", cfg.ClickHouseAddr)
		}
		_, port, err := net.SplitHostPort(cfg.ClickHouseAddr)
		if err != nil {
			return nil, stop, fmt.Errorf("VIGIL_CLICKHOUSE_ADDR %q: %w", cfg.ClickHouseAddr, err)
		}
		p, _ := strconv.Atoi(port)
		dir := filepath.Join(dataDir, "clickhouse")
		fmt.Fprintf(out, "vigil: no ClickHouse answers at %s; starting a private clickhouse-server (%s) with its data in %s\n", cfg.ClickHouseAddr, bin, dir)
		srv, err := chserver.Start(ctx, chserver.Options{Dir: dir, TCPPort: p, Binary: bin, Logger: logger})
		if err != nil {
			return nil, stop, fmt.Errorf("start private ClickHouse: %w", err)
		}
		stop = func() {
			if err := srv.Stop(); err != nil {
				logger.Warn("stop private ClickHouse", "err", err)
			}
		}
		opts.Addr = srv.Addr()
		logger.Info("private ClickHouse started", "addr", srv.Addr(), "dir", dir)
	}
	store, err := chstore.Open(ctx, opts, logger, reg)
	if err != nil {
		stop()
		return nil, func() {}, err
	}
	if err := store.Migrate(ctx); err != nil {
		store.Close()
		stop()
		return nil, func() {}, err
	}
	return store, stop, nil
}

// answers reports whether something accepts TCP connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// OpenStore connects to the configured ClickHouse and applies the migrations, without starting a server; the
// demo and the benchmark use it to read what a node wrote.
func OpenStore(ctx context.Context, cfg *config.Config, logger *slog.Logger, reg prometheus.Registerer, out io.Writer) (*chstore.Store, func(), error) {
	return openStore(ctx, cfg, "", false, logger, reg, out)
}
