package rule

import (
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

func TestSendVolume(t *testing.T) {
	r := SendVolume{}
	for k, want := range map[event.Kind]Trigger{event.KindSend: Open, event.KindLogin: Ignore, "other": Ignore} {
		if got := r.On(k); got != want {
			t.Errorf("On(%q) = %d; want %d", k, got, want)
		}
	}
	var w window.User
	w.AddLogin(t0, netip.MustParseAddr("81.2.69.142"), "GB", 1)
	for i := range 3 {
		w.AddSend(t0.Add(time.Duration(i+1)*time.Minute), 2, uint32(10+i))
	}
	if !r.Fires(&w, 3) || r.Fires(&w, 4) {
		t.Errorf("Fires(3 messages, 3 / 4) = %v / %v; want true / false", r.Fires(&w, 3), r.Fires(&w, 4))
	}
	inc := r.Evidence(incident.Incident{}, &w)
	if inc.Messages24h != 3 || inc.Recipients24h != 6 || inc.Logins != 1 || !inc.FirstSeen.Equal(t0.Add(time.Minute)) {
		t.Errorf("Evidence = messages %d, recipients %d, logins %d, first seen %v; want 3, 6, 1, the oldest send %v",
			inc.Messages24h, inc.Recipients24h, inc.Logins, inc.FirstSeen, t0.Add(time.Minute))
	}
}
