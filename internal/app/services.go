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
	"github.com/vigil-ids/vigil/internal/maillog"
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
	defer p.close()
	p.sayMailOff(out)
	mux := http.NewServeMux()
	p.register(mux)
	httpapi.Ops(mux, reg, p.checks(nil)...)
	ln, err := net.Listen("tcp", cfg.IngestAddr)
	if err != nil {
		return fmt.Errorf("ingest listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-ingest: listening on http://%s, NATS %s\n", ln.Addr(), nc.ConnectedUrlRedacted())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	p.runMail(gctx, g, out)
	return g.Wait()
}

// IngestLog runs the log reader (vigil ingest-log) against the NATS at VIGIL_NATS_URL.
func IngestLog(ctx context.Context, cfg *config.Config, args []string, logger *slog.Logger, stdout, stderr io.Writer) error {
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-ingest-log", logger)
	if err != nil {
		return fmt.Errorf("%w (set VIGIL_NATS_URL)", err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	if _, err := natsbus.EnsureStream(ctx, js, streamOptions(cfg)); err != nil {
		return err
	}
	return maillog.RunCLI(ctx, natsbus.NewPublisher(js, cfg.Partitions, nil), args, len(cfg.DovecotTokens) > 0, stdout, stderr)
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
	p.sayTravel(out)
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
