// Package retry paces repeated attempts with a capped exponential backoff.
package retry

import (
	"context"
	"time"
)

// Backoff hands out waits that start at Min and double up to Max. The zero value waits 100 ms, then up to 5 s.
type Backoff struct {
	Min, Max time.Duration
	next     time.Duration
}

// Next returns the wait before the next attempt and doubles the one after it, up to Max.
func (b *Backoff) Next() time.Duration {
	if b.Min <= 0 {
		b.Min = 100 * time.Millisecond
	}
	if b.Max < b.Min {
		b.Max = max(b.Min, 5*time.Second)
	}
	if b.next == 0 {
		b.next = b.Min
	}
	d := b.next
	b.next = min(2*b.next, b.Max)
	return d
}

// Peek returns the wait Next would return, without advancing.
func (b *Backoff) Peek() time.Duration {
	c := *b
	return c.Next()
}

// Sleep waits for d or until ctx is done, and reports whether the whole wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
