package window

import "net/netip"

// HasAddr reports whether the user logged in successfully from ip (untrusted, located) within the window: a failure
// from such an address is the user's own device, most likely retrying a stale password.
func (u *User) HasAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	var buf [MaxAddrs + 1]addr
	for _, a := range u.addrs(&buf) {
		if a.ip == ip {
			return a.last > int64(u.newest)-spanSec
		}
	}
	return false
}
