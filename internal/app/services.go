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
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// RunIngest runs the stateless ingest service against an external NATS.
func RunIngest(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error {
	x, err := connectExternal(ctx, cfg, "vigil-ingest", false, logger, out)
	if err != nil {
		return err
	}
	defer x.close()
	p, err := newPipeline(ctx, cfg, x.nc, true, nil, logger, x.reg)
	if err != nil {
		return err
	}
	defer p.close()
	p.sayMailOff(out)
	mux := http.NewServeMux()
	p.register(mux)
	httpapi.Ops(mux, x.reg, p.checks(nil)...)
	ln, err := net.Listen("tcp", cfg.IngestAddr)
	if err != nil {
		return fmt.Errorf("ingest listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-ingest: listening on http://%s, NATS %s\n", ln.Addr(), x.nc.ConnectedUrlRedacted())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	p.runMail(gctx, g, out)
	return g.Wait()
}

// LogSink connects to the NATS at VIGIL_NATS_URL, makes sure the events stream exists and returns the publisher
// the log reader (vigil ingest-log) sends its events to, and the function that closes the connection.
func LogSink(ctx context.Context, cfg *config.Config, logger *slog.Logger) (event.Sink, func(), error) {
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-ingest-log", logger)
	if err != nil {
		return nil, nil, fmt.Errorf("%w (set VIGIL_NATS_URL)", err)
	}
	js, err := natsbus.NewJetStream(nc)
	if err == nil {
		_, err = natsbus.EnsureStream(ctx, js, streamOptions(cfg))
	}
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return natsbus.NewPublisher(js, cfg.Partitions, nil), nc.Close, nil
}

// RunDetector runs a detector over its partitions against an external NATS and ClickHouse.
func RunDetector(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error {
	x, err := connectExternal(ctx, cfg, "vigil-detector", true, logger, out)
	if err != nil {
		return err
	}
	defer x.close()
	p, err := newPipeline(ctx, cfg, x.nc, false, x.store, logger, x.reg)
	if err != nil {
		return err
	}
	defer p.close()
	p.sayTravel(out)
	mux := http.NewServeMux()
	httpapi.Ops(mux, x.reg, p.checks(x.store.Ping)...)
	ln, err := net.Listen("tcp", cfg.DetectorAddr)
	if err != nil {
		return fmt.Errorf("detector listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-detector: metrics on http://%s/metrics, NATS %s\n", ln.Addr(), x.nc.ConnectedUrlRedacted())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	g.Go(func() error { return p.trust.Run(gctx) })
	g.Go(func() error { return p.detector.Run(gctx) })
	return g.Wait()
}
