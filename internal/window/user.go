package window

import (
	"net/netip"
	"slices"
	"time"
)

// Span is the length of every window.
const Span = 24 * time.Hour

const spanSec = int64(Span / time.Second)

// MaxAddrs bounds the client addresses remembered per user. Beyond it, the oldest address of a country that has
// several is folded into another address of the same country, so the set of countries stays exact.
const MaxAddrs = 8

// User is one user's window state. Times are Unix seconds of event time; the window ending at t is (t-24h, t].
// The zero value is an empty window. User is not safe for concurrent use.
type User struct {
	newest int64 // newest event time seen, the window's end
	addrs  []addr
	sends  []sendSlot // ordered by time, one slot per second
	msgs   uint32     // messages in sends
	rcpts  uint32     // recipients in sends
}

// addr is one client address seen with successful untrusted logins.
type addr struct {
	ip          [16]byte
	cc          [2]byte
	v4          bool
	logins      uint16
	first, last uint32
}

type sendSlot struct {
	t     uint32
	msgs  uint32
	rcpts uint32
}

// Newest returns the newest event time seen for the user.
func (u *User) Newest() time.Time { return time.Unix(u.newest, 0).UTC() }

// Idle reports whether the window ending at now holds nothing, so the user can be forgotten.
func (u *User) Idle(now time.Time) bool {
	u.expire(now.Unix())
	return len(u.addrs) == 0 && len(u.sends) == 0
}

func (u *User) advance(t int64) bool {
	if t > u.newest {
		u.newest = t
		u.expire(t)
	}
	return t > u.newest-spanSec
}

func (u *User) expire(now int64) {
	cut := now - spanSec // entries at or before cut are out
	u.addrs = slices.DeleteFunc(u.addrs, func(a addr) bool { return int64(a.last) <= cut })
	i := 0
	for i < len(u.sends) && int64(u.sends[i].t) <= cut {
		u.msgs -= u.sends[i].msgs
		u.rcpts -= u.sends[i].rcpts
		i++
	}
	if i > 0 {
		u.sends = u.sends[i:] // no copy: the next growth of the slice drops the expired prefix
	}
	if len(u.sends) == 0 {
		u.sends = nil
	}
	if len(u.addrs) == 0 {
		u.addrs = nil
	}
}

// AddLogin records a successful login from an untrusted address located in country (an ISO code; "" is ignored).
// It reports whether the login fell inside the user's window.
func (u *User) AddLogin(t time.Time, ip netip.Addr, country string) bool {
	ts := t.Unix()
	if !u.advance(ts) || len(country) != 2 {
		return false
	}
	ip = ip.Unmap()
	key := ip.As16()
	cc := [2]byte{country[0], country[1]}
	for i := range u.addrs {
		a := &u.addrs[i]
		if a.ip == key {
			a.cc = cc // the database may have been updated
			a.first = min(a.first, uint32(ts))
			a.last = max(a.last, uint32(ts))
			if a.logins < ^uint16(0) {
				a.logins++
			}
			return true
		}
	}
	u.addrs = appendTight(u.addrs, addr{ip: key, cc: cc, v4: ip.Is4(), logins: 1, first: uint32(ts), last: uint32(ts)})
	if len(u.addrs) > MaxAddrs {
		u.fold()
	}
	return true
}

// fold merges the least recently seen address of a country with several addresses into another of that country.
func (u *User) fold() {
	victim := -1
	for i, a := range u.addrs {
		if u.countryAddrs(a.cc) < 2 {
			continue
		}
		if victim < 0 || a.last < u.addrs[victim].last {
			victim = i
		}
	}
	if victim < 0 {
		return // every address is in a distinct country: keep them all
	}
	v := u.addrs[victim]
	u.addrs = slices.Delete(u.addrs, victim, victim+1)
	for i := range u.addrs {
		if a := &u.addrs[i]; a.cc == v.cc {
			a.first = min(a.first, v.first)
			a.last = max(a.last, v.last)
			a.logins = uint16(min(uint32(a.logins)+uint32(v.logins), uint32(^uint16(0))))
			return
		}
	}
}

func (u *User) countryAddrs(cc [2]byte) int {
	n := 0
	for _, a := range u.addrs {
		if a.cc == cc {
			n++
		}
	}
	return n
}

// AddSend records one sent message with its recipient count. It reports whether the message fell inside the window.
func (u *User) AddSend(t time.Time, recipients int) bool {
	ts := t.Unix()
	if !u.advance(ts) {
		return false
	}
	r := uint32(max(recipients, 0))
	u.msgs++
	u.rcpts += r
	// Find the slot for ts from the end: events mostly arrive in order.
	i := len(u.sends)
	for i > 0 && int64(u.sends[i-1].t) > ts {
		i--
	}
	if i > 0 && int64(u.sends[i-1].t) == ts {
		u.sends[i-1].msgs++
		u.sends[i-1].rcpts += r
		return true
	}
	if i == len(u.sends) {
		u.sends = appendTight(u.sends, sendSlot{t: uint32(ts), msgs: 1, rcpts: r})
	} else {
		u.sends = slices.Insert(u.sends, i, sendSlot{t: uint32(ts), msgs: 1, rcpts: r})
	}
	return true
}

// appendTight appends without the slack of append's doubling while the slice is small: most users keep a handful
// of entries, and memory per user is what bounds the detector.
func appendTight[T any](s []T, v T) []T {
	if len(s) < cap(s) || len(s) >= 16 {
		return append(s, v)
	}
	out := make([]T, len(s)+1, len(s)+1+len(s)/4)
	copy(out, s)
	out[len(s)] = v
	return out
}
