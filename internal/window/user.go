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
//
// Everything a user keeps is in one backing array of 32-bit words, recs (see the package doc for its layout and
// cost): the event records first, ordered by time, then the address records. One slice instead of one per kind
// of entry saves two slice headers and two allocations' size-class rounding per user.
type User struct {
	newest uint32   // newest event time seen, the window's end (event times are validated to years 2000-2100)
	na     uint16   // words of address records after the event records
	nh     uint8    // words of history at the end of recs (see history.go)
	recs   []uint32 // event records (2 words each), then address records (addrWords or addr6Words each)
	msgs   uint32   // messages in the send records
	rcpts  uint32   // recipients in the send records
	travel travel   // the newest located login and the hop it ended (impossible_travel; travel.go)
}

// An event record is two words: the event id's hash (HashID), then the event time modulo 2^17 seconds (the window
// is 86,400 s, so the time is recovered exactly from the newest time), a kind and a 12-bit value. Two distinct ids
// of one user collide with probability 2^-32 per pair near the same second; a collision drops one event from the
// window.
const (
	tBits  = 17
	tMask  = 1<<tBits - 1
	kShift = tBits
	kMask  = 7
	vShift = 20
	vMax   = 1<<12 - 1
)

// The kinds of event records.
const (
	kLogin   = iota // a counted successful login; its address is in the address records
	kSend           // a message; the value is its recipients
	kSendBig        // a message with more than vMax recipients, given in the next record's first word
	kExt            // the continuation of the record before it (same time), never an event of its own
)

// dupSlack is how far apart in event time two reports of one event id may be and still be recognised: the policy
// endpoints and the log reader may stamp the same event a second apart.
const dupSlack = 2

// An address record is: the first login time (Unix seconds), then the last login time modulo 2^17 with an IPv6
// flag, then the login count (16 bits) with the country code (two bytes), then the address: one word for IPv4,
// four for IPv6.
const (
	addrWords  = 4
	addr6Words = 7
	v6Flag     = 1 << tBits
)

// addr is one client address seen with successful untrusted logins, decoded from its record.
type addr struct {
	ip     netip.Addr
	cc     [2]byte
	logins uint16
	first  uint32
	last   int64
}

// Newest returns the newest event time seen for the user.
func (u *User) Newest() time.Time { return time.Unix(int64(u.newest), 0).UTC() }

// Idle reports whether the window ending at now holds nothing, so the user can be forgotten.
func (u *User) Idle(now time.Time) bool {
	u.expire(now.Unix())
	if len(u.recs) == int(u.nh) && cap(u.recs) > len(u.recs)+8 {
		u.recs = append([]uint32(nil), u.recs...) // only the history is left: give back the window's room
	}
	return len(u.recs) == int(u.nh)
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

// at recovers a full time from its low 17 bits: every record is within 24 hours before the newest time.
func (u *User) at(t17 uint32) int64 {
	return int64(u.newest) - int64((u.newest-t17)&tMask)
}

func (u *User) events() []uint32 { return u.recs[:len(u.recs)-int(u.na)-int(u.nh)] }

func (u *User) addrRecs() []uint32 {
	return u.recs[len(u.recs)-int(u.na)-int(u.nh) : len(u.recs)-int(u.nh)]
}

func (u *User) histRecs() []uint32 { return u.recs[len(u.recs)-int(u.nh):] }

// setTail replaces the address records and the history with the given words.
func (u *User) setTail(addrs, hist []uint32) {
	var buf [64]uint32
	tail := append(append(buf[:0], addrs...), hist...) // a copy: addrs and hist may alias recs
	ne := len(u.events())
	u.recs = grow(u.recs[:ne], len(tail))
	u.recs = append(u.recs, tail...)
	u.na, u.nh = uint16(len(addrs)), uint8(len(hist))
	if len(u.recs) == 0 {
		u.recs = nil
	}
}

func recTime(u *User, ev []uint32, i int) int64 { return u.at(ev[2*i+1] & tMask) }

func recKind(w uint32) uint32 { return w >> kShift & kMask }

// seenChain reports whether the event with id hash h at ts is already counted in the window, and records it with
// the given kind and value if not, followed by chain (continuation records of the same time, at most three).
// ts must be inside the window.
func (u *User) seenChain(ts int64, h uint32, kind, val uint32, chain []uint32) bool {
	ev := u.events()
	n := len(ev) / 2
	// The first record at or after ts-dupSlack.
	lo, hi := 0, n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if recTime(u, ev, m) < ts-dupSlack {
			lo = m + 1
		} else {
			hi = m
		}
	}
	for i := lo; i < n && recTime(u, ev, i) <= ts+dupSlack; i++ {
		if ev[2*i] == h && recKind(ev[2*i+1]) != kExt {
			return true
		}
	}
	// Insert after the last record at or before ts: events mostly arrive in order, so this is usually the end.
	i := n
	for i > 0 && recTime(u, ev, i-1) > ts {
		i--
	}
	t17 := uint32(ts) & tMask
	rec := [8]uint32{h, t17 | kind<<kShift | val<<vShift}
	nc := copy(rec[2:], chain)
	u.insert(2*i, rec[:2+nc])
	return false
}

