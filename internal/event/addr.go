package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// AddrEvent is a login slimmed for the address partitions: what the address-keyed rules read. The detector owning
// the user's partition republishes failed logins and first successes from an address, so that every login from
// one address reaches one engine.
type AddrEvent struct {
	ID      string     `json:"id"`
	Time    time.Time  `json:"time"`
	IP      netip.Addr `json:"ip"`
	User    string     `json:"user"`
	Domain  string     `json:"domain,omitempty"`
	Service string     `json:"service,omitempty"`
	PWHash  string     `json:"pwhash,omitempty"`
	Success bool       `json:"success,omitempty"`
	// Known says the user logged in successfully from IP within the user's window before this failure: the
	// user's own device, retrying a stale password. Address rules do not count it.
	Known bool `json:"known,omitempty"`
}

// ForAddr returns the address partitions' copy of an event, and whether they need one: every untrusted failed
// login, and an untrusted successful login when it is the user's first from that address in the user's window
// (known false), which is how the victim of a sprayer is seen without republishing every login.
func ForAddr(e *Event, trusted, known bool) (AddrEvent, bool) {
	if e.Kind != KindLogin || trusted || (e.Success && known) {
		return AddrEvent{}, false
	}
	return Slim(e, known), true
}

// Slim returns the AddrEvent of a login.
func Slim(e *Event, known bool) AddrEvent {
	return AddrEvent{ID: e.ID, Time: e.Time, IP: e.IP, User: e.User, Domain: e.Domain, Service: e.Service, PWHash: e.PWHash, Success: e.Success, Known: known}
}

// AppendAddr appends an AddrEvent and a newline to b: a republished message holds several, one per line.
func AppendAddr(b []byte, e *AddrEvent) ([]byte, error) {
	return append(appendAddrJSON(b, e), '\n'), nil
}

// MarshalAddr encodes an AddrEvent.
func MarshalAddr(e *AddrEvent) ([]byte, error) { return appendAddrJSON(nil, e), nil }

// UnmarshalAddr decodes and checks an AddrEvent.
func UnmarshalAddr(data []byte, e *AddrEvent) error {
	if len(data) > MaxEncodedLength {
		return fmt.Errorf("address event: %d bytes, more than %d", len(data), MaxEncodedLength)
	}
	if !decodeAddrFast(data, e) {
		*e = AddrEvent{}
		if err := json.Unmarshal(data, e); err != nil {
			return fmt.Errorf("address event: %w", err)
		}
	}
	switch {
	case e.ID == "" || len(e.ID) > MaxIDLen:
		return errors.New("address event: id missing or too long")
	case !e.IP.IsValid():
		return errors.New("address event: ip missing")
	case e.User == "" || len(e.User) > MaxUserLen || len(e.Domain) > MaxDomainLen || len(e.PWHash) > MaxPWHashLen || len(e.Service) > 32:
		return errors.New("address event: user missing or a field too long")
	case e.Time.IsZero():
		return errors.New("address event: time missing")
	}
	e.IP = e.IP.Unmap()
	e.Time = e.Time.UTC()
	return nil
}

// AddrPrefix returns the prefix an address is counted under besides itself: its /24 (IPv4) or /64 (IPv6).
func AddrPrefix(ip netip.Addr) netip.Prefix {
	ip = ip.Unmap()
	bits := 64
	if ip.Is4() {
		bits = 24
	}
	p, _ := ip.Prefix(bits)
	return p
}

// AddrPartition maps an address to an address partition in [0, n) by its prefix, so the address and its prefix
// are counted by one engine.
func AddrPartition(ip netip.Addr, n int) int {
	if n <= 1 {
		return 0
	}
	p := AddrPrefix(ip)
	b := p.Addr().As16()
	h := uint32(2166136261)
	for _, c := range b {
		h ^= uint32(c)
		h *= 16777619
	}
	h ^= uint32(p.Bits())
	h *= 16777619
	return int(h % uint32(n))
}
