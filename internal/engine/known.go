package engine

import "net/netip"

// Known reports whether user logged in successfully (untrusted, located) from ip within the user's window. The
// detector asks before it processes a login, to tell the address partitions whether a failure comes from the
// user's usual address and whether a success is the user's first from that address.
func (e *Engine) Known(user string, ip netip.Addr) bool {
	u := e.users[user]
	return u != nil && u.HasAddr(ip)
}
