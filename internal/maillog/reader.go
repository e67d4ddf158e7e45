package maillog

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Sink stores events; it returns nil only once all are stored.
type Sink interface {
	Publish(ctx context.Context, evs []event.Event) error
}

// Summary counts what a run read.
type Summary struct {
	Lines   int
	Events  int
	Skipped map[string]int
}

func (s *Summary) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.Skipped)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, s.Skipped[k]))
	}
	skipped := "none"
	if len(parts) > 0 {
		skipped = strings.Join(parts, ", ")
	}
	return fmt.Sprintf("%d lines read, %d events sent, lines skipped: %s", s.Lines, s.Events, skipped)
}

// Reader feeds log lines to a Parser and publishes the events in batches.
type Reader struct {
	Parser   *Parser
	Sink     Sink
	Batch    int           // events per publish; default 1000
	Poll     time.Duration // follow mode polling interval; default 250ms
	Progress io.Writer     // backfill progress, or nil
	sum      Summary
	pending  []event.Event
}

// Summary returns the counts so far.
func (r *Reader) Summary() Summary { return r.sum }

func (r *Reader) line(ctx context.Context, s string) error {
	r.sum.Lines++
	e, reason := r.Parser.Line(s)
	if reason != "" {
		if r.sum.Skipped == nil {
			r.sum.Skipped = map[string]int{}
		}
		r.sum.Skipped[reason]++
		return nil
	}
	r.pending = append(r.pending, e)
	if len(r.pending) >= max(r.Batch, 1) {
		return r.flush(ctx)
	}
	return nil
}

func (r *Reader) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	if err := r.Sink.Publish(ctx, r.pending); err != nil {
		return fmt.Errorf("store events: %w", err)
	}
	r.sum.Events += len(r.pending)
	r.pending = r.pending[:0]
	return nil
}

// Backfill reads whole files.
func (r *Reader) Backfill(ctx context.Context, paths ...string) error {
	if r.Batch == 0 {
		r.Batch = 1000
	}
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		st, _ := f.Stat()
		br := bufio.NewReaderSize(f, 64<<10)
		var done int64
		last := time.Now()
		for {
			s, err := readLine(br)
			done += int64(len(s)) + 1
			if s != "" || err == nil {
				if lerr := r.line(ctx, s); lerr != nil {
					f.Close()
					return lerr
				}
			}
			if r.Progress != nil && time.Since(last) > 200*time.Millisecond && st != nil && st.Size() > 0 {
				last = time.Now()
				fmt.Fprintf(r.Progress, "\r%s: %3.0f%% %s", path, 100*float64(min(done, st.Size()))/float64(st.Size()), bar(float64(done)/float64(st.Size())))
			}
			if err != nil {
				f.Close()
				if !errors.Is(err, io.EOF) {
					return fmt.Errorf("read %s: %w", path, err)
				}
				break
			}
			if ctx.Err() != nil {
				f.Close()
				return ctx.Err()
			}
		}
		if r.Progress != nil {
			fmt.Fprintf(r.Progress, "\r%s: 100%% %s\n", path, bar(1))
		}
	}
	return r.flush(ctx)
}

func bar(frac float64) string {
	n := int(min(max(frac, 0), 1) * 30)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 30-n) + "]"
}

// readLine reads a line without its newline; longer lines are returned whole up to MaxLine+1 bytes and the rest
// is discarded, so the parser reports them as too long.
func readLine(br *bufio.Reader) (string, error) {
	var b []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(b) <= MaxLine {
			b = append(b, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		s := strings.TrimRight(string(b), "\r\n")
		return s, err
	}
}

// Follow reads a file like tail -F: from its end (or start), forever, reopening it when it is rotated or
// truncated, until ctx is cancelled.
func (r *Reader) Follow(ctx context.Context, path string, fromStart bool) error {
	if r.Batch == 0 {
		r.Batch = 1000
	}
	if r.Poll == 0 {
		r.Poll = 250 * time.Millisecond
	}
	var (
		f      *os.File
		br     *bufio.Reader
		ino    uint64
		offset int64
		part   string
	)
	open := func(seekEnd bool) {
		nf, err := os.Open(path)
		if err != nil {
			return
		}
		if f != nil {
			f.Close()
		}
		f, br, offset, part = nf, bufio.NewReaderSize(nf, 64<<10), 0, ""
		if st, err := nf.Stat(); err == nil {
			ino = inode(st)
			if seekEnd {
				offset, _ = nf.Seek(0, io.SeekEnd)
			}
		}
	}
	open(!fromStart)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	tick := time.NewTicker(r.Poll)
	defer tick.Stop()
	for {
		if f != nil {
			for {
				s, err := br.ReadString('\n')
				offset += int64(len(s))
				if err != nil { // an incomplete last line: keep it until its newline arrives
					part += s
					break
				}
				if lerr := r.line(ctx, strings.TrimRight(part+s, "\r\n")); lerr != nil {
					return lerr
				}
				part = ""
			}
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return r.flush(context.WithoutCancel(ctx))
		case <-tick.C:
		}
		st, err := os.Stat(path)
		switch {
		case err != nil: // rotated away and not yet recreated
		case f == nil || inode(st) != ino:
			open(false) // a new file: read it from the start
		case st.Size() < offset:
			open(false) // truncated
		}
	}
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// RunCLI implements vigil ingest-log [-follow] [-from-start] [-format auto|dovecot|postfix] FILE...
func RunCLI(ctx context.Context, sink Sink, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("vigil ingest-log", flag.ContinueOnError)
	fs.SetOutput(stderr)
	follow := fs.Bool("follow", false, "keep reading the file as it grows, surviving rotation (one file)")
	fromStart := fs.Bool("from-start", false, "with -follow, read the existing content first")
	format := fs.String("format", "auto", "which lines to read: auto (Dovecot and Postfix), dovecot or postfix")
	tz := fs.String("tz", "Local", "time zone of syslog timestamps (RFC 3339 timestamps carry their own)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *format != "auto" && *format != "dovecot" && *format != "postfix" {
		return fmt.Errorf("ingest-log: -format %q: want auto, dovecot or postfix", *format)
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return fmt.Errorf("ingest-log: -tz: %w", err)
	}
	if fs.NArg() == 0 || *follow && fs.NArg() != 1 {
		return errors.New("usage: vigil ingest-log [-follow [-from-start]] [-format auto|dovecot|postfix] FILE... (-follow takes one file)")
	}
	p := NewParser(*format)
	p.Loc = loc
	r := &Reader{Parser: p, Sink: sink}
	if isTerminal(stderr) {
		r.Progress = stderr
	}
	start := time.Now()
	if *follow {
		err = r.Follow(ctx, fs.Arg(0), *fromStart)
	} else {
		err = r.Backfill(ctx, fs.Args()...)
	}
	sum := r.Summary()
	fmt.Fprintf(stdout, "ingest-log: %s in %s\n", sum.String(), time.Since(start).Round(time.Millisecond))
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
