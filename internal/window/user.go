package window

import (
	"cmp"
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
	ids    []seenID   // events counted in the window, ordered by time: a replayed event id counts once
	travel travel     // the newest located login and the hop it ended (impossible_travel; travel.go)
}

// seenID is the 32-bit hash of an event id counted in the window, with the event's time. Two distinct ids of one
// user collide with probability 2^-32 per pair near the same second; a collision drops one event from the window.
type seenID struct {
	t uint32
	h uint32
}

// dupSlack is how far apart in event time two reports of one event id may be and still be recognised: the policy
// endpoints and the log reader may stamp the same event a second apart.
const dupSlack = 2

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
	return len(u.addrs) == 0 && len(u.sends) == 0 && len(u.ids) == 0
}

// HashID is the hash of an event id kept in the window to recognise the event when it is delivered again.
func HashID(id string) uint32 {
	h := uint64(14695981039346656037) // FNV-1a, 64 bits, folded
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return uint32(h) ^ uint32(h>>32)
}

// seen reports whether the event with id hash h at ts is already counted in the window, and records it if not.
// ts must be inside the window.
func (u *User) seen(ts int64, h uint32) bool {
	lo, _ := slices.BinarySearchFunc(u.ids, ts-dupSlack, func(s seenID, t int64) int { return cmp.Compare(int64(s.t), t) })
	i := lo
	for ; i < len(u.ids) && int64(u.ids[i].t) <= ts+dupSlack; i++ {
		if u.ids[i].h == h {
			return true
		}
	}
	// Insert at the position of ts: events mostly arrive in order, so this is usually the end.
	i = len(u.ids)
	for i > 0 && int64(u.ids[i-1].t) > ts {
		i--
	}
	if i == len(u.ids) {
		u.ids = appendTight(u.ids, seenID{t: uint32(ts), h: h})
	} else {
		u.ids = slices.Insert(u.ids, i, seenID{t: uint32(ts), h: h})
	}
	return false
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
	j := 0
	for j < len(u.ids) && int64(u.ids[j].t) <= cut {
		j++
	}
	if j > 0 {
		u.ids = u.ids[j:]
	}
	if len(u.ids) == 0 {
		u.ids = nil
	}
	if len(u.addrs) == 0 {
		u.addrs = nil
	}
}

// AddLogin records a successful login from an untrusted address located in country (an ISO code; "" is ignored).
// id is the event id's HashID: a login already counted in the window is not counted again. It reports whether the
// login was counted.
func (u *User) AddLogin(t time.Time, ip netip.Addr, country string, id uint32) bool {
	ts := t.Unix()
	if !u.advance(ts) || len(country) != 2 || u.seen(ts, id) {
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

// AddSend records one sent message with its recipient count. id is the event id's HashID: a message already
// counted in the window is not counted again. It reports whether the message was counted.
func (u *User) AddSend(t time.Time, recipients int, id uint32) bool {
	ts := t.Unix()
	if !u.advance(ts) || u.seen(ts, id) {
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
