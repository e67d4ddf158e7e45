package window

import (
	"fmt"
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
		u.AddLogin(time.Now(), ipGB, "GB", nextID())
		time.Sleep(23 * time.Hour)
		u.AddLogin(time.Now(), ipUS, "US", nextID())
		if got := u.CountryCount(); got != 2 {
			t.Fatalf("CountryCount after GB then US 23h later = %d; want 2", got)
		}
		time.Sleep(time.Hour) // the GB login is now exactly 24h old: out of (t-24h, t]
		u.AddLogin(time.Now(), ipUS, "US", nextID())
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
			u.AddSend(time.Now(), 3, nextID())
			time.Sleep(time.Minute)
		}
		if m, r := u.Sent(); m != 10 || r != 30 {
			t.Fatalf("Sent() = %d, %d; want 10, 30", m, r)
		}
		// Exactly 24h after the first message, only it has left the window.
		u.AddSend(start.Add(Span), 1, nextID())
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
		u.AddSend(now, 1, nextID())
		if !u.AddSend(now.Add(-time.Hour), 1, nextID()) {
			t.Fatal("AddSend 1h in the past = false; want true (inside the window)")
		}
		if u.AddSend(now.Add(-25*time.Hour), 1, nextID()) {
			t.Fatal("AddSend 25h in the past = true; want false (outside the window)")
		}
		if m, _ := u.Sent(); m != 2 {
			t.Fatalf("Sent() = %d; want 2", m)
		}
		if u.AddLogin(now.Add(-24*time.Hour), ipGB, "GB", nextID()) {
			t.Fatal("AddLogin exactly 24h old = true; want false")
		}
		time.Sleep(time.Hour)
		u.AddSend(time.Now(), 1, nextID()) // now-1h message expires at now+23h; the first two stay
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
			u.AddLogin(time.Now(), netip.AddrFrom4([4]byte{8, 8, byte(i), 1}), "US", nextID())
			time.Sleep(time.Minute)
		}
		u.AddLogin(time.Now(), ipGB, "GB", nextID())
		if n := len(u.addrs(new([MaxAddrs + 1]addr))); n > MaxAddrs {
			t.Fatalf("%d addresses kept; want at most %d", n, MaxAddrs)
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
		u.AddLogin(time.Now(), netip.MustParseAddr("::ffff:81.2.69.142"), "GB", nextID())
		u.AddLogin(time.Now(), ipGB, "GB", nextID())
		if cs := u.Countries(); len(cs[0].IPs) != 1 || cs[0].IPs[0] != ipGB {
			t.Fatalf("mapped and plain IPv4 kept apart: %v", cs[0].IPs)
		}
		u.AddLogin(time.Now(), ipIE, "IE", nextID())
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
	if u.AddLogin(time.Unix(1e9, 0), ipUS2, "", nextID()) {
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
		u.AddLogin(t0.Add(time.Duration(i)*time.Second), ipGB, "GB", nextID())
	}
}

func BenchmarkAddSend(b *testing.B) {
	b.ReportAllocs()
	var u User
	t0 := time.Unix(1.7e9, 0)
	for i := range b.N {
		u.AddSend(t0.Add(time.Duration(i)*time.Second), 2, nextID())
	}
}

var lastID uint32

// nextID returns a distinct event id hash for every event of a test.
func nextID() uint32 { lastID++; return lastID }

// An event delivered again later (a log backfill, a client retrying the next morning) is counted once.
func TestReplayedEventCountedOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		start := time.Now()
		for i := range 300 {
			u.AddSend(start.Add(time.Duration(i)*time.Second), 2, HashID(fmt.Sprint("postfix:Q", i)))
		}
		u.AddLogin(start, ipGB, "GB", HashID("dovecot:s1:ok"))
		time.Sleep(10 * time.Hour)
		for i := range 300 {
			if u.AddSend(start.Add(time.Duration(i)*time.Second), 2, HashID(fmt.Sprint("postfix:Q", i))) {
				t.Fatalf("AddSend of replayed message %d = true; want false", i)
			}
		}
		if u.AddLogin(start, ipGB, "GB", HashID("dovecot:s1:ok")) {
			t.Fatal("AddLogin of a replayed login = true; want false")
		}
		if m, r := u.Sent(); m != 300 || r != 600 {
			t.Errorf("Sent() after the replay = %d, %d; want 300, 600", m, r)
		}
		if cs := u.Countries(); len(cs) != 1 || cs[0].Logins != 1 {
			t.Errorf("Countries() after the replay = %+v; want GB with 1 login", cs)
		}
		// The same id stamped a second later by another reporting path is still the same event.
		if u.AddSend(start.Add(2*time.Second), 2, HashID("postfix:Q1")) {
			t.Error("AddSend of an id seen 1s earlier = true; want false")
		}
		// Once the first copy has left the window, the ids are forgotten with it.
		u.AddSend(start.Add(Span+time.Hour), 1, HashID("later"))
		if n := len(u.events()) / 2; n != 1 {
			t.Errorf("%d ids kept after the window rolled; want 1", n)
		}
	})
}

// Times are kept modulo 2^17 s (36.4 h) and recovered from the newest time: a user idle for longer than that, an
// address in use for days and a message with more recipients than a record's value holds all stay exact.
func TestCompactRecordsStayExact(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var u User
		start := time.Now().UTC().Truncate(time.Second)
		u.AddSend(start, 100000, nextID())
		u.AddSend(start, 3, nextID())
		u.AddLogin(start, ipIE, "IE", nextID())
		if m, r := u.Sent(); m != 2 || r != 100003 {
			t.Fatalf("Sent() = %d, %d; want 2, 100003", m, r)
		}
		time.Sleep(40 * time.Hour) // longer than 2^17 s: the old records must expire, not wrap into the window
		u.AddSend(time.Now(), 1, nextID())
		if m, r := u.Sent(); m != 1 || r != 1 {
			t.Fatalf("Sent() after 40 h idle = %d, %d; want 1, 1", m, r)
		}
		if n := u.CountryCount(); n != 0 {
			t.Fatalf("CountryCount() after 40 h idle = %d; want 0", n)
		}
		// One address used every hour for three days keeps its first login time.
		first := time.Now().UTC()
		for range 72 {
			u.AddLogin(time.Now(), ipIE, "IE", nextID())
			time.Sleep(time.Hour)
		}
		cs := u.Countries()
		if len(cs) != 1 || !cs[0].First.Equal(first) || !cs[0].Last.Equal(time.Now().UTC().Add(-time.Hour)) || cs[0].IPs[0] != ipIE {
			t.Fatalf("Countries() after 72 hourly IE logins = %+v; want first %v, last an hour ago, %v", cs, first, ipIE)
		}
		if m, _ := u.Sent(); m != 0 {
			t.Errorf("Sent() 72 h after the last message = %d; want 0", m)
		}
		// The big message leaves the window with its recipients.
		u.AddSend(time.Now(), 5000, nextID())
		time.Sleep(time.Hour)
		u.AddSend(time.Now(), 2, nextID())
		time.Sleep(24 * time.Hour)
		u.AddSend(time.Now(), 7, nextID())
		if m, r := u.Sent(); m != 1 || r != 7 {
			t.Errorf("Sent() after the 5000-recipient message expired = %d, %d; want 1, 7", m, r)
		}
	})
}
