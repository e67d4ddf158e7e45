// Command ingest accepts events over HTTP and stores them in an external NATS JetStream.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-ids/vigil/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if code := cli.Report(os.Stderr, "ingest:", err); code != cli.ExitOK {
		os.Exit(code)
	}
}
