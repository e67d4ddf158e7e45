// Package clientip derives a request's client address: the TCP peer, unless the peer is a trusted proxy.
package clientip

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/vigil-ids/vigil/internal/netset"
)

// Resolver knows the trusted proxies. The zero value trusts none: X-Forwarded-For is ignored.
type Resolver struct {
	proxies []netip.Prefix
}

// NewResolver parses trusted proxies (addresses or CIDR ranges, comma-separated, as in VIGIL_TRUSTED_PROXIES).
func NewResolver(list string) (*Resolver, error) {
	r := &Resolver{}
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		p, err := netset.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: %w", s, err)
		}
		r.proxies = append(r.proxies, p)
	}
	return r, nil
}

func (r *Resolver) trusted(a netip.Addr) bool {
	for _, p := range r.proxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the client address of a request. When the TCP peer is a trusted proxy, X-Forwarded-For is read
// right to left and the first address that is not a trusted proxy wins; a malformed header falls back to the peer.
func (r *Resolver) ClientIP(req *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		host = req.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap().WithZone("")
	if !r.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(req.Header.Values("X-Forwarded-For"), ","), ",")
	if len(hops) > 64 {
		return peer
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		if h == "" {
			continue
		}
		a, err := netip.ParseAddr(h)
		if err != nil || a.Zone() != "" {
			return peer // malformed: do not guess
		}
		a = a.Unmap()
		if !r.trusted(a) {
			return a
		}
	}
	return peer
}
