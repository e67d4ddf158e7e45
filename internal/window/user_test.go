package window

import (
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var (
	ipGB  = netip.MustParseAddr("81.2.69.142")
	ipUS  = netip.MustParseAddr("8.8.8.8")
	ipUS2 = netip.MustParseAddr("8.8.4.4")
	ipIE  = netip.MustParseAddr("2a00:1450:4001::1")
)

// Event times follow the fake clock of synctest: time.Sleep moves a simulated day forward instantly.
func TestCountriesRollOffAfter24h(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		u.AddLogin(time.Now(), ipGB, "GB")
		time.Sleep(23 * time.Hour)
		u.AddLogin(time.Now(), ipUS, "US")
		if got := u.CountryCount(); got != 2 {
			t.Fatalf("CountryCount after GB then US 23h later = %d; want 2", got)
		}
		time.Sleep(time.Hour) // the GB login is now exactly 24h old: out of (t-24h, t]
		u.AddLogin(time.Now(), ipUS, "US")
		if got := u.CountryCount(); got != 1 {
			t.Fatalf("CountryCount 24h after the GB login = %d; want 1", got)
		}
		got := u.Countries()
		want := []Country{{Country: "US", IPs: []netip.Addr{ipUS}, First: got[0].First, Last: time.Now().UTC(), Logins: 2}}
		if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("Countries() mismatch (-want +got):\n%s", diff)
		}
	})
}

func TestSendsAreExactToTheSecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		start := time.Now()
		for range 10 {
			u.AddSend(time.Now(), 3)
			time.Sleep(time.Minute)
		}
		if m, r := u.Sent(); m != 10 || r != 30 {
			t.Fatalf("Sent() = %d, %d; want 10, 30", m, r)
		}
		// Exactly 24h after the first message, only it has left the window.
		u.AddSend(start.Add(Span), 1)
		if m, r := u.Sent(); m != 10 || r != 28 {
			t.Fatalf("Sent() at first+24h = %d, %d; want 10, 28", m, r)
		}
		if got, want := u.FirstSend(), start.Add(time.Minute).UTC().Truncate(time.Second); !got.Equal(want) {
			t.Errorf("FirstSend() = %v; want %v", got, want)
		}
	})
}

func TestOutOfOrderEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		now := time.Now()
		u.AddSend(now, 1)
		if !u.AddSend(now.Add(-time.Hour), 1) {
			t.Fatal("AddSend 1h in the past = false; want true (inside the window)")
		}
		if u.AddSend(now.Add(-25*time.Hour), 1) {
			t.Fatal("AddSend 25h in the past = true; want false (outside the window)")
		}
		if m, _ := u.Sent(); m != 2 {
			t.Fatalf("Sent() = %d; want 2", m)
		}
		if u.AddLogin(now.Add(-24*time.Hour), ipGB, "GB") {
			t.Fatal("AddLogin exactly 24h old = true; want false")
		}
		time.Sleep(time.Hour)
		u.AddSend(time.Now(), 1) // now-1h message expires at now+23h; the first two stay
		if m, _ := u.Sent(); m != 3 {
			t.Fatalf("Sent() = %d; want 3", m)
		}
	})
}

func TestFoldingKeepsEveryCountry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		// A mobile user hops over many carrier addresses in one country, then logs in once from another.
		for i := range 40 {
			u.AddLogin(time.Now(), netip.AddrFrom4([4]byte{8, 8, byte(i), 1}), "US")
			time.Sleep(time.Minute)
		}
		u.AddLogin(time.Now(), ipGB, "GB")
		if len(u.addrs) > MaxAddrs {
			t.Fatalf("%d addresses kept; want at most %d", len(u.addrs), MaxAddrs)
		}
		cs := u.Countries()
		if len(cs) != 2 || cs[0].Country != "GB" || cs[1].Country != "US" {
			t.Fatalf("Countries() = %+v; want GB and US", cs)
		}
		if cs[1].Logins != 40 {
			t.Errorf("US logins = %d; want 40 (folded addresses keep their counts)", cs[1].Logins)
		}
	})
}

func TestIdleAndMappedAddresses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		u.AddLogin(time.Now(), netip.MustParseAddr("::ffff:81.2.69.142"), "GB")
		u.AddLogin(time.Now(), ipGB, "GB")
		if cs := u.Countries(); len(cs[0].IPs) != 1 || cs[0].IPs[0] != ipGB {
			t.Fatalf("mapped and plain IPv4 kept apart: %v", cs[0].IPs)
		}
		u.AddLogin(time.Now(), ipIE, "IE")
		if u.Idle(time.Now()) {
			t.Fatal("Idle right after logins = true")
		}
		if !u.Idle(time.Now().Add(Span)) {
			t.Fatal("Idle 24h after the last event = false")
		}
	})
}

func TestUnknownCountryIgnored(t *testing.T) {
	var u User
	if u.AddLogin(time.Unix(1e9, 0), ipUS2, "") {
		t.Fatal("AddLogin with unknown country = true; want false")
	}
	if u.CountryCount() != 0 {
		t.Fatal("unknown country counted")
	}
}

func BenchmarkAddLogin(b *testing.B) {
	b.ReportAllocs()
	var u User
	t0 := time.Unix(1.7e9, 0)
	for i := range b.N {
		u.AddLogin(t0.Add(time.Duration(i)*time.Second), ipGB, "GB")
	}
}

func BenchmarkAddSend(b *testing.B) {
	b.ReportAllocs()
	var u User
	t0 := time.Unix(1.7e9, 0)
	for i := range b.N {
		u.AddSend(t0.Add(time.Duration(i)*time.Second), 2)
	}
}
