package window

import (
	"cmp"
	"hash/maphash"
	"net/netip"
	"slices"
	"time"
)

// Bounds of one address window. The rules read only distinct sets (attempts, targets, successes), which a
// redelivered event cannot grow, so the caps bound memory without making a rule depend on delivery order.
const (
	MaxAddrAttempts = 4096    // distinct password attempts remembered per key
	MaxAddrTargets  = 4096    // distinct targeted users remembered per key
	MaxAddrSuccess  = 1024    // distinct users with a success remembered per key
	MaxAddrNamed    = 8       // of these, those whose names are kept, besides targets' and those asked for
	MaxAddrFailures = 1 << 16 // failed logins counted exactly per key; beyond, the count stops growing
	MaxAddrAddrs    = 64      // distinct client addresses remembered per prefix key
	FastSpan        = 2 * time.Minute
	hashlessBucket  = 60 // seconds: hashless failures of one user count once per minute
)

// Addr is the window of one client address or prefix: the failed logins from it across users, and the users who
// logged in successfully from it. Times are Unix seconds of event time; the window ending at t is (t-24h, t]. The
// zero value is an empty window. Addr is not safe for concurrent use.
type Addr struct {
	newest   int64
	fails    []failSeen // failed logins counted, ordered by time: a redelivered event counts once
	attempts []attempt
	targets  []target
	success  []success
	names    []userName // the names kept of users in success
	addrs    []addrSeen
}

// failSeen is a counted failure: the hash of its event id, its time and its service.
type failSeen struct {
	t, h uint32
	svc  uint8
}

type attempt struct {
	h, u        uint32 // attempt and user hashes
	first, last uint32
	hashed      bool
}

type target struct {
	user      string
	last, dom uint32 // dom: the engine's index of the user's domain
}

// success is a user with a successful login from the key, by the user's userHash: a key at a shared address
// collects many, and only a few names are needed as evidence.
type success struct {
	u           uint64
	first, last uint32
}

// userSeed makes user hashes unpredictable, so no chosen login name can pose as another user's in a window.
var userSeed = maphash.MakeSeed()

func userHash(user string) uint64 { return maphash.String(userSeed, user) }

type userName struct {
	u    uint64
	name string
}

type addrSeen struct {
	ip   netip.Addr
	last uint32
}

// AddrFailure is one failed login from the key, as the address engine hands it to the window.
type AddrFailure struct {
	Time            time.Time
	ID              uint32 // HashID of the event id
	User            string
	Domain          uint32     // an index the caller keeps for the user's domain
	Service         uint8      // an index the caller keeps for the service (at most 16 services)
	PWHash          string     // Dovecot's hash of nonce, login and password; "" when the source has none
	IP              netip.Addr // the client address (a prefix key sees several)
	Attempt, Target bool       // whether it counts as a password attempt (brute_force) and a target (password_spray)
	TrackAddr       bool       // whether the key is a prefix, so its client addresses are remembered
}

// Newest returns the newest event time seen for the key.
func (a *Addr) Newest() time.Time { return time.Unix(a.newest, 0).UTC() }

func (a *Addr) advanceAddr(t int64) bool {
	if t > a.newest {
		a.newest = t
		a.expireAddr(t)
	}
	return t > a.newest-spanSec
}

func (a *Addr) expireAddr(now int64) {
	cut := now - spanSec
	i := 0
	for i < len(a.fails) && int64(a.fails[i].t) <= cut {
		i++
	}
	if i > 0 {
		a.fails = a.fails[i:]
	}
	if len(a.fails) == 0 {
		a.fails = nil
	}
	a.attempts = dropOld(a.attempts, cut, func(x attempt) uint32 { return x.last })
	a.targets = dropOld(a.targets, cut, func(x target) uint32 { return x.last })
	a.expireSuccess(cut)
	a.addrs = dropOld(a.addrs, cut, func(x addrSeen) uint32 { return x.last })
}