// insert puts words into recs at word position at.
func (u *User) insert(at int, words []uint32) {
	n := len(u.recs)
	u.recs = grow(u.recs, len(words))[:n+len(words)]
	copy(u.recs[at+len(words):], u.recs[at:n])
	copy(u.recs[at:], words)
}

// grow returns s with room for extra more words. Small arrays grow by an eighth, so a user's array stays within a
// size class of what it holds; large ones by half, so a busy user's appends stay amortised O(1).
func grow(s []uint32, extra int) []uint32 {
	need := len(s) + extra
	if need <= cap(s) {
		return s
	}
	want := need + max(need/8, 2)
	if need >= 256 {
		want = need + need/2
	}
	out := append([]uint32(nil), make([]uint32, want)...)[:len(s)] // append rounds the capacity up to the size class
	copy(out, s)
	return out
}

func (u *User) advance(t int64) bool {
	if t > int64(u.newest) {
		u.expire(t)
		u.newest = uint32(t)
	}
	return t > int64(u.newest)-spanSec
}

// expire drops what is out of the window ending at now. Times are recovered relative to the current newest time,
// before it moves to now.
func (u *User) expire(now int64) {
	if len(u.recs) == 0 {
		return
	}
	cut := now - spanSec // entries at or before cut are out
	ev := u.events()
	i := 0
	for ; 2*i < len(ev) && recTime(u, ev, i) <= cut; i++ {
		switch recKind(ev[2*i+1]) {
		case kSend:
			u.msgs--
			u.rcpts -= ev[2*i+1] >> vShift
		case kSendBig:
			u.msgs--
			u.rcpts -= ev[2*i+2] // the next record has the same time, so it expires too
		}
	}
	if i > 0 {
		u.recs = u.recs[2*i:] // no copy: the next growth of the array drops the expired prefix
	}
	if u.na > 0 {
		var buf [(MaxAddrs + 1) * addr6Words]uint32
		ar := u.addrRecs()
		keep := buf[:0]
		for j := 0; j < len(ar); {
			w := addrLen(ar[j:])
			if u.at(ar[j+1]&tMask) > cut {
				keep = append(keep, ar[j:j+w]...)
			}
			j += w
		}
		if len(keep) < len(ar) {
			u.setTail(keep, u.histRecs())
		}
	}
	if len(u.recs) == 0 {
		u.recs = nil
	}
}

func addrLen(rec []uint32) int {
	if rec[1]&v6Flag != 0 {
		return addr6Words
	}
	return addrWords
}

// addrs decodes the address records into buf.
func (u *User) addrs(buf *[MaxAddrs + 1]addr) []addr {
	out := buf[:0]
	ar := u.addrRecs()
	for j := 0; j < len(ar); {
		r := ar[j:]
		a := addr{first: r[0], last: u.at(r[1] & tMask), logins: uint16(r[2]), cc: [2]byte{byte(r[2] >> 24), byte(r[2] >> 16)}}
		if r[1]&v6Flag != 0 {
			var b [16]byte
			for k := range 4 {
				w := r[3+k]
				b[4*k], b[4*k+1], b[4*k+2], b[4*k+3] = byte(w>>24), byte(w>>16), byte(w>>8), byte(w)
			}
			a.ip = netip.AddrFrom16(b)
			j += addr6Words
		} else {
			w := r[3]
			a.ip = netip.AddrFrom4([4]byte{byte(w >> 24), byte(w >> 16), byte(w >> 8), byte(w)})
			j += addrWords
		}
		out = append(out, a)
	}
	return out
}

