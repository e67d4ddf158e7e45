package app

import (
	"context"
	"io"
	"log/slog"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// external is what a separate service (cmd/ingest, cmd/detector, cmd/authapi) runs against: the external NATS,
// ClickHouse for those that keep or read the history, and a fresh metrics registry.
type external struct {
	nc    *nats.Conn
	reg   *prometheus.Registry
	store *chstore.Store // nil without ClickHouse
	stop  func()         // what openStore returned
}

// connectExternal connects to NATS as the client name and, withStore, to ClickHouse (migrations applied).
func connectExternal(ctx context.Context, cfg *config.Config, name string, withStore bool, logger *slog.Logger, out io.Writer) (*external, error) {
	nc, err := natsbus.Connect(cfg.NATSURL, name, logger)
	if err != nil {
		return nil, err
	}
	x := &external{nc: nc, reg: Registry(), stop: func() {}}
	if withStore {
		if x.store, x.stop, err = openStore(ctx, cfg, "", false, logger, x.reg, out); err != nil {
			nc.Close()
			return nil, err
		}
	}
	return x, nil
}

// close closes the store, then the NATS connection.
func (x *external) close() {
	if x.store != nil {
		x.store.Close()
	}
	x.stop()
	x.nc.Close()
}
