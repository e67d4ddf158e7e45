// Package netset matches client addresses against trusted network ranges scoped to everyone, a domain or a user.
package netset

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Limits on trusted ranges: wider ranges would switch detection off for a huge address space.
const (
	MinBits4 = 17
	MinBits6 = 32
)

// ParsePrefix parses an IPv4 or IPv6 address (a single host) or CIDR prefix strictly and canonicalises it: host
// bits are cleared and IPv4-mapped IPv6 prefixes become IPv4. It rejects zones, leading zeros, shortened or
// hexadecimal IPv4 forms, integers, hostnames and out-of-range prefix lengths.
func ParsePrefix(s string) (netip.Prefix, error) {
	if s == "" {
		return netip.Prefix{}, errors.New("empty address")
	}
	if len(s) > 64 {
		return netip.Prefix{}, fmt.Errorf("%.20q... is too long for an address", s)
	}
	if strings.ContainsAny(s, "% \t\n") {
		return netip.Prefix{}, fmt.Errorf("%q: zones and spaces are not allowed", s)
	}
	addrPart, bitsPart, hasBits := strings.Cut(s, "/")
	addr, err := netip.ParseAddr(addrPart) // rejects leading zeros, 1.2.3, 0x7f.1, integers and hostnames
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 or IPv6 address or CIDR prefix", s)
	}
	bits := addr.BitLen()
	if hasBits {
		if bitsPart == "" || len(bitsPart) > 3 || (len(bitsPart) > 1 && bitsPart[0] == '0') {
			return netip.Prefix{}, fmt.Errorf("%q: bad prefix length", s)
		}
		bits = 0
		for _, c := range bitsPart {
			if c < '0' || c > '9' {
				return netip.Prefix{}, fmt.Errorf("%q: bad prefix length", s)
			}
			bits = bits*10 + int(c-'0')
		}
		if bits > addr.BitLen() {
			return netip.Prefix{}, fmt.Errorf("%q: prefix length /%d is longer than /%d", s, bits, addr.BitLen())
		}
	}
	if addr.Is4In6() {
		if bits < 96 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped prefix must be /96 or longer", s)
		}
		addr, bits = addr.Unmap(), bits-96
	}
	return netip.PrefixFrom(addr, bits).Masked(), nil
}

// CheckTrusted reports why a prefix may not be a trusted range: IPv4 wider than /17 or IPv6 wider than /32.
func CheckTrusted(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return errors.New("invalid prefix")
	case p.Addr().Is4() && p.Bits() < MinBits4:
		return fmt.Errorf("%s is wider than /%d: trusting it would switch detection off for %d addresses", p, MinBits4, 1<<(32-p.Bits()))
	case p.Addr().Is6() && p.Bits() < MinBits6:
		return fmt.Errorf("%s is wider than /%d: trusting it would switch detection off for a huge address space", p, MinBits6)
	}
	return nil
}
