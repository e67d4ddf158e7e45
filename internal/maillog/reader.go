package maillog

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/retry"
)

// Summary counts what a run read.
type Summary struct {
	Lines   int
	Events  int            // events stored (the store drops those it already holds)
	Skipped map[string]int // lines without an event, by reason
}

func (s Summary) String() string {
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

func (s *Summary) add(o Summary) {
	s.Lines += o.Lines
	s.Events += o.Events
	for k, v := range o.Skipped {
		if s.Skipped == nil {
			s.Skipped = map[string]int{}
		}
		s.Skipped[k] += v
	}
}

// Options configures a Reader.
type Options struct {
	Batch    int           // events per publish; default 1000
	Poll     time.Duration // follow mode: how often to look for new lines, rotation and truncation; default 250ms
	GiveUp   time.Duration // backfill: how long to retry a failing store before giving up; default 1m (follow retries until stopped)
	Progress io.Writer     // backfill: where to draw a progress bar (a terminal), or nil
}

func (o *Options) setDefaults() {
	if o.Batch == 0 {
		o.Batch = 1000
	}
	if o.Poll == 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.GiveUp == 0 {
		o.GiveUp = time.Minute
	}
}

// Validate reports every problem with the options (after defaults).
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if o.Batch < 1 || o.Batch > 100000 {
		errs = append(errs, fmt.Errorf("batch %d: want 1-100000", o.Batch))
	}
	if o.Poll < time.Millisecond || o.Poll > time.Minute {
		errs = append(errs, fmt.Errorf("poll interval %s: want 1ms-1m", o.Poll))
	}
	if o.GiveUp < 0 {
		errs = append(errs, fmt.Errorf("give-up delay %s: must not be negative", o.GiveUp))
	}
	return errors.Join(errs...)
}

// Reader feeds log lines to a Parser and publishes the events in batches. Not safe for concurrent use.
type Reader struct {
	parser  *Parser
	sink    event.Sink
	opts    Options
	logger  *slog.Logger
	sum     Summary
	pending []event.Event
}

// NewReader returns a Reader parsing with p and publishing to sink.
func NewReader(p *Parser, sink event.Sink, o Options, logger *slog.Logger) (*Reader, error) {
	o.setDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	return &Reader{parser: p, sink: sink, opts: o, logger: logger}, nil
}

// Summary returns the counts so far.
func (r *Reader) Summary() Summary { return r.sum }

func (r *Reader) skip(reason string) {
	if r.sum.Skipped == nil {
		r.sum.Skipped = map[string]int{}
	}
	r.sum.Skipped[reason]++
}

// line parses one line; it publishes when a batch is full.
func (r *Reader) line(ctx context.Context, s string, tooLong bool, giveUp time.Duration) error {
	r.sum.Lines++
	if tooLong {
		r.skip(SkipTooLong)
		return nil
	}
	evs, reason := r.parser.Line(s)
	if reason != "" {
		r.skip(reason)
		return nil
	}
	r.pending = append(r.pending, evs...)
	if len(r.pending) >= r.opts.Batch {
		return r.flush(ctx, giveUp)
	}
	return nil
}

// flush publishes the pending events, retrying with backoff while the store fails: for up to giveUp, or until ctx
// is cancelled when giveUp is 0.
func (r *Reader) flush(ctx context.Context, giveUp time.Duration) error {
	if len(r.pending) == 0 {
		return nil
	}
	deadline := time.Now().Add(giveUp)
	var backoff retry.Backoff
	for {
		err := r.sink.Publish(ctx, r.pending)
		if err == nil {
			r.sum.Events += len(r.pending)
			r.pending = r.pending[:0]
			return nil
		}
		if ctx.Err() != nil || giveUp > 0 && time.Now().Add(backoff.Peek()).After(deadline) {
			return fmt.Errorf("store %d events: %w", len(r.pending), err)
		}
		wait := backoff.Next()
		r.logger.Warn("storing log events failed; retrying", "events", len(r.pending), "retry_in", wait, "err", err)
		retry.Sleep(ctx, wait)
	}
}

// lineReader reads lines of at most MaxLine bytes; it keeps an incomplete last line until its newline arrives.
type lineReader struct {
	br   *bufio.Reader
	part []byte
	long bool
	read int64 // bytes consumed
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10)}
}

