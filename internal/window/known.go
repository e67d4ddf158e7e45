package window

import "net/netip"

// HasAddr reports whether the user logged in successfully from ip (untrusted, located) within the window: a failure
// from such an address is the user's own device, most likely retrying a stale password.
func (u *User) HasAddr(ip netip.Addr) bool {
	key := ip.Unmap().As16()
	for _, a := range u.addrs {
		if a.ip == key {
			return int64(a.last) > u.newest-spanSec
		}
	}
	return false
}
