package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/secretbox"
)

// auditor writes the auth API's audit records to ClickHouse (batched, retried) and NATS (vigil.audit.<action>),
// and publishes admin logins as login events (service admin) so the detector watches the admins too.
type auditor struct {
	nc     *nats.Conn
	pub    *natsbus.Publisher
	store  *chstore.Store // nil: NATS only
	logger *slog.Logger
	queue  chan authapi.AuditRecord
	logins chan event.Event
}

func newAuditor(nc *nats.Conn, pub *natsbus.Publisher, store *chstore.Store, logger *slog.Logger) *auditor {
	return &auditor{nc: nc, pub: pub, store: store, logger: logger, queue: make(chan authapi.AuditRecord, 10000), logins: make(chan event.Event, 10000)}
}

// Audit queues a record; a full queue is logged (never blocks a login).
func (a *auditor) Audit(r authapi.AuditRecord) {
	if data, err := json.Marshal(r); err == nil {
		a.nc.Publish("vigil.audit."+r.Action, data)
	}
	select {
	case a.queue <- r:
	default:
		a.logger.Error("audit record dropped: queue full", "action", r.Action)
	}
}

// AdminLogin queues a login event of an admin.
func (a *auditor) AdminLogin(user string, ip netip.Addr, ok bool, at time.Time) {
	e, err := event.New(event.Event{Kind: event.KindLogin, Time: at.UTC(), User: user, IP: ip, Service: "admin", Success: ok, Source: "vigil-authapi"}, time.Now())
	if err != nil {
		return
	}
	select {
	case a.logins <- e:
	default:
		a.logger.Error("admin login event dropped: queue full")
	}
}

// Run flushes queued records about once a second until ctx ends, then once more.
func (a *auditor) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var rows []chstore.AuditRow
	var logins []event.Event
	flush := func(ctx context.Context) {
		for len(a.queue) > 0 {
			r := <-a.queue
			rows = append(rows, chstore.AuditRow{EventID: r.EventID, Time: r.Time, Action: r.Action, Actor: r.Actor, ClientIP: r.ClientIP,
				Target: r.Target, Result: r.Result, Before: r.Before, After: r.After})
		}
		for len(a.logins) > 0 {
			logins = append(logins, <-a.logins)
		}
		if len(rows) > 0 && a.store != nil {
			if err := a.store.WriteAudit(ctx, rows); err != nil {
				a.logger.Warn("audit rows not written yet; retrying", "rows", len(rows), "err", err)
			} else {
				rows = rows[:0]
			}
		} else {
			rows = rows[:0]
		}
		if len(logins) > 0 && a.pub != nil {
			if err := a.pub.Publish(ctx, logins); err != nil {
				a.logger.Warn("admin login events not stored yet; retrying", "events", len(logins), "err", err)
			} else {
				logins = logins[:0]
			}
		}
	}
	for {
		select {
		case <-tick.C:
			flush(ctx)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(sctx)
			cancel()
			return nil
		}
	}
}

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

func authOptions(cfg *config.Config) authapi.Options {
	return authapi.Options{Issuer: cfg.AuthIssuer, SessionTTL: cfg.AuthSessionTTL, IdleTimeout: cfg.AuthIdleTimeout,
		Require2FA: cfg.AuthRequire2FA, TrustedProxies: cfg.TrustedProxies, Replicas: cfg.StreamReplicas}
}

// newAuth builds the auth API and its auditor.
func newAuth(ctx context.Context, cfg *config.Config, js jetstream.JetStream, key []byte, store *chstore.Store, logger *slog.Logger, reg prometheus.Registerer) (*authapi.Server, *auditor, error) {
	aud := newAuditor(js.Conn(), natsbus.NewPublisher(js, cfg.Partitions, nil), store, logger)
	s, err := authapi.New(ctx, js, key, authOptions(cfg), aud, logger, reg)
	return s, aud, err
}

// RunAuthAPI runs the auth API alone against an external NATS and ClickHouse (cmd/authapi).
func RunAuthAPI(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error {
	key, err := authKey(cfg, "")
	if err != nil {
		return err
	}
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-authapi", logger)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	reg := Registry()
	store, stop, err := openStore(ctx, cfg, "", false, logger, reg, out)
	if err != nil {
		return err
	}
	defer stop()
	defer store.Close()
	s, aud, err := newAuth(ctx, cfg, js, key, store, logger, reg)
	if err != nil {
		return err
	}
	ops := http.NewServeMux()
	httpapi.Ops(ops, reg, httpapi.Check{Name: "nats", Check: func(context.Context) error {
		if !nc.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	}}, httpapi.Check{Name: "clickhouse", Check: store.Ping})
	mux := s.WithOps(ops) // /readyz and /metrics behind the admin allow list
	ln, err := net.Listen("tcp", cfg.AuthAddr)
	if err != nil {
		return fmt.Errorf("auth listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-authapi: admin auth API on http://%s/v1/\n", ln.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return aud.Run(gctx) })
	return g.Wait()
}

// Admin implements "vigil admin create|rotate-key" and "authapi create-admin|rotate-key" against the NATS at
// VIGIL_NATS_URL; dataDir is where the single node keeps its generated key.
func Admin(ctx context.Context, cfg *config.Config, args []string, dataDir string, stdin io.Reader, stdout, stderr io.Writer) error {
	usage := errors.New("usage: admin create -username NAME [-role admin|sub-admin|viewer]  (password from the terminal or stdin)\n       admin rotate-key -new-key-file FILE")
	if len(args) == 0 {
		return usage
	}
	fs := flag.NewFlagSet("admin "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	username := fs.String("username", "", "account name")
	role := fs.String("role", authapi.RoleAdmin, "admin, sub-admin or viewer")
	newKeyFile := fs.String("new-key-file", "", "file with the new key (rotate-key)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	keyFile := ""
	if dataDir != "" {
		keyFile = filepath.Join(dataDir, "auth.key")
	}
	key, err := authKey(cfg, keyFile)
	if err != nil {
		return err
	}
	logger := slog.New(slog.DiscardHandler)
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-admin", logger)
	if err != nil {
		return fmt.Errorf("%w (is vigil running? set VIGIL_NATS_URL)", err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		if *username == "" {
			return usage
		}
		pw, err := authapi.ReadPassword(stdin, stderr)
		if err != nil {
			return err
		}
		s, err := authapi.New(ctx, js, key, authOptions(cfg), nil, logger, nil)
		if err != nil {
			return err
		}
		if err := s.CreateAccount(ctx, *username, pw, *role); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created %s account %q; log in at POST /v1/auth/login and enroll two-factor authentication\n", *role, *username)
		return nil
	case "rotate-key":
		if *newKeyFile == "" {
			return usage
		}
		newKey, err := secretbox.LoadKey("", *newKeyFile)
		if err != nil {
			return err
		}
		n, err := authapi.RotateKey(ctx, js, key, newKey)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "re-encrypted the secrets of %d accounts; restart with VIGIL_AUTH_KEY_FILE=%s\n", n, *newKeyFile)
		return nil
	}
	return usage
}
