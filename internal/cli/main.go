package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs p as the process (cmd/ingest, cmd/detector, cmd/authapi): its context ends on SIGINT or SIGTERM, it gets
// the process's arguments, environment and standard streams, and what it returns is reported on stderr after
// errPrefix (see Report). Main returns the exit code.
func Main(p *Program, errPrefix string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := p.Run(ctx, os.Args[1:], Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	return Report(os.Stderr, errPrefix, err)
}
