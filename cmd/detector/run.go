package main

import (
	"context"
	"io"

	"github.com/vigil-ids/vigil/internal/cli"
)

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return cli.Detector().Run(ctx, args, cli.Env{Getenv: getenv, Stdout: stdout, Stderr: stderr})
}