// setAddrs replaces the address records with as.
func (u *User) setAddrs(as []addr) {
	var buf [(MaxAddrs + 1) * addr6Words]uint32
	out := buf[:0]
	for _, a := range as {
		w1 := uint32(a.last) & tMask
		if !a.ip.Is4() {
			w1 |= v6Flag
		}
		out = append(out, a.first, w1, uint32(a.logins)|uint32(a.cc[0])<<24|uint32(a.cc[1])<<16)
		if a.ip.Is4() {
			b := a.ip.As4()
			out = append(out, uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
		} else {
			b := a.ip.As16()
			for k := range 4 {
				out = append(out, uint32(b[4*k])<<24|uint32(b[4*k+1])<<16|uint32(b[4*k+2])<<8|uint32(b[4*k+3]))
			}
		}
	}
	u.setTail(out, u.histRecs())
}

// AddLogin records a successful login from an untrusted address located in country (an ISO code; "" is ignored).
// id is the event id's HashID: a login already counted in the window is not counted again. It reports whether the
// login was counted.
func (u *User) AddLogin(t time.Time, ip netip.Addr, country string, id uint32) bool {
	ts := t.Unix()
	if !u.advance(ts) || len(country) != 2 || u.seenChain(ts, id, kLogin, 0, nil) {
		return false
	}
	u.clearNewCountry()
	ip = ip.Unmap()
	cc := [2]byte{country[0], country[1]}
	if u.bump(ip, cc, ts) {
		return true
	}
	var buf [MaxAddrs + 1]addr
	as := u.addrs(&buf)
	as = append(as, addr{ip: ip, cc: cc, logins: 1, first: uint32(ts), last: ts})
	if len(as) > MaxAddrs {
		as = fold(as)
	}
	u.setAddrs(as)
	return true
}

// bump counts a login at ts on the address record of ip, if there is one, in place.
func (u *User) bump(ip netip.Addr, cc [2]byte, ts int64) bool {
	ar := u.addrRecs()
	var key [4]uint32
	words := 1
	if ip.Is4() {
		b := ip.As4()
		key[0] = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	} else {
		b := ip.As16()
		for k := range 4 {
			key[k] = uint32(b[4*k])<<24 | uint32(b[4*k+1])<<16 | uint32(b[4*k+2])<<8 | uint32(b[4*k+3])
		}
		words = 4
	}
	for j := 0; j < len(ar); j += addrLen(ar[j:]) {
		r := ar[j:]
		if addrLen(r)-3 != words || !slices.Equal(r[3:3+words], key[:words]) {
			continue
		}
		r[0] = min(r[0], uint32(ts))
		last := max(u.at(r[1]&tMask), ts)
		r[1] = r[1]&v6Flag | uint32(last)&tMask
		logins := min(r[2]&0xffff+1, 0xffff)
		r[2] = logins | uint32(cc[0])<<24 | uint32(cc[1])<<16 // the database may have been updated
		return true
	}
	return false
}

// fold merges the least recently seen address of a country with several addresses into another of that country.
func fold(as []addr) []addr {
	victim := -1
	for i, a := range as {
		if countryAddrs(as, a.cc) < 2 {
			continue
		}
		if victim < 0 || a.last < as[victim].last {
			victim = i
		}
	}
	if victim < 0 {
		return as // every address is in a distinct country: keep them all
	}
	v := as[victim]
	as = append(as[:victim], as[victim+1:]...)
	for i := range as {
		if a := &as[i]; a.cc == v.cc {
			a.first = min(a.first, v.first)
			a.last = max(a.last, v.last)
			a.logins = uint16(min(uint32(a.logins)+uint32(v.logins), uint32(^uint16(0))))
			break
		}
	}
	return as
}

func countryAddrs(as []addr, cc [2]byte) int {
	n := 0
	for _, a := range as {
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
	r := uint32(max(recipients, 0))
	if !u.advance(ts) {
		return false
	}
	var dup bool
	if r <= vMax {
		dup = u.seenChain(ts, id, kSend, r, nil)
	} else {
		dup = u.seenChain(ts, id, kSendBig, 0, []uint32{r, uint32(ts)&tMask | kExt<<kShift})
	}
	if dup {
		return false
	}
	u.msgs++
	u.rcpts += r
	return true
}

// Footprint returns the bytes of the user's backing array (its capacity), for the memory benchmark's breakdown.
func (u *User) Footprint() int { return cap(u.recs) * 4 }