// expireSuccess drops the successes at or before cut and the names of their users.
func (a *Addr) expireSuccess(cut int64) {
	n := len(a.success)
	a.success = dropOld(a.success, cut, func(x success) uint32 { return x.last })
	if len(a.success) == n || len(a.names) == 0 {
		return
	}
	a.names = slices.DeleteFunc(a.names, func(x userName) bool {
		return !slices.ContainsFunc(a.success, func(s success) bool { return s.u == x.u })
	})
	if len(a.names) == 0 {
		a.names = nil
	}
}

func dropOld[T any](s []T, cut int64, last func(T) uint32) []T {
	s = slices.DeleteFunc(s, func(x T) bool { return int64(last(x)) <= cut })
	if len(s) == 0 {
		return nil
	}
	return s
}

// Idle reports whether the window ending at now holds nothing, so the key can be forgotten.
func (a *Addr) Idle(now time.Time) bool {
	a.expireAddr(now.Unix())
	return len(a.fails) == 0 && len(a.attempts) == 0 && len(a.targets) == 0 && len(a.success) == 0
}

// AddFailure records a failed login from the key. It reports whether the window changed (false for an event
// outside the window or one already counted).
func (a *Addr) AddFailure(f AddrFailure) bool {
	ts := f.Time.Unix()
	if !a.advanceAddr(ts) {
		return false
	}
	t := uint32(ts)
	if !a.countFailure(ts, f.ID, f.Service) {
		return false
	}
	if f.Attempt {
		h, hashed := attemptHash(f.User, f.PWHash, ts)
		i := slices.IndexFunc(a.attempts, func(x attempt) bool { return x.h == h && x.hashed == hashed })
		switch {
		case i >= 0:
			a.attempts[i].first = min(a.attempts[i].first, t)
			a.attempts[i].last = max(a.attempts[i].last, t)
		case len(a.attempts) < MaxAddrAttempts:
			a.attempts = appendTight(a.attempts, attempt{h: h, u: HashID(f.User), first: t, last: t, hashed: hashed})
		}
	}
	if f.Target {
		i := slices.IndexFunc(a.targets, func(x target) bool { return x.user == f.User })
		switch {
		case i >= 0:
			a.targets[i].last = max(a.targets[i].last, t)
		case len(a.targets) < MaxAddrTargets:
			a.targets = appendTight(a.targets, target{user: f.User, dom: f.Domain, last: t})
		}
	}
	if f.TrackAddr {
		ip := f.IP.Unmap()
		i := slices.IndexFunc(a.addrs, func(x addrSeen) bool { return x.ip == ip })
		switch {
		case i >= 0:
			a.addrs[i].last = max(a.addrs[i].last, t)
		case len(a.addrs) < MaxAddrAddrs:
			a.addrs = appendTight(a.addrs, addrSeen{ip: ip, last: t})
		}
	}
	return true
}

// countFailure records the failure's id at ts and reports whether it was new. Beyond MaxAddrFailures ids the
// failure is still applied to the distinct sets (which a duplicate cannot grow) but no longer counted.
func (a *Addr) countFailure(ts int64, h uint32, svc uint8) bool {
	lo, _ := slices.BinarySearchFunc(a.fails, ts-dupSlack, func(s failSeen, t int64) int { return cmp.Compare(int64(s.t), t) })
	for i := lo; i < len(a.fails) && int64(a.fails[i].t) <= ts+dupSlack; i++ {
		if a.fails[i].h == h {
			return false
		}
	}
	if len(a.fails) >= MaxAddrFailures {
		return true
	}
	i := len(a.fails)
	for i > 0 && int64(a.fails[i-1].t) > ts {
		i--
	}
	if i == len(a.fails) {
		a.fails = appendTight(a.fails, failSeen{t: uint32(ts), h: h, svc: svc})
	} else {
		a.fails = slices.Insert(a.fails, i, failSeen{t: uint32(ts), h: h, svc: svc})
	}
	return true
}

