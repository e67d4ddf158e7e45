package console

import (
	"fmt"
	"net/netip"
)

// safeRange is one choice of "mark as safe": the address alone or one of its networks.
type safeRange struct {
	Prefix string
	Label  string
}

// safeRanges lists what a login's address can be trusted as: the address alone, or its network of IPv4 /31 to /22
// and /17, IPv6 /64 down to /32 (every fourth bit, and /32).
func safeRanges(ip string) ([]safeRange, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil || a.Zone() != "" {
		return nil, fmt.Errorf("%q is not an IP address", ip)
	}
	a = a.Unmap()
	out := []safeRange{{Prefix: netip.PrefixFrom(a, a.BitLen()).String(), Label: "this address only (" + a.String() + ")"}}
	var bits []int
	if a.Is4() {
		for b := 31; b >= 22; b-- {
			bits = append(bits, b)
		}
		bits = append(bits, 17)
	} else {
		for b := 64; b >= 32; b -= 4 {
			bits = append(bits, b)
		}
	}
	for _, b := range bits {
		p, _ := a.Prefix(b)
		out = append(out, safeRange{Prefix: p.String(), Label: fmt.Sprintf("its network %s (%s addresses)", p, size(a.BitLen()-b))})
	}
	return out, nil
}

func size(hostBits int) string {
	if hostBits < 20 {
		return fmt.Sprintf("%d", 1<<hostBits)
	}
	return fmt.Sprintf("2^%d", hostBits)
}
