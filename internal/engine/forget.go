package engine

import "net/netip"

// Forget drops the state of every user for whom drop returns true (the users of a partition another detector now
// owns). It returns the number of users still tracked.
func (e *Engine) Forget(drop func(user string) bool) int {
	for name := range e.users {
		if drop(name) {
			delete(e.users, name)
			delete(e.open, name)
		}
	}
	return len(e.users)
}

// Forget drops the keys (addresses and prefixes) drop reports, those of an address partition another instance owns
// now, and returns the number of keys still tracked.
func (e *AddrEngine) Forget(drop func(key netip.Prefix) bool) int {
	for key := range e.keys {
		if drop(key) {
			delete(e.keys, key)
		}
	}
	for p := range e.single {
		if drop(p) {
			delete(e.single, p)
		}
	}
	return len(e.keys)
}
