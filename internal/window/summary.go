package window

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Country summarises the successful untrusted logins from one country in the window.
type Country struct {
	Country     string
	IPs         []netip.Addr // sorted
	First, Last time.Time
	Logins      int
}

// Countries returns the distinct login countries in the window ending at the user's newest event, sorted by code.
func (u *User) Countries() []Country {
	var out []Country
	for _, a := range u.addrs {
		cc := string(a.cc[:])
		i := slices.IndexFunc(out, func(c Country) bool { return c.Country == cc })
		if i < 0 {
			out = append(out, Country{Country: cc, First: time.Unix(int64(a.first), 0).UTC(), Last: time.Unix(int64(a.last), 0).UTC()})
			i = len(out) - 1
		}
		c := &out[i]
		c.IPs = append(c.IPs, a.addr())
		c.Logins += int(a.logins)
		if f := time.Unix(int64(a.first), 0).UTC(); f.Before(c.First) {
			c.First = f
		}
		if l := time.Unix(int64(a.last), 0).UTC(); l.After(c.Last) {
			c.Last = l
		}
	}
	for i := range out {
		slices.SortFunc(out[i].IPs, netip.Addr.Compare)
	}
	slices.SortFunc(out, func(a, b Country) int { return strings.Compare(a.Country, b.Country) })
	return out
}

// CountryCount returns the number of distinct login countries in the window, without allocating.
func (u *User) CountryCount() int {
	n := 0
	for i, a := range u.addrs {
		seen := false
		for _, b := range u.addrs[:i] {
			if b.cc == a.cc {
				seen = true
				break
			}
		}
		if !seen {
			n++
		}
	}
	return n
}

// Sent returns the messages and recipients sent in the window.
func (u *User) Sent() (messages, recipients int) { return int(u.msgs), int(u.rcpts) }

// FirstSend returns the time of the oldest message in the window, or the zero time.
func (u *User) FirstSend() time.Time {
	if len(u.sends) == 0 {
		return time.Time{}
	}
	return time.Unix(int64(u.sends[0].t), 0).UTC()
}

func (a addr) addr() netip.Addr {
	ip := netip.AddrFrom16(a.ip)
	if a.v4 {
		return ip.Unmap()
	}
	return ip
}
