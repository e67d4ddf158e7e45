package window

import (
	"net/netip"
	"testing"
	"time"
)

var tH = time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC)

// learn counts a successful login at t from ip in cc and feeds it to the history, as the engine does.
func learn(u *User, t time.Time, ip netip.Addr, cc string) bool {
	if !u.AddLogin(t, ip, cc, nextID()) {
		return false
	}
	return u.Learn(t, cc, LearnLogins)
}

// The learning period ends with the 10th login; the 11th from a new country is news, a familiar one is not.
func TestLearningEndsAfterTenLogins(t *testing.T) {
	var u User
	for i := range LearnLogins {
		cc, ip := "GB", ipGB
		if i == 5 {
			cc, ip = "US", ipUS // a trip while learning: familiar afterwards
		}
		if learn(&u, tH.Add(time.Duration(i)*time.Hour), ip, cc) {
			t.Fatalf("login %d (learning) reported a new country", i+1)
		}
	}
	if learn(&u, tH.Add(11*time.Hour), ipUS2, "US") || u.NewCountry() {
		t.Fatal("11th login from US (used while learning) reported new")
	}
	if !learn(&u, tH.Add(12*time.Hour), ipIE, "IE") || !u.NewCountry() {
		t.Fatal("12th login from IE = not new; want new")
	}
	u.AddLogin(tH.Add(13*time.Hour), ipGB, "GB", nextID())
	if u.NewCountry() {
		t.Error("NewCountry() after a later login the history was not given = true; want false")
	}
	if learn(&u, tH.Add(14*time.Hour), ipIE, "IE") {
		t.Error("second login from IE = new; want familiar")
	}
	hist, first, learning := u.History(tH.Add(14 * time.Hour))
	if len(hist) != 3 || hist[1].Country != "IE" || !hist[1].New || hist[0].New || !first.Equal(tH) || learning {
		t.Errorf("History() = %+v, %v, learning %v; want GB, IE (new), US from %v, learned", hist, first, learning, tH)
	}
}

// Fourteen days after the first login the learning period is over, however few logins there were; before, nothing
// is new. A country unused for 90 days is forgotten, and a user whose countries are all forgotten learns anew.
func TestLearningPeriodAndTTL(t *testing.T) {
	var u User
	learn(&u, tH, ipGB, "GB")
	if learn(&u, tH.Add(LearnPeriod-time.Second), ipUS, "US") {
		t.Fatal("US a second before the 14 days are over = new; want learning")
	}
	if !learn(&u, tH.Add(LearnPeriod), ipIE, "IE") {
		t.Fatal("IE at exactly 14 days = not new; want new")
	}
	// GB used again on day 50; US and IE never again.
	learn(&u, tH.Add(50*24*time.Hour), ipGB, "GB")
	if !learn(&u, tH.Add(LearnPeriod+HistoryTTL+24*time.Hour), ipUS, "US") {
		t.Error("US 91 days after its last use = familiar; want new (forgotten)")
	}
	if !u.Remembers(tH.Add(LearnPeriod + HistoryTTL + 24*time.Hour)) {
		t.Error("Remembers() with GB used 55 days ago = false")
	}
	if learn(&u, tH.Add(300*24*time.Hour), ipIE, "IE") {
		t.Error("IE after every country was forgotten = new; want learning anew")
	}
	if _, first, learning := u.History(tH.Add(300 * 24 * time.Hour)); !learning || !first.Equal(tH.Add(300*24*time.Hour)) {
		t.Errorf("History() after forgetting: first %v, learning %v; want a new learning period", first, learning)
	}
}

// A history seeded from storage decides like the one it was built from.
func TestSeedHistoryDecidesLikeLive(t *testing.T) {
	var live, seeded User
	for i := range 12 {
		learn(&live, tH.Add(time.Duration(i)*time.Hour), ipGB, "GB")
	}
	hist, first, _ := live.History(tH.Add(12 * time.Hour))
	seeded.SeedHistory(first, 12, hist)
	for _, ip := range []struct {
		ip netip.Addr
		cc string
	}{{ipGB, "GB"}, {ipUS, "US"}, {ipIE, "IE"}, {ipUS2, "US"}} {
		tt := tH.Add(20 * time.Hour)
		a, b := learn(&live, tt, ip.ip, ip.cc), learn(&seeded, tt, ip.ip, ip.cc)
		if a != b {
			t.Errorf("login from %s: live new=%v, seeded new=%v", ip.cc, a, b)
		}
	}
}
