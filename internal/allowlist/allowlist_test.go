package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"
)

var (
	me    = netip.MustParseAddr("203.0.113.9")
	other = netip.MustParseAddr("198.51.100.1")
)

func entry(id, p string) Entry {
	return Entry{ID: id, Prefix: netip.MustParsePrefix(p), Description: id}
}

func TestRestrictionCannotLockOutTheCaller(t *testing.T) {
	var l List
	if err := l.SetRestricted(true, me); !errors.Is(err, ErrEmpty) {
		t.Errorf("restricting an empty list = %v; want ErrEmpty", err)
	}
	l.Add(entry("office", "198.51.100.0/24"))
	if err := l.SetRestricted(true, me); !errors.Is(err, ErrLockout) {
		t.Errorf("restricting without covering the caller = %v; want ErrLockout", err)
	}
	l.Add(entry("home", "203.0.113.0/24"))
	if err := l.SetRestricted(true, netip.MustParseAddr("::ffff:203.0.113.9")); err != nil {
		t.Fatalf("restricting with the caller (IPv4-mapped) covered = %v", err)
	}
	if !l.Allows(me) || l.Allows(netip.MustParseAddr("192.0.2.1")) || !l.Allows(other) {
		t.Error("Allows does not follow the entries")
	}
	if _, err := l.Remove("home", me); !errors.Is(err, ErrLockout) {
		t.Errorf("removing the caller's covering entry = %v; want ErrLockout", err)
	}
	if err := l.Update("home", netip.MustParsePrefix("192.0.2.0/24"), "moved", me); !errors.Is(err, ErrLockout) {
		t.Errorf("moving the caller's entry away = %v; want ErrLockout", err)
	}
	if _, err := l.Remove("office", me); err != nil {
		t.Errorf("removing another entry = %v", err)
	}
	if err := l.SetRestricted(false, me); err != nil || !l.Allows(netip.MustParseAddr("192.0.2.1")) || len(l.Entries) != 1 {
		t.Errorf("unrestricted mode: err %v, list %+v; want everything allowed and the list kept", err, l)
	}
	if err := l.Add(entry("dup", "203.0.113.0/24")); !errors.Is(err, ErrDuplicate) {
		t.Errorf("duplicate Add = %v", err)
	}
}

func TestIPv6AndParse(t *testing.T) {
	l := List{Restricted: true, Entries: []Entry{entry("v6", "2001:db8:1::/48")}}
	if !l.Allows(netip.MustParseAddr("2001:db8:1::5")) || l.Allows(netip.MustParseAddr("2001:db8:2::5")) {
		t.Error("IPv6 matching")
	}
	p, d, err := ParseEntry(" 10.1.2.3/8 ", " VPN ")
	if err != nil || p.String() != "10.0.0.0/8" || d != "VPN" {
		t.Errorf("ParseEntry = %v %q %v", p, d, err)
	}
	for _, bad := range [][2]string{{"1.2.3", "x"}, {"0x7f.0.0.1", "x"}, {"1.2.3.4/33", "x"}, {"::1/129", "x"}, {"fe80::1%eth0", "x"}, {"2130706433", "x"}, {"1.2.3.4", ""}, {"1.2.3.4", "a\nb"}} {
		t.Run(fmt.Sprintf("%q_%q", bad[0], bad[1]), func(t *testing.T) {
			if _, _, err := ParseEntry(bad[0], bad[1]); !errors.Is(err, ErrBadEntry) {
				t.Errorf("ParseEntry(%q, %q) = %v; want ErrBadEntry", bad[0], bad[1], err)
			}
		})
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add("10.0.0.5/8", "office")
	f.Add("::ffff:1.2.3.4/120", "x")
	f.Fuzz(func(t *testing.T, prefix, desc string) {
		p, _, err := ParseEntry(prefix, desc)
		if err != nil {
			return
		}
		if p != p.Masked() || p.Addr().Is4In6() {
			t.Fatalf("ParseEntry(%q) = %v: not canonical", prefix, p)
		}
	})
}
