package authapi

import (
	"net/netip"
	"sync"
	"time"
)

// limiter counts attempts per client address in fixed windows; it bounds its memory by forgetting old windows.
type limiter struct {
	mu     sync.Mutex
	limit  int
	window time.Duration
	now    func() time.Time
	start  time.Time
	counts map[netip.Addr]int
}

func newLimiter(limit int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{limit: limit, window: window, now: now, counts: map[netip.Addr]int{}}
}

// allow records an attempt from ip and reports whether it is within the limit, and otherwise when to retry.
func (l *limiter) allow(ip netip.Addr) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.start) >= l.window || len(l.counts) > 100000 {
		l.start, l.counts = now, map[netip.Addr]int{}
	}
	l.counts[ip]++
	if l.counts[ip] > l.limit {
		return false, l.window - now.Sub(l.start)
	}
	return true, 0
}
