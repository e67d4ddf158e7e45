// Command authapi protects the admin panel: admin accounts, password + TOTP login, recovery codes, API keys and
// the admin IP access list, against an external NATS and ClickHouse.
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
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if code := cli.Report(os.Stderr, "authapi:", err); code != cli.ExitOK {
		os.Exit(code)
	}
}
