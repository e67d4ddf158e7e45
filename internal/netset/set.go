package netset

import (
	"net/netip"
	"slices"
)

// Set is an immutable matcher over trusted entries. The zero value and nil trust nothing.
type Set struct {
	global  ranges
	domains map[string]ranges
	users   map[string]ranges
	n       int
}

// ranges holds prefixes sorted by start address with overlaps merged, for binary search.
type ranges []span

type span struct{ lo, hi netip.Addr }

// NewSet builds a Set from entries; invalid entries are skipped.
func NewSet(entries []Entry) *Set {
	s := &Set{domains: map[string]ranges{}, users: map[string]ranges{}}
	collect := map[string][]netip.Prefix{}
	for _, e := range entries {
		if !e.Prefix.IsValid() {
			continue
		}
		key := string(e.Scope) + "\x00" + e.Subject
		collect[key] = append(collect[key], e.Prefix.Masked())
		s.n++
	}
	for key, ps := range collect {
		r := build(ps)
		for i := 0; i < len(key); i++ {
			if key[i] == 0 {
				scope, subject := Scope(key[:i]), key[i+1:]
				switch scope {
				case ScopeGlobal:
					s.global = r
				case ScopeDomain:
					s.domains[subject] = r
				case ScopeUser:
					s.users[subject] = r
				}
				break
			}
		}
	}
	return s
}

func build(ps []netip.Prefix) ranges {
	r := make(ranges, 0, len(ps))
	for _, p := range ps {
		r = append(r, span{p.Addr(), lastAddr(p)})
	}
	slices.SortFunc(r, func(a, b span) int { return a.lo.Compare(b.lo) })
	out := r[:0]
	for _, sp := range r {
		if n := len(out); n > 0 && out[n-1].lo.BitLen() == sp.lo.BitLen() && sp.lo.Compare(out[n-1].hi) <= 0 {
			if sp.hi.Compare(out[n-1].hi) > 0 {
				out[n-1].hi = sp.hi
			}
			continue
		}
		out = append(out, sp)
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func (r ranges) contains(ip netip.Addr) bool {
	i, _ := slices.BinarySearchFunc(r, ip, func(s span, ip netip.Addr) int { return s.lo.Compare(ip) })
	// r[i-1] is the last span starting at or before ip (or r[i] starts exactly at ip).
	if i < len(r) && r[i].lo == ip {
		return true
	}
	if i == 0 {
		return false
	}
	s := r[i-1]
	return s.lo.BitLen() == ip.BitLen() && ip.Compare(s.hi) <= 0
}

// Trusted reports whether ip is in a range trusted for everyone, for domain, or for user.
func (s *Set) Trusted(user, domain string, ip netip.Addr) bool {
	if s == nil || s.n == 0 {
		return false
	}
	ip = ip.Unmap()
	if s.global.contains(ip) {
		return true
	}
	if r, ok := s.domains[domain]; ok && r.contains(ip) {
		return true
	}
	r, ok := s.users[user]
	return ok && r.contains(ip)
}

// Len returns the number of entries in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return s.n
}