// attemptHash identifies a password attempt. With Dovecot's pwhash (which hashes the login with the password) an
// attempt is one (user, hash) pair however often it is retried; without one it is a user per minute of event
// time, so a device retrying in a loop, over however many services, counts once a minute.
func attemptHash(user, pwhash string, ts int64) (uint32, bool) {
	h := uint64(14695981039346656037)
	mix := func(s string) {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
		h ^= 0xff
		h *= 1099511628211
	}
	mix(user)
	if pwhash != "" {
		mix(pwhash)
		return uint32(h) ^ uint32(h>>32), true
	}
	b := ts / hashlessBucket
	for range 8 {
		h ^= uint64(b & 0xff)
		h *= 1099511628211
		b >>= 8
	}
	return uint32(h) ^ uint32(h>>32), false
}

// AddSuccess records a successful login of user from the key. Its name is kept (for Victims) when name is true
// (the caller sets it while the key has an incident) or while fewer than MaxAddrNamed names are kept. It reports
// whether the window changed.
func (a *Addr) AddSuccess(t time.Time, user string, name bool) bool {
	ts := t.Unix()
	if !a.advanceAddr(ts) {
		return false
	}
	u, h := uint32(ts), userHash(user)
	name = name || len(a.names) < MaxAddrNamed
	if i := slices.IndexFunc(a.success, func(x success) bool { return x.u == h }); i >= 0 {
		s := &a.success[i]
		if u >= s.first && u <= s.last {
			return false
		}
		s.first, s.last = min(s.first, u), max(s.last, u)
		if name && !slices.ContainsFunc(a.names, func(x userName) bool { return x.u == h }) {
			a.names = appendTight(a.names, userName{h, user})
		}
		return true
	}
	if len(a.success) >= MaxAddrSuccess {
		return false
	}
	a.success = appendTight(a.success, success{u: h, first: u, last: u})
	if name {
		a.names = appendTight(a.names, userName{h, user})
	}
	return true
}

// Attempts returns the distinct password attempts in the window and how many of them carried a hash.
func (a *Addr) Attempts() (attempts, hashed int) {
	for _, x := range a.attempts {
		if x.hashed {
			hashed++
		}
	}
	return len(a.attempts), hashed
}

// Depth returns the hashed attempts beyond the first against each user: the passwords tried on a user after one
// (a sprayer tries one or two per user, a brute-forcer many). It allocates; the rules call it only past the
// threshold of hashed attempts.
func (a *Addr) Depth() int {
	users := map[uint32]struct{}{}
	n := 0
	for _, x := range a.attempts {
		if x.hashed {
			users[x.u] = struct{}{}
			n++
		}
	}
	return n - len(users)
}

// FastAttempts returns the distinct attempts first seen in the FastSpan ending at the key's newest event.
func (a *Addr) FastAttempts() int {
	cut := a.newest - int64(FastSpan/time.Second)
	n := 0
	for _, x := range a.attempts {
		if int64(x.first) > cut {
			n++
		}
	}
	return n
}

// Targets returns the number of distinct users with a failure from the key in the window.
func (a *Addr) Targets() int { return len(a.targets) }

// Failures returns the failed logins from the key in the window.
func (a *Addr) Failures() int { return len(a.fails) }

// Addresses returns the number of distinct client addresses of the failures (for a prefix key).
func (a *Addr) Addresses() int { return len(a.addrs) }

// Successes returns the distinct users with a successful login from the key in the window.
func (a *Addr) Successes() int { return len(a.success) }

// SuccessOnly returns the distinct users who logged in successfully from the key and never failed from it in the
// window: the ordinary users of a shared address.
func (a *Addr) SuccessOnly() int {
	if len(a.success) == 0 {
		return 0 // a sprayer's address, mostly: no map of the targets to build
	}
	targets := a.targetHashes()
	n := 0
	for _, s := range a.success {
		if _, ok := targets[s.u]; !ok {
			n++
		}
	}
	return n
}

