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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/audit"
	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/console"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/mailbox2fa"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/secretbox"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// authKey loads the encryption key; with createIn set (the single node) a missing key is generated into that file.
func authKey(cfg *config.Config, createIn string) ([]byte, error) {
	file := cfg.AuthKeyFile
	if cfg.AuthKey == "" && file == "" && createIn != "" {
		file = createIn
		if _, err := os.Stat(file); errors.Is(err, os.ErrNotExist) {
			b := make([]byte, 32)
			rand.Read(b)
			if err := os.WriteFile(file, []byte(hex.EncodeToString(b)+"\n"), 0o600); err != nil {
				return nil, fmt.Errorf("create auth key: %w", err)
			}
		}
	}
	return secretbox.LoadKey(cfg.AuthKey, file)
}

// newDecisionIndex opens the decisions' bucket and returns an index over it, to be run.
func newDecisionIndex(ctx context.Context, cfg *config.Config, js jetstream.JetStream, logger *slog.Logger, reg prometheus.Registerer) (*decision.Index, error) {
	ds, err := decision.Open(ctx, js, decisionOptions(cfg))
	if err != nil {
		return nil, err
	}
	return decision.NewIndex(ds, logger, reg), nil
}

// newAuth builds the auth API and its auditor; blocks (nil: none) is the decisions' index mailbox 2FA's step-up
// reads pending block_login decisions from.
func newAuth(ctx context.Context, cfg *config.Config, js jetstream.JetStream, key []byte, store *chstore.Store, blocks *decision.Index, logger *slog.Logger, reg prometheus.Registerer) (*authapi.Server, *audit.Auditor, error) {
	aud := audit.New(js.Conn(), natsbus.NewPublisher(js, cfg.Partitions, nil), store, logger, reg, audit.Options{})
	o := authOptions(cfg)
	ts, err := trustkv.Open(ctx, js, trustOptions(cfg)) // the console's "mark as safe" writes what the detector watches
	if err != nil {
		return nil, nil, err
	}
	ds, err := decision.Open(ctx, js, decisionOptions(cfg)) // the console's and the API's decisions
	if err != nil {
		return nil, nil, err
	}
	o.Console = authapi.Console{History: store, Trust: ts, Decisions: ds, Quarantine: newQuarantine(cfg, js, store, aud, logger, reg)}
	s, err := authapi.New(ctx, js, key, o, aud, logger, reg)
	if err == nil {
		err = mountMailbox2FA(ctx, cfg, js, key, s, store, blocks, aud, logger, reg)
	}
	return s, aud, err
}

// newQuarantine is the auth API's side of the mail quarantine: held records and the mail hosts' results into
// ClickHouse, release and delete commands out; what it does on its own (a result, a release of ReleaseIncident)
// is audited. Nil without ClickHouse.
func newQuarantine(cfg *config.Config, js jetstream.JetStream, store *chstore.Store, aud *audit.Auditor, logger *slog.Logger, reg prometheus.Registerer) *quarantine.Manager {
	if store == nil {
		return nil
	}
	record := func(action, actor, target, result, detail string) {
		id := make([]byte, 16)
		rand.Read(id)
		aud.Audit(authapi.AuditRecord{EventID: "a_" + hex.EncodeToString(id), Time: time.Now().UTC(), Action: action, Actor: actor,
			Target: target, Result: result, After: detail})
	}
	return quarantine.NewManager(js, store, quarantine.ManagerOptions{Replicas: cfg.StreamReplicas, Audit: record}, logger, reg)
}

// RunAuthAPI runs the auth API alone against an external NATS and ClickHouse (cmd/authapi). Every receive on
// reload (SIGHUP; nil: none) makes its responder re-read the containment policy file.
func RunAuthAPI(ctx context.Context, cfg *config.Config, reload <-chan struct{}, logger *slog.Logger, out io.Writer) error {
	key, err := authKey(cfg, "")
	if err != nil {
		return err
	}
	x, err := connectExternal(ctx, cfg, "vigil-authapi", true, logger, out)
	if err != nil {
		return err
	}
	defer x.close()
	js, err := natsbus.NewJetStream(x.nc)
	if err != nil {
		return err
	}
	blocks, err := newDecisionIndex(ctx, cfg, js, logger, x.reg) // mailbox 2FA's step-up on a pending block_login
	if err != nil {
		return err
	}
	s, aud, err := newAuth(ctx, cfg, js, key, x.store, blocks, logger, x.reg)
	if err != nil {
		return err
	}
	resp, respTrust, err := newResponder(ctx, cfg, js, aud, s, reload, logger, x.reg) // s releases held mail (the quarantine)
	if err != nil {
		return err
	}
	ops := http.NewServeMux()
	checks := []httpapi.Check{{Name: "nats", Check: func(context.Context) error {
		if !x.nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}}, {Name: "clickhouse", Check: x.store.Ping}}
	httpapi.Ops(ops, x.reg, append(checks, responderCheck(resp)...)...)
	con, err := console.New(s.Handler(), logger)
	if err != nil {
		return err
	}
	mux := s.WithConsole(ops, con) // /readyz, /metrics and the console behind the admin allow list
	notifier, err := newNotify(ctx, cfg, js, x.store, "vigil-authapi", logger, x.reg, out)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.AuthAddr)
	if err != nil {
		return fmt.Errorf("auth listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-authapi: admin auth API on http://%s/v1/, console on http://%s/\n", ln.Addr(), ln.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return s.RunConsole(gctx) })
	g.Go(func() error { return blocks.Run(gctx) })
	g.Go(func() error { return aud.Run(gctx) })
	g.Go(func() error { return notifier(gctx) })
	for _, run := range runResponder(resp, respTrust) {
		g.Go(func() error { return run(gctx) })
	}
	return g.Wait()
}

// Admin is an operator's session with the auth API's records in the NATS at VIGIL_NATS_URL (vigil admin,
// authapi create-admin and rotate-key).
type Admin struct {
	cfg *config.Config
	key []byte
	nc  *nats.Conn
	js  jetstream.JetStream
}

// OpenAdmin loads the auth key and connects. keyDir is where the single node keeps the key it generates
// (keyDir/auth.key); "" for cmd/authapi, whose key must be configured.
func OpenAdmin(cfg *config.Config, keyDir string) (*Admin, error) {
	keyFile := ""
	if keyDir != "" {
		keyFile = filepath.Join(keyDir, "auth.key")
	}
	key, err := authKey(cfg, keyFile)
	if err != nil {
		return nil, err
	}
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-admin", slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, fmt.Errorf("%w (is vigil running? set VIGIL_NATS_URL)", err)
	}
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Admin{cfg: cfg, key: key, nc: nc, js: js}, nil
}

// Close ends the session.
func (a *Admin) Close() { a.nc.Close() }

// CreateAccount creates an admin account with the role (admin, sub-admin or viewer).
func (a *Admin) CreateAccount(ctx context.Context, username, password, role string) error {
	s, err := authapi.New(ctx, a.js, a.key, authOptions(a.cfg), nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	return s.CreateAccount(ctx, username, password, role)
}

// RotateKey re-encrypts every stored secret with the key in newKeyFile and returns how many accounts it touched.
func (a *Admin) RotateKey(ctx context.Context, newKeyFile string) (int, error) {
	newKey, err := secretbox.LoadKey("", newKeyFile)
	if err != nil {
		return 0, err
	}
	if _, err := mailbox2fa.RotateKey(ctx, a.js, a.key, newKey); err != nil { // before the new key is recorded
		return 0, err
	}
	return authapi.RotateKey(ctx, a.js, a.key, newKey)
}
