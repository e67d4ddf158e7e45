// Command detector consumes events from an external NATS JetStream and writes rows and incidents to ClickHouse.
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
	if code := cli.Report(os.Stderr, "detector:", err); code != cli.ExitOK {
		os.Exit(code)
	}
}
