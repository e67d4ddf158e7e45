package window

import (
	"net/netip"
	"time"
)

// A failed login is three event records (four for IPv6) of one time: the first holds the event id's hash, the kind
// kFail and flags; the continuations hold the password hash's HashID (0 without one) and the client address (IPv4)
// or its /64 (IPv6, two words). 24 or 32 bytes per failure, kept only for users who fail.
const (
	kFail = kLogin + 4 // after kExt, so the existing kinds keep their values

	failHashed = 1 // the failure reported a password hash
	failV6     = 2 // the address is an IPv6 /64
)

// Failure is one failed login from an untrusted address in the window.
type Failure struct {
	Time time.Time
	// Addr is the client address; for IPv6 only its /64 is kept, so Addr is the /64's first address.
	Addr netip.Addr
	// Password is the HashID of the password hash the server reported, when Hashed.
	Password uint32
	Hashed   bool
	// Known reports whether the user logged in successfully from the failure's network (the /24 of an IPv4
	// address, the /64 of an IPv6 address) in the window: the user's usual place, where a device retrying a stale
	// password sits.
	Known bool
}

// AddFailure records a failed login from an untrusted address. pwhash is the password hash the server reported
// (Dovecot's auth-policy pwhash), "" when it gave none. id is the event id's HashID: a failure already counted in
// the window is not counted again. It reports whether the failure was counted.
func (u *User) AddFailure(t time.Time, ip netip.Addr, pwhash string, id uint32) bool {
	ts := t.Unix()
	if !u.advance(ts) {
		return false
	}
	ip = ip.Unmap()
	var flags, pw uint32
	if pwhash != "" {
		flags, pw = failHashed, HashID(pwhash)
	}
	t17 := uint32(ts) & tMask
	ext := t17 | kExt<<kShift
	var words []uint32
	if ip.Is4() {
		b := ip.As4()
		words = []uint32{pw, ext, be32(b[:]), ext}
	} else {
		b := ip.As16()
		flags |= failV6
		words = []uint32{pw, ext, be32(b[0:4]), ext, be32(b[4:8]), ext}
	}
	return !u.seenChain(ts, id, kFail, flags, words)
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Failures returns the failed logins in the window, oldest first.
func (u *User) Failures() []Failure {
	var out []Failure
	ev := u.events()
	for i := 0; 2*i < len(ev); i++ {
		w := ev[2*i+1]
		if recKind(w) != kFail {
			continue
		}
		flags := w >> vShift
		f := Failure{Time: time.Unix(recTime(u, ev, i), 0).UTC(), Password: ev[2*i+2], Hashed: flags&failHashed != 0}
		a := ev[2*i+4]
		if flags&failV6 != 0 {
			b := ev[2*i+6]
			f.Addr = netip.AddrFrom16([16]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a), byte(b >> 24), byte(b >> 16), byte(b >> 8), byte(b)})
		} else {
			f.Addr = netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)})
		}
		f.Known = u.knownNet(f.Addr)
		out = append(out, f)
	}
	return out
}

// FailureCount returns the number of failed logins in the window, without allocating.
func (u *User) FailureCount() int {
	n := 0
	ev := u.events()
	for i := 1; i < len(ev); i += 2 {
		if recKind(ev[i]) == kFail {
			n++
		}
	}
	return n
}

// knownNet reports whether an address record shares ip's /24 (IPv4) or /64 (IPv6).
func (u *User) knownNet(ip netip.Addr) bool {
	bits := 24
	if !ip.Is4() {
		bits = 64
	}
	p := netip.PrefixFrom(ip, bits).Masked()
	var buf [MaxAddrs + 1]addr
	for _, a := range u.addrs(&buf) {
		if p.Contains(a.ip) {
			return true
		}
	}
	return false
}
