package main

import (
	"context"
	"io"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/maillog"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ingest-log" {
		for _, a := range args[1:] {
			if a == "-h" || a == "-help" || a == "--help" { // usage before anything connects to NATS
				return maillog.RunCLI(ctx, nil, []string{"-h"}, false, stdout, stdout)
			}
		}
		cfg, err := config.Load("ingest ingest-log", nil, getenv, stderr)
		if err != nil {
			return err
		}
		logger, err := cfg.Logger(stderr)
		if err != nil {
			return err
		}
		return app.IngestLog(ctx, cfg, args[1:], logger, stdout, stderr)
	}
	cfg, err := config.Load("ingest", args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := cfg.Logger(stderr)
	if err != nil {
		return err
	}
	return app.RunIngest(ctx, cfg, logger, stdout)
}
