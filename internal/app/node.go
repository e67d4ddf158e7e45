package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/console"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/dovecot"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/gctune"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/postfix"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// Registry returns a metrics registry with the Go and process collectors.
func Registry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Node runs ingest and the detector in one process around an embedded NATS server.
type Node struct {
	Config *config.Config
	Logger *slog.Logger
	Out    io.Writer // start-up messages for the operator

	// When set, Run sends the listening addresses once the components start; for tests.
	IngestAddr chan net.Addr
	NATSURL    chan string
	AuthAddr   chan net.Addr // the auth API and console listener

	// Reload receives the operator's reload requests (SIGHUP): the responder re-reads the containment policy file.
	Reload <-chan struct{}
}

// Run starts everything and blocks until ctx is cancelled or a component fails.
func (n *Node) Run(ctx context.Context) error {
	cfg, logger := n.Config, n.Logger
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	emb, err := natsbus.StartEmbedded(filepath.Join(cfg.DataDir, "jetstream"), cfg.NATSListen, logger)
	if err != nil {
		return err
	}
	defer emb.Shutdown()
	nc, err := emb.Connect("vigil")
	if err != nil {
		return err
	}
	defer nc.Close()
	if cfg.IngestTokens == nil {
		tok, path, err := ensureToken(filepath.Join(cfg.DataDir, "ingest-token"))
		if err != nil {
			return err
		}
		cfg.IngestTokens = []string{tok}
		fmt.Fprintf(n.Out, "vigil: ingest bearer token is in %s\n", path)
	}
	reg := Registry()
	store, stopCH, err := openStore(ctx, cfg, cfg.DataDir, true, logger, reg, n.Out)
	if err != nil {
		return err
	}
	defer stopCH()
	defer store.Close()

	p, err := newPipeline(ctx, cfg, nc, true, store, logger, reg)
	if err != nil {
		return err
	}
	defer p.close()
	p.sayMailOff(n.Out)
	p.sayTravel(n.Out)
	mux := http.NewServeMux()
	p.register(mux)
	ln, err := net.Listen("tcp", cfg.IngestAddr)
	if err != nil {
		return fmt.Errorf("ingest listener: %w", err)
	}
	key, err := authKey(cfg, filepath.Join(cfg.DataDir, "auth.key"))
	if err != nil {
		return err
	}
	blocks, runBlocks := p.decisions, false // mailbox 2FA's step-up on a pending block_login: the endpoints' index
	if blocks == nil {
		if blocks, err = newDecisionIndex(ctx, cfg, p.js, logger, reg); err != nil {
			return err
		}
		runBlocks = true
	}
	auth, aud, err := newAuth(ctx, cfg, p.js, key, store, blocks, logger, reg)
	if err != nil {
		return err
	}
	resp, respTrust, err := newResponder(ctx, cfg, p.js, aud, auth, n.Reload, logger, reg) // auth releases held mail (the quarantine)
	if err != nil {
		return err
	}
	checks := append(p.checks(store.Ping), responderCheck(resp)...)
	httpapi.Ops(mux, reg, checks...)
	authOps := http.NewServeMux()
	httpapi.Ops(authOps, reg, checks...)
	con, err := console.New(auth.Handler(), logger)
	if err != nil {
		return err
	}
	authMux := auth.WithConsole(authOps, con) // /readyz, /metrics and the console behind the admin allow list
	notifier, err := newNotify(ctx, cfg, p.js, store, "vigil", logger, reg, n.Out)
	if err != nil {
		return err
	}
	authLn, err := net.Listen("tcp", cfg.AuthAddr)
	if err != nil {
		return fmt.Errorf("auth listener (VIGIL_AUTH_ADDR): %w", err)
	}
	fmt.Fprintf(n.Out, "vigil: admin auth API on http://%s/v1/ (create the first admin: vigil admin create -username NAME)\n", authLn.Addr())
	fmt.Fprintf(n.Out, "vigil: admin console on http://%s/\n", authLn.Addr())
	if n.NATSURL != nil {
		n.NATSURL <- emb.ClientURL()
	}
	if n.AuthAddr != nil {
		n.AuthAddr <- authLn.Addr()
	}
	if n.IngestAddr != nil {
		n.IngestAddr <- ln.Addr()
	}
	fmt.Fprintf(n.Out, "vigil: ingest on http://%s/v1/events, metrics on http://%s/metrics\n", ln.Addr(), ln.Addr())
	if u := emb.ClientURL(); u != "" {
		fmt.Fprintf(n.Out, "vigil: NATS (JetStream) on %s\n", u)
	}

	g, gctx := errgroup.WithContext(ctx)
	if p.dovecot != nil {
		fmt.Fprintf(n.Out, "vigil: Dovecot auth policy on http://%s/v1/dovecot/policy\n", ln.Addr())
	}
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	g.Go(func() error { return httpapi.Serve(gctx, authLn, authMux, logger) })
	g.Go(func() error { return auth.Run(gctx) })
	g.Go(func() error { return auth.RunConsole(gctx) })
	if runBlocks {
		g.Go(func() error { return blocks.Run(gctx) })
	}
	g.Go(func() error { return aud.Run(gctx) })
	g.Go(func() error { return p.trust.Run(gctx) })
	g.Go(func() error { return p.detector.Run(gctx) })
	g.Go(func() error { return notifier(gctx) })
	for _, run := range runResponder(resp, respTrust) {
		g.Go(func() error { return run(gctx) })
	}
	p.runMail(gctx, g, n.Out)
	return g.Wait()
}

