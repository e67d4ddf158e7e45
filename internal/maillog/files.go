package maillog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/event"
)

// Formats are the values of Files.Format: auto (Dovecot and Postfix lines), dovecot or postfix.
var Formats = []string{"auto", "dovecot", "postfix"}

// Files says which log files to read and how (vigil ingest-log).
type Files struct {
	Paths        []string
	Follow       bool           // keep reading the files as they grow, like tail -F, until the context is cancelled
	FromStart    bool           // with Follow, read the existing content first
	Format       string         // one of Formats
	Loc          *time.Location // time zone of syslog timestamps (RFC 3339 timestamps carry their own)
	SkipSMTPAuth bool           // ignore Postfix's failed SMTP AUTH lines (Dovecot's policy endpoint reports them)
}

// Read reads the files into sink with readers configured by o: a backfill reads them whole, Follow reads each one
// like tail -F with a reader of its own (Postfix's smtpd and qmgr lines of a message are in the same file) until ctx
// is cancelled. The summary counts what was read, also when the error is not nil.
func Read(ctx context.Context, sink event.Sink, f Files, o Options, logger *slog.Logger) (Summary, error) {
	newReader := func() (*Reader, error) {
		p := NewParser(f.Format)
		p.Loc, p.SkipSMTPAuth = f.Loc, f.SkipSMTPAuth
		return NewReader(p, sink, o, logger)
	}
	if !f.Follow {
		r, err := newReader()
		if err != nil {
			return Summary{}, err
		}
		err = r.Backfill(ctx, f.Paths...)
		return r.Summary(), err
	}
	var (
		mu  sync.Mutex
		sum Summary
	)
	readers := make([]*Reader, len(f.Paths))
	for i := range readers {
		var err error
		if readers[i], err = newReader(); err != nil {
			return Summary{}, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, path := range f.Paths {
		r := readers[i]
		g.Go(func() error {
			err := r.Follow(gctx, path, f.FromStart)
			mu.Lock()
			sum.add(r.Summary())
			mu.Unlock()
			if err != nil {
				return fmt.Errorf("follow %s: %w", path, err)
			}
			return nil
		})
	}
	err := g.Wait()
	return sum, err
}
