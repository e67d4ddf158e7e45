package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// RunIngest runs the stateless ingest service against an external NATS.
func RunIngest(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error {
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-ingest", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	reg := Registry()
	p, err := newPipeline(ctx, cfg, nc, true, nil, logger, reg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	p.ingest.Register(mux)
	httpapi.Ops(mux, reg, p.checks(nil)...)
	ln, err := net.Listen("tcp", cfg.IngestAddr)
	if err != nil {
		return fmt.Errorf("ingest listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-ingest: listening on http://%s, NATS %s\n", ln.Addr(), nc.ConnectedUrlRedacted())
	return httpapi.Serve(ctx, ln, mux, logger)
}

// RunDetector runs a detector over its partitions against an external NATS and ClickHouse.
func RunDetector(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error {
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-detector", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	reg := Registry()
	store, stop, err := openStore(ctx, cfg, "", false, logger, reg, out)
	if err != nil {
		return err
	}
	defer stop()
	defer store.Close()
	p, err := newPipeline(ctx, cfg, nc, false, store, logger, reg)
	if err != nil {
		return err
	}
	defer p.close()
	mux := http.NewServeMux()
	httpapi.Ops(mux, reg, p.checks(store.Ping)...)
	ln, err := net.Listen("tcp", cfg.DetectorAddr)
	if err != nil {
		return fmt.Errorf("detector listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-detector: metrics on http://%s/metrics, NATS %s\n", ln.Addr(), nc.ConnectedUrlRedacted())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	g.Go(func() error { return p.trust.Run(gctx) })
	g.Go(func() error { return p.detector.Run(gctx) })
	return g.Wait()
}
