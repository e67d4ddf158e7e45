package rule

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

func TestNewCountry(t *testing.T) {
	r := NewCountry{}
	for k, want := range map[event.Kind]Trigger{event.KindLogin: Open, FailedLogin: Ignore, event.KindSend: Ignore} {
		if got := r.On(k); got != want {
			t.Errorf("On(%q) = %d; want %d", k, got, want)
		}
	}
	var w window.User
	add := func(i int, ip string, cc string, learnLogins int) bool {
		ts := t0.Add(time.Duration(i) * time.Hour)
		w.AddLogin(ts, netip.MustParseAddr(ip), cc, uint32(i+1))
		w.Learn(ts, cc, learnLogins)
		return r.Fires(&w, learnLogins)
	}
	// Threshold 3: the fourth login is the first evaluated.
	for i := range 3 {
		if add(i, "81.2.69.142", "GB", 3) {
			t.Fatalf("login %d while learning fired", i+1)
		}
	}
	if add(3, "81.2.69.142", "GB", 3) {
		t.Fatal("familiar country fired")
	}
	if !add(4, "8.8.8.8", "US", 3) {
		t.Fatal("first login from US after learning did not fire")
	}
	inc := r.Evidence(incident.Incident{}, &w)
	if len(inc.Countries) != 1 || inc.Countries[0] != "US" || inc.Logins != 1 || len(inc.IPs) != 1 || inc.IPs[0] != "8.8.8.8" ||
		!inc.FirstSeen.Equal(t0.Add(4*time.Hour)) || len(inc.Detail) != 2 || inc.Detail[0].Country != "GB" || inc.Detail[1].Logins != 1 {
		t.Errorf("Evidence = %+v; want US new with 1 login from 8.8.8.8, GB in the history", inc)
	}
	if add(5, "8.8.4.4", "US", 3) {
		t.Error("second login from US fired again")
	}
}
