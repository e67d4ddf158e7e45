package gen

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// Every attacking address (the sprayer, the address brute forcer, the user-keyed brute forcers' attackers) and the
// office address have their /24 to themselves: no other address of the day fails or logs in there.
func TestAttackersHaveTheirOwnSlash24(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			day, err := Generate(Options{Users: 1500, Seed: seed, End: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)}, testNetworks())
			if err != nil {
				t.Fatal(err)
			}
			attackers := map[netip.Addr]bool{}
			for i := range day.Events {
				e := &day.Events[i]
				p := day.Profiles[e.IP.String()]
				if p == Sprayer || p == BruteForcer || day.Profiles[e.User] == BruteForced && e.Kind == event.KindLogin && !e.Success ||
					day.Profiles[e.User] == OfficeUser && e.Kind == event.KindLogin && e.Service == "imap" && countUsers(day, e.IP) >= 60 {
					attackers[e.IP] = true
				}
			}
			if len(attackers) < 4 {
				t.Fatalf("%d attacking addresses; want the sprayer, the brute forcers and the office", len(attackers))
			}
			for a := range attackers {
				p := netip.PrefixFrom(a, 24).Masked()
				for i := range day.Events {
					if ip := day.Events[i].IP; ip != a && p.Contains(ip) {
						t.Errorf("%s (%s) shares its /24 with %s (%s)", a, day.Profiles[a.String()], ip, day.Profiles[day.Events[i].User])
						break
					}
				}
			}
		})
	}
}

func countUsers(day *Day, ip netip.Addr) int {
	users := map[string]bool{}
	for i := range day.Events {
		if day.Events[i].IP == ip {
			users[day.Events[i].User] = true
		}
	}
	return len(users)
}

// fastGuesses follows window.Addr.FastAttempts: ten attempts first seen less than 120 s apart, end to end.
func TestFastGuesses(t *testing.T) {
	at := func(step int64, n int) []int64 {
		var ts []int64
		for i := range n {
			ts = append(ts, 1000+int64(i)*step)
		}
		return ts
	}
	for _, c := range []struct {
		ts   []int64
		want bool
	}{
		{at(13, 10), true},  // 117 s from the first to the tenth
		{at(13, 9), false},  // nine guesses
		{at(14, 10), false}, // 126 s
		{append(at(30, 5), at(13, 10)...), true},
		{[]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 119}, true},
		{[]int64{0, 1, 2, 3, 4, 5, 6, 7, 8, 120}, false},
	} {
		if got := fastGuesses(c.ts); got != c.want {
			t.Errorf("fastGuesses(%v) = %v; want %v", c.ts, got, c.want)
		}
	}
}
