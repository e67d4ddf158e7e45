package cli

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

// Main runs p as the process (cmd/ingest, cmd/detector, cmd/authapi): its context ends on SIGINT or SIGTERM, SIGHUP
// is a reload request when p.Reloads, it gets the process's arguments, environment and standard streams, and what
// it returns is reported on stderr after errPrefix (see Report). Main returns the exit code.
func Main(p *Program, errPrefix string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e := Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	if p.Reloads {
		var stopReload func()
		e.Reload, stopReload = ReloadOnSignal(syscall.SIGHUP)
		defer stopReload()
	}
	err := p.Run(ctx, os.Args[1:], e)
	return Report(os.Stderr, errPrefix, err)
}

// ReloadOnSignal returns a channel that receives once for each arrival of one of sigs (arrivals while the last
// is not received yet count as one), and the function that stops it.
func ReloadOnSignal(sigs ...os.Signal) (<-chan struct{}, func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, sigs...)
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				select {
				case out <- struct{}{}:
				default:
				}
			case <-done:
				return
			}
		}
	}()
	return out, func() {
		signal.Stop(ch)
		close(done)
	}
}
