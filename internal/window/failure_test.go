package window

import (
	"net/netip"
	"testing"
	"time"
)

func TestFailuresCountedOnceAndKept(t *testing.T) {
	var u User
	t0 := time.Unix(1.8e9, 0).UTC()
	v6 := netip.MustParseAddr("2001:db8:1:2:3:4:5:6")
	u.AddLogin(t0, ipGB, "GB", 1)
	if !u.AddFailure(t0.Add(time.Second), ipGB, "aa", 2) || !u.AddFailure(t0.Add(2*time.Second), v6, "", 3) {
		t.Fatal("AddFailure of new failures = false; want true")
	}
	if u.AddFailure(t0.Add(time.Second), ipGB, "aa", 2) {
		t.Error("AddFailure of a replayed failure = true; want false")
	}
	got := u.Failures()
	want := []Failure{
		{Time: t0.Add(time.Second), Addr: ipGB, Password: HashID("aa"), Hashed: true, Known: true},
		{Time: t0.Add(2 * time.Second), Addr: netip.MustParseAddr("2001:db8:1:2::")},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("Failures() = %+v; want %+v", got, want)
	}
	if m, _ := u.Sent(); m != 0 || u.CountryCount() != 1 || u.FailureCount() != 2 {
		t.Errorf("failures changed other counts: sent %d, countries %d, failures %d", m, u.CountryCount(), u.FailureCount())
	}
	u.AddSend(t0.Add(Span+2*time.Second), 1, 4) // both failures leave the window
	if n := u.FailureCount(); n != 0 {
		t.Errorf("FailureCount() a day later = %d; want 0", n)
	}
}

// A device retrying one stale password keeps only its newest MaxPairFailures failures; another password or
// another network is a pair of its own.
func TestFailuresOfOnePairAreCapped(t *testing.T) {
	var u User
	t0 := time.Unix(1.8e9, 0).UTC()
	for i := range 1000 {
		counted := u.AddFailure(t0.Add(time.Duration(i)*time.Minute), ipUS, "stale", uint32(i+1))
		if !counted {
			t.Fatalf("failure %d not counted", i)
		}
	}
	if n := u.FailureCount(); n != MaxPairFailures {
		t.Fatalf("FailureCount() after 1000 retries of one password = %d; want %d", n, MaxPairFailures)
	}
	if fs := u.Failures(); !fs[0].Time.Equal(t0.Add(984 * time.Minute)) {
		t.Errorf("oldest failure kept = %v; want the newest %d (%v)", fs[0].Time, MaxPairFailures, t0.Add(984*time.Minute))
	}
	// A replay of a dropped failure stays dropped.
	if u.AddFailure(t0, ipUS, "stale", 1) {
		t.Error("replay of a dropped (oldest) failure = true; want false")
	}
	u.AddFailure(t0.Add(1000*time.Minute), ipUS, "other", 5000)
	u.AddFailure(t0.Add(1000*time.Minute), ipGB, "stale", 5001)
	if n := u.FailureCount(); n != MaxPairFailures+2 {
		t.Errorf("FailureCount() with two more pairs = %d; want %d", n, MaxPairFailures+2)
	}
	if len(u.recs) > 2*3*(MaxPairFailures+2) {
		t.Errorf("%d words kept; want at most %d", len(u.recs), 2*3*(MaxPairFailures+2))
	}
}
