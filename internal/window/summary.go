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
	var buf [MaxAddrs + 1]addr
	for _, a := range u.addrs(&buf) {
		cc := string(a.cc[:])
		i := slices.IndexFunc(out, func(c Country) bool { return c.Country == cc })
		if i < 0 {
			out = append(out, Country{Country: cc, First: time.Unix(int64(a.first), 0).UTC(), Last: time.Unix(a.last, 0).UTC()})
			i = len(out) - 1
		}
		c := &out[i]
		c.IPs = append(c.IPs, a.ip)
		c.Logins += int(a.logins)
		if f := time.Unix(int64(a.first), 0).UTC(); f.Before(c.First) {
			c.First = f
		}
		if l := time.Unix(a.last, 0).UTC(); l.After(c.Last) {
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
	var ccs [MaxAddrs + 1]uint32
	seen := ccs[:0]
	ar := u.addrRecs()
	n := 0
	for j := 0; j < len(ar); j += addrLen(ar[j:]) {
		cc := ar[j+2] >> 16
		if !slices.Contains(seen, cc) {
			n++
			seen = append(seen, cc) // on the stack up to MaxAddrs+1 countries
		}
	}
	return n
}

// Sent returns the messages and recipients sent in the window.
func (u *User) Sent() (messages, recipients int) { return int(u.msgs), int(u.rcpts) }

// FirstSend returns the time of the oldest message in the window, or the zero time.
func (u *User) FirstSend() time.Time {
	ev := u.events()
	for i := 0; 2*i < len(ev); i++ {
		if k := recKind(ev[2*i+1]); k == kSend || k == kSendBig {
			return time.Unix(recTime(u, ev, i), 0).UTC()
		}
	}
	return time.Time{}
}
