// Command vigil is Vigil's single-node distribution: ingest and detector around an embedded NATS server, plus
// the operator's sub-commands.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/vigil-ids/vigil/internal/cli"
)

func main() {
	ctx, stop := stopOnSignal(context.Background(), os.Stderr, os.Interrupt, syscall.SIGTERM)
	reload, stopReload := cli.ReloadOnSignal(syscall.SIGHUP) // vigil run: the containment policy file is read again
	err := run(ctx, os.Args[1:], os.Getenv, reload, os.Stdin, os.Stdout, os.Stderr)
	stopReload()
	stop()
	if code := cli.Report(os.Stderr, "vigil: stopped:", err); code != cli.ExitOK {
		os.Exit(code)
	}
	if context.Cause(ctx) != nil {
		fmt.Fprintln(os.Stderr, "vigil: stopped")
	}
}

// stopOnSignal returns a context cancelled when one of sigs arrives, saying on w that Vigil shuts down and why
// (journald keeps it under systemd).
func stopOnSignal(parent context.Context, w io.Writer, sigs ...os.Signal) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			fmt.Fprintf(w, "vigil: shutting down: received %v\n", s)
			cancel(fmt.Errorf("signal %v", s))
		case <-done:
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		close(done)
	}
}