// pipeline is what the node and the separate binaries share: stream, publisher, ingest, trust watcher, detector.
type pipeline struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	ingest  *ingest.Handler
	pub     *natsbus.Publisher
	dovecot *dovecot.Handler // nil unless VIGIL_DOVECOT_TOKENS
	postfix *postfix.Server  // nil unless VIGIL_POSTFIX_ADDR
	pfLn    net.Listener
	// decisions is the containment decisions' index the mail-server endpoints answer from; nil when neither
	// endpoint is on or VIGIL_ENFORCE=off.
	decisions *decision.Index
	held      *quarantine.Recorder // held messages' records for the quarantine; nil without the Postfix policy service
	trust     *trustkv.Watcher
	detector  *detector.Detector
	geo       *geo.DB
}

// newPipeline builds the parts a process runs: ingest when withIngest, the detector when store is not nil.
func newPipeline(ctx context.Context, cfg *config.Config, nc *nats.Conn, withIngest bool, store detector.Store, logger *slog.Logger, reg prometheus.Registerer) (*pipeline, error) {
	p := &pipeline{nc: nc}
	var err error
	if p.js, err = natsbus.NewJetStream(nc); err != nil {
		return nil, err
	}
	if _, err := natsbus.EnsureStream(ctx, p.js, streamOptions(cfg)); err != nil {
		return nil, err
	}
	if withIngest {
		p.pub = natsbus.NewPublisher(p.js, cfg.Partitions, reg)
		if p.ingest, err = ingest.NewHandler(ingestOptions(cfg), p.pub, logger, reg); err != nil {
			return nil, err
		}
		if len(cfg.DovecotTokens) > 0 || cfg.PostfixAddr != "" {
			gctune.ForPolicy(logger) // for the process's life: it answers mail servers' policy requests
		}
		if (len(cfg.DovecotTokens) > 0 || cfg.PostfixAddr != "") && cfg.Enforce != "off" {
			ds, err := decision.Open(ctx, p.js, decisionOptions(cfg))
			if err != nil {
				return nil, err
			}
			p.decisions = decision.NewIndex(ds, logger, reg)
		}
		if len(cfg.DovecotTokens) > 0 {
			if p.dovecot, err = dovecot.New(dovecotOptions(cfg, p.decisions), p.pub, logger, reg); err != nil {
				return nil, err
			}
		}
		if cfg.PostfixAddr != "" {
			if p.pfLn, err = net.Listen("tcp", cfg.PostfixAddr); err != nil {
				return nil, fmt.Errorf("postfix policy listener (VIGIL_POSTFIX_ADDR): %w", err)
			}
			po := postfixOptions(cfg, p.decisions)
			p.held = quarantine.NewRecorder(p.js, 0, logger, reg)
			po.Held = quarantine.PostfixHook{Recorder: p.held, Host: cfg.MailhostName}
			p.postfix = postfix.New(po, p.pub, logger, reg)
		}
	}
	if store == nil {
		return p, nil
	}
	var located engine.Geo
	if p.geo, located, err = openGeo(cfg); err != nil {
		return nil, err
	}
	ts, err := trustkv.Open(ctx, p.js, trustOptions(cfg))
	if err != nil {
		return nil, err
	}
	p.trust = trustkv.NewWatcher(ts, logger, reg)
	dopts, err := detectorOptions(cfg)
	if err != nil {
		return nil, err
	}
	p.detector, err = detector.New(p.js, store, located, func() engine.Trust { return p.trust.Set() }, dopts, logger, reg)
	return p, err
}

