package main

import (
	"context"
	"io"

	"github.com/vigil-ids/vigil/internal/cli"
)

func run(ctx context.Context, args []string, getenv func(string) string, reload func() <-chan struct{}, stdin io.Reader, stdout, stderr io.Writer) error {
	return cli.Vigil().Run(ctx, args, cli.Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr, Reload: reload})
}
