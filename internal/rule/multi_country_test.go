package rule

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func TestMultiCountry(t *testing.T) {
	r := MultiCountry{}
	for k, want := range map[event.Kind]Trigger{event.KindLogin: Open, event.KindSend: Evidence, "other": Ignore} {
		if got := r.On(k); got != want {
			t.Errorf("On(%q) = %d; want %d", k, got, want)
		}
	}
	var w window.User
	w.AddLogin(t0, netip.MustParseAddr("81.2.69.142"), "GB", 1)
	if r.Fires(&w, 2) {
		t.Errorf("Fires(1 country, 2) = true; want false")
	}
	w.AddLogin(t0.Add(time.Hour), netip.MustParseAddr("8.8.8.8"), "US", 2)
	w.AddLogin(t0.Add(2*time.Hour), netip.MustParseAddr("8.8.4.4"), "US", 3)
	w.AddSend(t0.Add(3*time.Hour), 4, 4)
	if !r.Fires(&w, 2) || r.Fires(&w, 3) {
		t.Errorf("Fires(2 countries, 2 / 3) = %v / %v; want true / false", r.Fires(&w, 2), r.Fires(&w, 3))
	}
	inc := r.Evidence(incident.Incident{}, &w)
	want := incident.Incident{
		FirstSeen: t0, Countries: []string{"GB", "US"}, IPs: []string{"8.8.4.4", "8.8.8.8", "81.2.69.142"},
		Detail: []incident.Country{
			{Country: "GB", IPs: []string{"81.2.69.142"}, FirstSeen: t0, LastSeen: t0, Logins: 1},
			{Country: "US", IPs: []string{"8.8.4.4", "8.8.8.8"}, FirstSeen: t0.Add(time.Hour), LastSeen: t0.Add(2 * time.Hour), Logins: 2},
		},
		Logins: 3, Messages24h: 1, Recipients24h: 4,
	}
	if diff := cmp.Diff(want, inc); diff != "" {
		t.Errorf("Evidence mismatch (-want +got):\n%s", diff)
	}
}
