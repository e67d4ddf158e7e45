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
	if u.seenChain(ts, id, kFail, flags, words) {
		return false
	}
	return u.capPair(ts, id, flags, words)
}

// MaxPairFailures is how many failures of one (password hash, network) pair a user keeps: the newest. A device
// retrying a stale password all day adds nothing to what brute_force decides after its first few failures, and
// would otherwise cost 24 bytes per retry.
const MaxPairFailures = 16

// capPair drops the oldest failure of the new failure's (password hash, network) pair when the pair holds more
// than MaxPairFailures, and reports whether the new failure (id at ts) is still counted.
func (u *User) capPair(ts int64, id, flags uint32, words []uint32) bool {
	ev := u.events()
	n, oldest := 0, -1
	for i := 0; 2*i < len(ev); i++ {
		w := ev[2*i+1]
		if recKind(w) != kFail || w>>vShift != flags || ev[2*i+2] != words[0] || !samePairNet(ev[2*i+4:], words[2:], flags) {
			continue
		}
		if oldest < 0 {
			oldest = i
		}
		n++
	}
	if n <= MaxPairFailures {
		return true
	}
	gone := ev[2*oldest] == id && recTime(u, ev, oldest) == ts
	size := 2 + len(words)
	u.recs = append(u.recs[:2*oldest], u.recs[2*oldest+size:]...)
	return !gone
}

// samePairNet compares the network words of two failure chains: the /24 of IPv4, the /64 of IPv6.
func samePairNet(a, b []uint32, flags uint32) bool {
	if flags&failV6 != 0 {
		return a[0] == b[0] && a[2] == b[2]
	}
	return a[0]>>8 == b[0]>>8
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// Failures returns the failed logins in the window, oldest first.
func (u *User) Failures() []Failure {
	var out []Failure
	for f := range u.EachFailure {
		out = append(out, f)
	}
	return out
}

// EachFailure calls yield with the failed logins in the window, oldest first, until it returns false.
func (u *User) EachFailure(yield func(Failure) bool) {
	var buf [MaxAddrs + 1]addr
	known := u.addrs(&buf)
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
		p := Network(f.Addr)
		for _, k := range known {
			if p.Contains(k.ip) {
				f.Known = true
				break
			}
		}
		if !yield(f) {
			return
		}
	}
}

// Network is the /24 of an IPv4 address or the /64 of an IPv6 address: the network brute_force groups by.
func Network(ip netip.Addr) netip.Prefix {
	if ip.Is4() {
		return netip.PrefixFrom(ip, 24).Masked()
	}
	return netip.PrefixFrom(ip, 64).Masked()
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
