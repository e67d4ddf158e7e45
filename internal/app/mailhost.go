package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/nats-io/nats.go"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/quarantine"
)

// RunMailhost runs the quarantine's mail-host agent (vigil mailhost) on the Postfix host: it carries out the
// release and delete commands for VIGIL_MAILHOST_NAME from the NATS at VIGIL_NATS_URL.
func RunMailhost(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error {
	if cfg.MailhostName == "" {
		return errors.New("VIGIL_MAILHOST_NAME (-mailhost-name) is required: the name this host's held messages are recorded under")
	}
	if err := quarantine.CheckHost(cfg.MailhostName); err != nil {
		return fmt.Errorf("VIGIL_MAILHOST_NAME: %w", err)
	}
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-mailhost-"+cfg.MailhostName, logger, nats.CustomInboxPrefix(quarantine.AgentInbox(cfg.MailhostName)))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	reg := Registry()
	agent, err := quarantine.NewAgent(js, quarantine.AgentOptions{Host: cfg.MailhostName, Replicas: cfg.StreamReplicas, Postfix: quarantine.Postfix{
		Postsuper: cfg.MailhostPostsuper, Sudo: cfg.MailhostSudo, Postqueue: cfg.MailhostPostqueue, ConfigDir: cfg.MailhostPostfixConfig,
	}}, logger, reg)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if cfg.MailhostAddr != "" {
		ln, err := net.Listen("tcp", cfg.MailhostAddr)
		if err != nil {
			return fmt.Errorf("mailhost listener: %w", err)
		}
		mux := http.NewServeMux()
		httpapi.Ops(mux, reg, httpapi.Check{Name: "nats", Check: func(context.Context) error {
			if !nc.IsConnected() {
				return errors.New("not connected")
			}
			return nil
		}})
		fmt.Fprintf(out, "vigil mailhost: /metrics on http://%s/\n", ln.Addr())
		g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	}
	fmt.Fprintf(out, "vigil mailhost: carrying out release and delete commands for %s\n", cfg.MailhostName)
	g.Go(func() error { return agent.Run(gctx) })
	return g.Wait()
}
