package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/audit"
	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/console"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/natsbus"
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

// newAuth builds the auth API and its auditor.
func newAuth(ctx context.Context, cfg *config.Config, js jetstream.JetStream, key []byte, store *chstore.Store, logger *slog.Logger, reg prometheus.Registerer) (*authapi.Server, *audit.Auditor, error) {
	aud := audit.New(js.Conn(), natsbus.NewPublisher(js, cfg.Partitions, nil), store, logger, reg, audit.Options{})
	o := authOptions(cfg)
	ts, err := trustkv.Open(ctx, js, trustOptions(cfg)) // the console's "mark as safe" writes what the detector watches
	if err != nil {
		return nil, nil, err
	}
	o.Console = authapi.Console{History: store, Trust: ts}
	s, err := authapi.New(ctx, js, key, o, aud, logger, reg)
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
	con, err := console.New(s.Handler(), logger)
	if err != nil {
		return err
	}
	mux := s.WithConsole(ops, con) // /readyz, /metrics and the console behind the admin allow list
	ln, err := net.Listen("tcp", cfg.AuthAddr)
	if err != nil {
		return fmt.Errorf("auth listener: %w", err)
	}
	fmt.Fprintf(out, "vigil-authapi: admin auth API on http://%s/v1/, console on http://%s/\n", ln.Addr(), ln.Addr())
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return httpapi.Serve(gctx, ln, mux, logger) })
	g.Go(func() error { return s.Run(gctx) })
	g.Go(func() error { return s.RunConsole(gctx) })
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
