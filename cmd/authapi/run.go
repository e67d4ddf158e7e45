package main

import (
	"context"
	"io"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/config"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) > 0 && (args[0] == "create-admin" || args[0] == "rotate-key") {
		cfg, err := config.Load("authapi "+args[0], nil, getenv, stderr)
		if err != nil {
			return err
		}
		sub := "create"
		if args[0] == "rotate-key" {
			sub = "rotate-key"
		}
		return app.Admin(ctx, cfg, append([]string{sub}, args[1:]...), "", stdin, stdout, stderr)
	}
	cfg, err := config.Load("authapi", args, getenv, stderr)
	if err != nil {
		return err
	}
	logger, err := cfg.Logger(stderr)
	if err != nil {
		return err
	}
	return app.RunAuthAPI(ctx, cfg, logger, stdout)
}