// register mounts the HTTP endpoints: events, and Dovecot's auth policy when enabled.
func (p *pipeline) register(mux *http.ServeMux) {
	p.ingest.Register(mux)
	if p.dovecot != nil {
		mux.Handle("/v1/dovecot/policy", p.dovecot)
	}
}

// sayMailOff tells the operator, per mail-server endpoint, that it is off and which variable switches it on, so
// that a snippet pasted into Dovecot or Postfix does not meet a silent 404 or a refused connection.
func (p *pipeline) sayMailOff(out io.Writer) {
	if p.dovecot == nil {
		fmt.Fprintln(out, "vigil: Dovecot auth policy endpoint off: set VIGIL_DOVECOT_TOKENS (the token of deploy/dovecot/95-vigil-policy.conf) to switch it on; until then /v1/dovecot/policy answers 404")
	}
	if p.postfix == nil {
		fmt.Fprintln(out, "vigil: Postfix policy service off: set VIGIL_POSTFIX_ADDR (like 127.0.0.1:10040, see deploy/postfix/main.cf.snippet) to switch it on")
	}
}

// runMail starts the mail-server components that are enabled, and the decisions' index they answer from.
func (p *pipeline) runMail(ctx context.Context, g *errgroup.Group, out io.Writer) {
	if p.decisions != nil {
		fmt.Fprintln(out, "vigil: enforcing containment decisions at the mail-server endpoints (VIGIL_ENFORCE=off only watches)")
		g.Go(func() error { return p.decisions.Run(ctx) })
	}
	if p.dovecot != nil {
		g.Go(func() error { return p.dovecot.Run(ctx) })
	}
	if p.postfix != nil {
		fmt.Fprintf(out, "vigil: Postfix policy service on %s (check_policy_service inet:%s)\n", p.pfLn.Addr(), p.pfLn.Addr())
		g.Go(func() error { return p.postfix.Serve(ctx, p.pfLn) })
		g.Go(func() error { return p.held.Run(ctx) })
	}
}

func (p *pipeline) close() {
	if p.pfLn != nil {
		p.pfLn.Close()
	}
	if p.geo != nil {
		p.geo.Close()
	}
}

func (p *pipeline) checks(ping func(context.Context) error) []httpapi.Check {
	cs := []httpapi.Check{{Name: "nats", Check: func(context.Context) error {
		if !p.nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}}}
	if ping != nil {
		cs = append(cs, httpapi.Check{Name: "clickhouse", Check: ping})
	}
	if p.decisions != nil {
		cs = append(cs, httpapi.Check{Name: "decisions", Check: func(context.Context) error {
			select {
			case <-p.decisions.Ready():
				return nil
			default:
				return errors.New("containment decisions not loaded yet (logins and mail are allowed meanwhile)")
			}
		}})
	}
	if p.detector != nil {
		cs = append(cs, httpapi.Check{Name: "detector", Check: func(context.Context) error { return p.detector.Health() }})
	}
	return cs
}

// ensureToken reads the single node's ingest token, creating a random one on first start.
func ensureToken(path string) (token, where string, err error) {
	if b, err := os.ReadFile(path); err == nil {
		if t := strings.TrimSpace(string(b)); len(t) >= 16 {
			return t, path, nil
		}
		return "", "", fmt.Errorf("ingest token file %s is shorter than 16 characters", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", fmt.Errorf("ingest token: %w", err)
	}
	buf := make([]byte, 24)
	rand.Read(buf)
	t := hex.EncodeToString(buf)
	if err := os.WriteFile(path, []byte(t+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("ingest token: %w", err)
	}
	return t, path, nil
}
