package rule

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/window"
)

var (
	homeIP     = netip.MustParseAddr("81.2.69.142")
	homeIP2    = netip.MustParseAddr("81.2.69.200") // same /24 as homeIP
	attackerIP = netip.MustParseAddr("203.0.113.9")
)

func TestBruteForceTriggers(t *testing.T) {
	r := BruteForce{}
	for k, want := range map[event.Kind]Trigger{FailedLogin: Open, event.KindLogin: Ignore, event.KindSend: Ignore} {
		if got := r.On(k); got != want {
			t.Errorf("On(%q) = %d; want %d", k, got, want)
		}
	}
}

// The threshold's boundaries for each of the three ways to fire, at the default N = 8.
func TestBruteForceBoundaries(t *testing.T) {
	const n = 8
	tests := []struct {
		name string
		add  func(w *window.User, i int) // the i-th failure
		fire int                         // the failure count at which it first fires; 0: never within 200
	}{
		{"distinct passwords, slowly (one an hour)", func(w *window.User, i int) {
			w.AddFailure(t0.Add(time.Duration(i)*time.Hour/10), attackerIP, fmt.Sprint("pw", i), uint32(i+1))
		}, n},
		{"distinct passwords from the user's own network", func(w *window.User, i int) {
			w.AddFailure(t0.Add(time.Duration(i)*time.Minute), homeIP2, fmt.Sprint("pw", i), uint32(i+1))
		}, n},
		{"unhashed, fast from one unknown address (one per 17 s: 8 within 119 s)", func(w *window.User, i int) {
			w.AddFailure(t0.Add(time.Duration(i)*17*time.Second), attackerIP, "", uint32(i+1))
		}, n},
		{"unhashed, one per 18 s: never 8 within 120 s", func(w *window.User, i int) {
			w.AddFailure(t0.Add(time.Duration(i)*18*time.Second), attackerIP, "", uint32(i+1))
		}, 0},
		{"unhashed, spread over distinct networks (one an hour)", func(w *window.User, i int) {
			w.AddFailure(t0.Add(time.Duration(i)*time.Hour/10), netip.AddrFrom4([4]byte{198, 18, byte(i), 1}), "", uint32(i+1))
		}, n},
		{"unhashed, fast from the user's own network", func(w *window.User, i int) {
			w.AddFailure(t0.Add(time.Duration(i)*time.Second), homeIP2, "", uint32(i+1))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w window.User
			w.AddLogin(t0.Add(-time.Hour), homeIP, "GB", 1000) // the user's usual place
			for i := range 200 {
				tt.add(&w, i)
				got := BruteForce{}.Fires(&w, n)
				want := tt.fire > 0 && i+1 >= tt.fire
				if got != want {
					t.Fatalf("Fires after %d failures = %v; want %v", i+1, got, want)
				}
				if tt.fire > 0 && i+1 > tt.fire {
					break
				}
			}
		})
	}
}

// A device retrying one stale password all day never fires, whatever its polling interval and wherever it is:
// from the user's usual address with the hash (Dovecot), from a hotel with the hash, and from the usual network
// without the hash (log-sourced).
func TestBruteForceStaleDeviceNeverFires(t *testing.T) {
	for _, tt := range []struct {
		name   string
		ip     netip.Addr
		pwhash string
		every  time.Duration
	}{
		{"usual address, hashed, every 10 s", homeIP, "5f4dcc3b", 10 * time.Second},
		{"hotel address, hashed, every minute", attackerIP, "5f4dcc3b", time.Minute},
		{"usual network, unhashed, every 5 s", homeIP2, "", 5 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var w window.User
			w.AddLogin(t0, homeIP, "GB", 1)
			for i := range int(36 * time.Hour / tt.every) {
				ts := t0.Add(time.Duration(i) * tt.every)
				if i%int(time.Hour/tt.every) == 0 { // the user's other devices keep logging in
					w.AddLogin(ts, homeIP, "GB", uint32(1e6+i))
				}
				w.AddFailure(ts, tt.ip, tt.pwhash, uint32(i+2))
				if (BruteForce{}).Fires(&w, 8) {
					t.Fatalf("stale device fired after %d failures (%v)", i+1, ts.Sub(t0))
				}
			}
		})
	}
}

func TestBruteForceEvidence(t *testing.T) {
	var w window.User
	v6 := netip.MustParseAddr("2001:db8:1:2:3:4:5:6")
	w.AddLogin(t0, homeIP, "GB", 1)
	for i := range 8 {
		ip := attackerIP
		if i%2 == 1 {
			ip = v6
		}
		w.AddFailure(t0.Add(time.Duration(i+1)*time.Second), ip, fmt.Sprint("pw", i%4), uint32(10+i))
	}
	inc := BruteForce{}.Evidence(incidentWithNothing(), &w)
	if inc.Failures != 8 || inc.DistinctPasswords != 4 || inc.Logins != 1 || !inc.FirstSeen.Equal(t0.Add(time.Second)) {
		t.Errorf("Evidence = failures %d, distinct %d, logins %d, first %v; want 8, 4, 1, %v",
			inc.Failures, inc.DistinctPasswords, inc.Logins, inc.FirstSeen, t0.Add(time.Second))
	}
	if want := []string{"2001:db8:1:2::/64", "203.0.113.9"}; fmt.Sprint(inc.IPs) != fmt.Sprint(want) {
		t.Errorf("Evidence IPs = %v; want %v", inc.IPs, want)
	}
}

func incidentWithNothing() incident.Incident { return incident.Incident{} }
