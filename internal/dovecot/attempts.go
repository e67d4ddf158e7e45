package dovecot

import "sync"

// attempts numbers the failed authentications of recent sessions, so that each failure of one session is its own
// event ("dovecot:S:fail:1", "dovecot:S:fail:2", ...). It remembers a bounded number of sessions, forgetting the
// oldest first; a forgotten session that fails again restarts at 1, which can only merge two failures, never
// duplicate one.
type attempts struct {
	mu   sync.Mutex
	n    map[string]int
	ring []string // sessions in arrival order; "" marks a free or forgotten slot
	next int
}

func newAttempts(size int) *attempts {
	return &attempts{n: make(map[string]int), ring: make([]string, size)}
}

// fail records a failed attempt of session and returns its number, from 1.
func (a *attempts) fail(session string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n, ok := a.n[session]; ok {
		a.n[session] = n + 1
		return n + 1
	}
	if old := a.ring[a.next]; old != "" {
		delete(a.n, old)
	}
	a.ring[a.next] = session
	a.next = (a.next + 1) % len(a.ring)
	a.n[session] = 1
	return 1
}

// done forgets a session that logged in: it will not fail again.
func (a *attempts) done(session string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.n, session) // its ring slot is reused in turn; deleting a missing key then is harmless
}
