package maillog

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/vigil-ids/vigil/internal/event"
)

// RunCLI implements vigil ingest-log [-follow [-from-start]] [-format auto|dovecot|postfix] [-tz ZONE]
// [-smtp-auth auto|yes|no] FILE...: backfill reads whole files (a progress bar when stderr is a terminal), follow
// reads each file like tail -F until ctx is cancelled. Either way it prints a summary to stdout. dovecotReports
// says that Dovecot's policy endpoint is enabled (VIGIL_DOVECOT_TOKENS is set): with -smtp-auth auto, the default,
// Postfix's failed SMTP AUTH lines are then skipped, because Dovecot SASL already reports each of them.
func RunCLI(ctx context.Context, sink event.Sink, args []string, dovecotReports bool, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("ingest-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: vigil ingest-log [-follow [-from-start]] [-format auto|dovecot|postfix] [-tz ZONE] [-smtp-auth auto|yes|no] FILE...")
		fmt.Fprintln(stderr, "Reads Dovecot and Postfix log files (plain or gzip) into login and send events; reading a file twice adds nothing.")
		fs.PrintDefaults()
	}
	follow := fs.Bool("follow", false, "keep reading the files as they grow, like tail -F, across rotation and truncation")
	fromStart := fs.Bool("from-start", false, "with -follow, read the existing content first")
	format := fs.String("format", "auto", "which lines to read: auto (Dovecot and Postfix), dovecot or postfix")
	tz := fs.String("tz", "Local", "time zone of syslog timestamps (RFC 3339 timestamps carry their own)")
	smtpAuth := fs.String("smtp-auth", "auto", "read Postfix's failed SMTP AUTH lines: yes, no, or auto = no when Dovecot's policy endpoint is on (VIGIL_DOVECOT_TOKENS set; with Dovecot SASL it reports them already), yes otherwise")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var errs []error
	if *format != "auto" && *format != "dovecot" && *format != "postfix" {
		errs = append(errs, fmt.Errorf("-format %q: want auto, dovecot or postfix", *format))
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		errs = append(errs, fmt.Errorf("-tz: %w", err))
	}
	skipSMTPAuth := dovecotReports
	switch *smtpAuth {
	case "auto":
	case "yes", "true":
		skipSMTPAuth = false
	case "no", "false":
		skipSMTPAuth = true
	default:
		errs = append(errs, fmt.Errorf("-smtp-auth %q: want auto, yes or no", *smtpAuth))
	}
	if fs.NArg() == 0 {
		errs = append(errs, errors.New("no log file given"))
	}
	if *fromStart && !*follow {
		errs = append(errs, errors.New("-from-start needs -follow"))
	}
	if err := errors.Join(errs...); err != nil {
		fs.Usage()
		return fmt.Errorf("ingest-log: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	o := Options{}
	if !*follow && isTerminal(stderr) {
		o.Progress = stderr
	}
	o.setDefaults()
	newReader := func() *Reader {
		p := NewParser(*format)
		p.Loc, p.SkipSMTPAuth = loc, skipSMTPAuth
		return &Reader{parser: p, sink: sink, opts: o, logger: logger}
	}
	start := time.Now()
	var sum Summary
	if *follow {
		// One reader per file: Postfix's smtpd and qmgr lines of a message are in the same file.
		var mu sync.Mutex
		g, gctx := errgroup.WithContext(ctx)
		for _, path := range fs.Args() {
			g.Go(func() error {
				r := newReader()
				err := r.Follow(gctx, path, *fromStart)
				mu.Lock()
				sum.add(r.Summary())
				mu.Unlock()
				if err != nil {
					return fmt.Errorf("follow %s: %w", path, err)
				}
				return nil
			})
		}
		err = g.Wait()
	} else {
		r := newReader()
		err = r.Backfill(ctx, fs.Args()...)
		sum = r.Summary()
	}
	fmt.Fprintf(stdout, "ingest-log: %s in %s\n", sum, time.Since(start).Round(time.Millisecond))
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("ingest-log: %w", err)
	}
	return nil
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