// targetHashes returns the targeted users by userHash.
func (a *Addr) targetHashes() map[uint64]string {
	m := make(map[uint64]string, len(a.targets))
	for _, x := range a.targets {
		m[userHash(x.user)] = x.user
	}
	return m
}

// Users returns the targeted users, sorted, at most max of them.
func (a *Addr) Users(max int) []string {
	out := make([]string, len(a.targets))
	for i, x := range a.targets {
		out[i] = x.user
	}
	slices.Sort(out)
	if len(out) > max {
		out = out[:max]
	}
	return out
}

// Domain returns the domain index of every targeted user when they share one.
func (a *Addr) Domain() (uint32, bool) {
	if len(a.targets) == 0 {
		return 0, false
	}
	d := a.targets[0].dom
	for _, x := range a.targets[1:] {
		if x.dom != d {
			return 0, false
		}
	}
	return d, true
}

// Victims returns the users who logged in successfully from the key at or after its oldest failure in the
// window, sorted: those of them who failed from the key too and those whose names were kept (see AddSuccess;
// Successes counts them all).
func (a *Addr) Victims() []string {
	if len(a.fails) == 0 && len(a.targets) == 0 {
		return nil
	}
	oldest := a.oldestFailure()
	var out []string
	// The targets' map is built only for a success whose name is not kept: an incident's evidence is rebuilt on
	// every failure at a sprayer's key, which may hold thousands of targets.
	var targets map[uint64]string
	for _, s := range a.success {
		if s.last < oldest {
			continue
		}
		if i := slices.IndexFunc(a.names, func(x userName) bool { return x.u == s.u }); i >= 0 {
			out = append(out, a.names[i].name)
			continue
		}
		if targets == nil {
			targets = a.targetHashes()
		}
		if name, ok := targets[s.u]; ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func (a *Addr) oldestFailure() uint32 {
	if len(a.fails) > 0 {
		return a.fails[0].t
	}
	o := a.targets[0].last
	for _, x := range a.targets {
		o = min(o, x.last)
	}
	return o
}

// FirstFailure returns the time of the oldest failure in the window, or the zero time.
func (a *Addr) FirstFailure() time.Time {
	if len(a.fails) == 0 {
		return time.Time{}
	}
	return time.Unix(int64(a.fails[0].t), 0).UTC()
}

// ClientAddrs returns the distinct client addresses of the failures, sorted (for a prefix key).
func (a *Addr) ClientAddrs() []netip.Addr {
	out := make([]netip.Addr, len(a.addrs))
	for i, x := range a.addrs {
		out[i] = x.ip
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Services returns the service indexes of the failures in the window as a bit set.
func (a *Addr) Services() uint16 {
	var m uint16
	for _, f := range a.fails {
		m |= 1 << (f.svc & 15)
	}
	return m
}

// ClonePrefix returns a copy of an address's window to start the window of its prefix with, when a second address
// of the prefix fails: until then the address's own window held everything the prefix's would have. ip is the
// address.
func (a *Addr) ClonePrefix(ip netip.Addr) Addr {
	c := Addr{
		newest:   a.newest,
		fails:    slices.Clone(a.fails),
		attempts: slices.Clone(a.attempts),
		targets:  slices.Clone(a.targets),
		success:  slices.Clone(a.success),
		names:    slices.Clone(a.names),
	}
	last := uint32(a.newest)
	if len(a.fails) > 0 {
		last = a.fails[len(a.fails)-1].t
	}
	c.addrs = []addrSeen{{ip: ip.Unmap(), last: last}}
	return c
}

// appendTight appends without the slack of append's doubling while the slice is small: most keys keep a handful
// of entries, and memory per key is what bounds the detector.
func appendTight[T any](s []T, v T) []T {
	if len(s) < cap(s) || len(s) >= 16 {
		return append(s, v)
	}
	out := make([]T, len(s)+1, len(s)+1+len(s)/4)
	copy(out, s)
	out[len(s)] = v
	return out
}
