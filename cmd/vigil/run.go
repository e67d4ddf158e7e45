package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/bench"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/demo"
	"github.com/vigil-ids/vigil/internal/geoimport"
	"github.com/vigil-ids/vigil/internal/maillog"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

const usage = `usage: vigil [command] [flags]

Commands:
  run                 run the single-node pipeline (the default)
  trust add|list|remove
                      manage trusted networks ("mark as safe")
  geoip import        convert licence-free country data into a GeoIP2-Country database
  ingest-log          read Dovecot and Postfix log files into events (backfill, or -follow)
  admin create|rotate-key
                      create an admin account (password from the terminal or stdin); rotate VIGIL_AUTH_KEY
  demo                feed a generated day of events to a running node and print the incidents
  bench               measure the pipeline against raw JetStream and ClickHouse baselines
  config              print the configuration reference (every VIGIL_* variable)

Run "vigil run -h" for the settings; each flag has a VIGIL_* environment variable.
`

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	if helpAsked(args) { // before anything connects to NATS, ClickHouse or a node
		switch cmd {
		case "trust":
			fmt.Fprint(stdout, trustUsage)
			return nil
		case "admin":
			fmt.Fprint(stdout, adminUsage)
			return nil
		case "ingest-log":
			return maillog.RunCLI(ctx, nil, []string{"-h"}, false, stdout, stdout) // parses its flags before publishing
		case "config":
			fmt.Fprint(stdout, "usage: vigil config\n\nPrints the configuration reference: every VIGIL_* variable, its flag and default.\n")
			return nil
		}
	}
	switch cmd {
	case "run":
		cfg, logger, err := load("vigil", args, getenv, stderr)
		if err != nil {
			return err
		}
		return (&app.Node{Config: cfg, Logger: logger, Out: stdout}).Run(ctx)
	case "trust":
		cfg, err := config.Load("vigil trust", nil, getenv, stderr)
		if err != nil {
			return err
		}
		logger, _ := cfg.Logger(stderr)
		nc, err := natsbus.Connect(cfg.NATSURL, "vigil-trust", logger)
		if err != nil {
			return fmt.Errorf("%w (is vigil running? set VIGIL_NATS_URL)", err)
		}
		defer nc.Close()
		js, err := natsbus.NewJetStream(nc)
		if err != nil {
			return err
		}
		return trustkv.RunCLI(ctx, js, cfg.TrustedBucket, args, stdout, stderr)
	case "geoip":
		if len(args) == 0 || args[0] != "import" {
			return fmt.Errorf("usage: vigil geoip import [-format auto|whois-mmdb|tor] -out FILE INPUT [INPUT ...]")
		}
		return geoimport.Run(ctx, args[1:], stdout, stderr)
	case "ingest-log":
		cfg, err := config.Load("vigil ingest-log", nil, getenv, stderr)
		if err != nil {
			return err
		}
		logger, err := cfg.Logger(stderr)
		if err != nil {
			return err
		}
		return app.IngestLog(ctx, cfg, args, logger, stdout, stderr)
	case "admin":
		cfg, err := config.Load("vigil admin", nil, getenv, stderr)
		if err != nil {
			return err
		}
		return app.Admin(ctx, cfg, args, cfg.DataDir, stdin, stdout, stderr)
	case "demo":
		return demo.Demo(ctx, args, getenv, stdout, stderr)
	case "bench":
		return bench.Bench(ctx, args, getenv, stdout, stderr)
	case "config":
		fmt.Fprint(stdout, config.Reference())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

const trustUsage = `usage:
  vigil trust add -scope global|domain|user [-subject DOMAIN|USER] -description TEXT PREFIX
  vigil trust list [-json]
  vigil trust remove ID

PREFIX is an address or CIDR range, IPv4 /17-/32 or IPv6 /32-/128. Talks to the node's NATS at VIGIL_NATS_URL.
`

const adminUsage = `usage:
  vigil admin create -username NAME [-role admin|sub-admin|viewer]  (password from the terminal or stdin)
  vigil admin rotate-key -new-key-file FILE

Talks to the node's NATS at VIGIL_NATS_URL; the key is VIGIL_AUTH_KEY, VIGIL_AUTH_KEY_FILE or DATA_DIR/auth.key.
`

// helpAsked reports whether args ask for help (-h, -help, --help) before any "--".
func helpAsked(args []string) bool {
	for _, a := range args {
		switch a {
		case "--":
			return false
		case "-h", "-help", "--help":
			return true
		}
	}
	return false
}

func load(name string, args []string, getenv func(string) string, stderr io.Writer) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load(name, args, getenv, stderr)
	if err != nil {
		return nil, nil, err
	}
	logger, err := cfg.Logger(stderr)
	return cfg, logger, err
}
