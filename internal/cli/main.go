package cli

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// Main runs p as the process (cmd/ingest, cmd/detector, cmd/authapi): its context ends on SIGINT or SIGTERM, SIGHUP
// is a reload request for the commands that take one, it gets the process's arguments, environment and standard
// streams, and what it returns is reported on stderr after errPrefix (see Report). Main returns the exit code.
func Main(p *Program, errPrefix string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload, stopReload := ReloadOnSignal(syscall.SIGHUP)
	defer stopReload()
	err := p.Run(ctx, os.Args[1:], Env{Getenv: os.Getenv, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Reload: reload})
	return Report(os.Stderr, errPrefix, err)
}

// ReloadOnSignal returns the subscription of Env.Reload: once called, one of sigs no longer has its default action
// but is a reload request, and the channel it returns receives once per arrival (arrivals while one is not taken
// yet count as one). Until it is called the signals keep their default. stop ends it.
func ReloadOnSignal(sigs ...os.Signal) (subscribe func() <-chan struct{}, stop func()) {
	var (
		once sync.Once
		mu   sync.Mutex
		ch   chan os.Signal
	)
	out := make(chan struct{}, 1)
	done := make(chan struct{})
	subscribe = func() <-chan struct{} {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			ch = make(chan os.Signal, 1)
			signal.Notify(ch, sigs...)
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
		})
		return out
	}
	var stopOnce sync.Once
	stop = func() {
		stopOnce.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			if ch != nil {
				signal.Stop(ch)
			}
			close(done)
		})
	}
	return subscribe, stop
}
