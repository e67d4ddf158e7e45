package window

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

// TestAddrVictimNames checks which successes an address window names: every target who then logs in, of the
// users who only logged in the first MaxAddrNamed and those the caller asks for; Successes and SuccessOnly count
// every user, and expiring the oldest successes keeps each name with its own user.
func TestAddrVictimNames(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("198.51.100.7")
	var a Addr
	a.AddFailure(AddrFailure{Time: t0, ID: 1, User: "target@example.org", IP: ip, Attempt: true, Target: true})
	only := func(i int) string { return fmt.Sprintf("only%02d@example.org", i) }
	for i := range MaxAddrNamed + 4 {
		if !a.AddSuccess(t0.Add(time.Duration(i+1)*time.Minute), only(i), false) {
			t.Fatalf("success %d not recorded", i)
		}
	}
	if a.AddSuccess(t0.Add(time.Minute), only(0), false) {
		t.Fatal("a second success of a user inside its recorded span changed the window")
	}
	a.AddSuccess(t0.Add(time.Hour), "target@example.org", false)
	a.AddFailure(AddrFailure{Time: t0.Add(3*time.Minute + 30*time.Second), ID: 3, User: "target@example.org", IP: ip, Attempt: true, Target: true})

	// victims lists only(from)..only(to-1) and the target, sorted.
	victims := func(from, to int) []string {
		out := []string{"target@example.org"}
		for i := from; i < to; i++ {
			out = append(out, only(i))
		}
		slices.Sort(out)
		return out
	}
	if got, want := a.Victims(), victims(0, MaxAddrNamed); !slices.Equal(got, want) {
		t.Fatalf("victims %v, want %v", got, want)
	}
	if got, want := a.Successes(), MaxAddrNamed+5; got != want {
		t.Fatalf("successes %d, want %d", got, want)
	}
	if got, want := a.SuccessOnly(), MaxAddrNamed+4; got != want {
		t.Fatalf("success-only users %d, want %d (the target is not one)", got, want)
	}

	// A day after the first three successes they expire: the named users left are only03..only07, not shifted.
	a.AddFailure(AddrFailure{Time: t0.Add(24*time.Hour + 3*time.Minute + time.Second), ID: 2, User: "target@example.org", IP: ip, Attempt: true, Target: true})
	if got, want := a.Victims(), victims(3, MaxAddrNamed); !slices.Equal(got, want) {
		t.Fatalf("after expiry victims %v, want %v", got, want)
	}
	if got, want := a.Successes(), MaxAddrNamed+2; got != want {
		t.Fatalf("after expiry successes %d, want %d", got, want)
	}
	// Asked to (the key has an incident), a user is named beyond MaxAddrNamed; a failure before both successes
	// makes them victims.
	a.AddFailure(AddrFailure{Time: t0.Add(24*time.Hour + 3*time.Minute + 2*time.Second), ID: 4, User: "target@example.org", IP: ip, Attempt: true, Target: true})
	a.AddSuccess(t0.Add(24*time.Hour+4*time.Minute), only(10), true)
	a.AddSuccess(t0.Add(24*time.Hour+4*time.Minute), "late@example.org", true)
	if got, want := a.Victims(), []string{"late@example.org", only(10)}; !slices.Equal(got, want) {
		t.Fatalf("named on request: victims %v, want %v", got, want)
	}
	c := a.ClonePrefix(ip)
	if !slices.Equal(c.Victims(), a.Victims()) {
		t.Fatalf("prefix clone victims %v, want %v", c.Victims(), a.Victims())
	}
}