// next returns the next complete line without its line ending, whether it was longer than MaxLine (then the text
// is cut), or the reader's error (io.EOF when no complete line is available yet).
func (lr *lineReader) next() (string, bool, error) {
	for {
		chunk, err := lr.br.ReadSlice('\n')
		lr.read += int64(len(chunk))
		if len(lr.part)+len(chunk) > MaxLine+2 { // +2: the line ending
			lr.long = true
		} else {
			lr.part = append(lr.part, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			return "", false, err
		}
		s, long := string(bytes.TrimRight(lr.part, "\r\n")), lr.long
		lr.part, lr.long = lr.part[:0], false
		return s, long, nil
	}
}

// rest returns an incomplete last line at the end of a file.
func (lr *lineReader) rest() (string, bool, bool) {
	if len(lr.part) == 0 && !lr.long {
		return "", false, false
	}
	s, long := string(bytes.TrimRight(lr.part, "\r\n")), lr.long
	lr.part, lr.long = lr.part[:0], false
	return s, long, true
}

// countingReader counts the bytes read from a file, for the progress bar of compressed files.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Backfill reads whole files, gzip-compressed or not, in the order given (oldest first keeps Postfix's smtpd and
// qmgr lines of a message that spans a rotation together).
func (r *Reader) Backfill(ctx context.Context, paths ...string) error {
	for _, path := range paths {
		if err := r.backfill(ctx, path); err != nil {
			return err
		}
	}
	return r.flush(ctx, r.opts.GiveUp)
}

func (r *Reader) backfill(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	var magic [2]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	raw := &countingReader{r: f}
	var src io.Reader = raw
	if n == 2 && magic[0] == 0x1f && magic[1] == 0x8b { // gzip, as logrotate compresses
		zr, err := gzip.NewReader(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		src = zr
	}
	lr := newLineReader(src)
	last := time.Now()
	for {
		s, long, err := lr.next()
		if err != nil {
			if s, long, ok := lr.rest(); ok {
				if lerr := r.line(ctx, s, long, r.opts.GiveUp); lerr != nil {
					return lerr
				}
			}
			if !errors.Is(err, io.EOF) {
				return fmt.Errorf("read %s: %w", path, err)
			}
			break
		}
		if err := r.line(ctx, s, long, r.opts.GiveUp); err != nil {
			return err
		}
		if r.opts.Progress != nil && size > 0 && time.Since(last) > 200*time.Millisecond {
			last = time.Now()
			fmt.Fprintf(r.opts.Progress, "\r%s %s %3.0f%%", bar(float64(raw.n)/float64(size)), path, 100*float64(min(raw.n, size))/float64(size))
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, "\r%s %s 100%%\n", bar(1), path)
	}
	return nil
}

func bar(frac float64) string {
	n := int(min(max(frac, 0), 1) * 30)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 30-n) + "]"
}

// Follow reads a file like tail -F until ctx is cancelled: from its end (or its start), polling for new lines,
// finishing the old file and reopening the path when the file is rotated (a new inode), starting over when it is
// truncated, and waiting while it does not exist. Failing stores are retried until ctx is cancelled.
func (r *Reader) Follow(ctx context.Context, path string, fromStart bool) error {
	var (
		f   *os.File
		lr  *lineReader
		ino uint64
	)
	open := func(seekEnd bool) {
		nf, err := os.Open(path)
		if err != nil {
			return
		}
		if f != nil {
			f.Close()
		}
		f, lr, ino = nf, nil, 0
		var skipped int64
		if st, err := nf.Stat(); err == nil {
			ino = inode(st)
			if seekEnd {
				skipped, _ = nf.Seek(0, io.SeekEnd)
			}
		}
		lr = newLineReader(nf)
		lr.read = skipped
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	// drain reads every complete line available.
	drain := func() error {
		if f == nil {
			return nil
		}
		for {
			s, long, err := lr.next()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					r.logger.Warn("reading log file", "path", path, "err", err)
				}
				return nil
			}
			if err := r.line(ctx, s, long, 0); err != nil {
				return err
			}
		}
	}
	open(!fromStart)
	tick := time.NewTicker(r.opts.Poll)
	defer tick.Stop()
	for {
		if err := drain(); err != nil {
			return r.stopped(ctx, err)
		}
		if err := r.flush(ctx, 0); err != nil {
			return r.stopped(ctx, err)
		}
		select {
		case <-ctx.Done():
			return r.stopped(ctx, nil)
		case <-tick.C:
		}
		st, err := os.Stat(path)
		switch {
		case err != nil: // rotated away and not yet recreated: the old file may still grow
		case f == nil:
			open(false) // created after we started: read it all
		case inode(st) != ino:
			if err := drain(); err != nil { // the rest of the rotated file first
				return r.stopped(ctx, err)
			}
			if s, long, ok := lr.rest(); ok {
				if err := r.line(ctx, s, long, 0); err != nil {
					return r.stopped(ctx, err)
				}
			}
			open(false)
		case st.Size() < lr.read:
			open(false) // truncated (copytruncate): start over
		}
	}
}

// stopped finishes a follow run: on cancellation it stores what is pending, for a few seconds at most.
func (r *Reader) stopped(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if ferr := r.flush(fctx, 5*time.Second); ferr != nil {
		return ferr
	}
	return nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}
