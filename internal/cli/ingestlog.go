package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/maillog"
)

// ingestLog is vigil ingest-log (and ingest ingest-log): backfill reads whole files (a progress bar when stderr is
// a terminal), -follow reads each file like tail -F until stopped. Either way it prints a summary to stdout. With
// -smtp-auth auto, the default, Postfix's failed SMTP AUTH lines are skipped when Dovecot's policy endpoint is on
// (VIGIL_DOVECOT_TOKENS is set), because Dovecot SASL already reports each of them.
func ingestLog() *Command {
	var (
		f                    maillog.Files
		tz, smtpAuth, format string
	)
	return &Command{
		Name:     "ingest-log",
		Summary:  "read Dovecot and Postfix log files into events (backfill, or -follow)",
		Synopsis: "[-follow [-from-start]] [-format auto|dovecot|postfix] [-tz ZONE] [-smtp-auth auto|yes|no] FILE...",
		Help:     "Reads Dovecot and Postfix log files (plain or gzip) into login and send events; reading a file twice adds nothing.",
		MaxArgs:  Many, // at least one FILE, checked with the flags so that every problem is reported at once
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.BoolVar(&f.Follow, "follow", false, "keep reading the files as they grow, like tail -F, across rotation and truncation")
			fs.BoolVar(&f.FromStart, "from-start", false, "with -follow, read the existing content first")
			fs.StringVar(&format, "format", "auto", "which lines to read: auto (Dovecot and Postfix), dovecot or postfix")
			fs.StringVar(&tz, "tz", "Local", "time zone of syslog timestamps (RFC 3339 timestamps carry their own)")
			fs.StringVar(&smtpAuth, "smtp-auth", "auto", "read Postfix's failed SMTP AUTH lines: yes, no, or auto = no when Dovecot's policy endpoint is on (VIGIL_DOVECOT_TOKENS set; with Dovecot SASL it reports them already), yes otherwise")
		},
		Run: func(ctx context.Context, e Env) error {
			var errs []error
			if !slices.Contains(maillog.Formats, format) {
				errs = append(errs, fmt.Errorf("-format %q: want %s", format, orList(maillog.Formats)))
			}
			loc, err := time.LoadLocation(tz)
			if err != nil {
				errs = append(errs, fmt.Errorf("-tz: %w", err))
			}
			skip, auto := false, false
			switch smtpAuth {
			case "auto":
				auto = true
			case "yes", "true":
			case "no", "false":
				skip = true
			default:
				errs = append(errs, fmt.Errorf("-smtp-auth %q: want auto, yes or no", smtpAuth))
			}
			if len(e.Args) == 0 {
				errs = append(errs, errors.New("no log file given"))
			}
			if f.FromStart && !f.Follow {
				errs = append(errs, errors.New("-from-start needs -follow"))
			}
			if err := errors.Join(errs...); err != nil {
				return usagef("%w", err)
			}
			cfg, logger, err := settings(e)
			if err != nil {
				return err
			}
			f.Paths, f.Format, f.Loc = e.Args, format, loc
			f.SkipSMTPAuth = skip || auto && len(cfg.DovecotTokens) > 0
			sink, closeSink, err := app.LogSink(ctx, cfg, logger)
			if err != nil {
				return err
			}
			defer closeSink()
			o := maillog.Options{}
			if !f.Follow && isTerminal(e.Stderr) {
				o.Progress = e.Stderr
			}
			start := time.Now()
			sum, err := maillog.Read(ctx, sink, f, o, logger)
			fmt.Fprintf(e.Stdout, "ingest-log: %s in %s\n", sum, time.Since(start).Round(time.Millisecond))
			if err != nil && !errors.Is(err, context.Canceled) {
				return fmt.Errorf("ingest-log: %w", err)
			}
			return nil
		},
	}
}

// orList writes "a, b or c".
func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func isTerminal(w io.Writer) bool {
	file, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := file.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
