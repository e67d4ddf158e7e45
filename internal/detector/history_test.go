package detector_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// new_country needs a history older than the stream: at every start it is rebuilt from ClickHouse's logins and
// the stream's replay, so the same incident continues with the same id, a familiar country stays familiar and a
// country first used after learning is still new.
func TestNewCountryHistoryRebuiltAfterRestart(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const user = "ivy@example.org"
	// Learning: eleven logins from GB over the 20 days before, older than the stream holds, so only in ClickHouse.
	var old []event.Enriched
	for i := range 11 {
		old = append(old, event.Enriched{Event: login(user, ipGB, -20*24*time.Hour+time.Duration(i)*36*time.Hour, true), Country: "GB"})
	}
	if err := e.store.Write(ctx, old, nil, nil); err != nil {
		t.Fatal(err)
	}
	e.publish(login(user, ipAU, -30*time.Minute, true))
	stop := e.run(nil, defaults())
	e.waitCount(1, "SELECT count() FROM incidents FINAL WHERE rule = 'new_country'")
	waitDrained(t, e.js)
	stop()

	e.publish(login(user, ipUS, time.Hour, true), login(user, ipGB, 2*time.Hour, true))
	e.run(nil, defaults())
	waitDrained(t, e.js)
	e.waitCount(2, "SELECT count() FROM logins FINAL WHERE time >= ?", t0)
	deadline := time.Now().Add(20 * time.Second)
	for {
		var countries []string
		var version uint64
		err := e.store.Conn().QueryRow(ctx, "SELECT countries, version FROM incidents FINAL WHERE rule = 'new_country'").Scan(&countries, &version)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Equal(countries, []string{"AU", "US"}) && version >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("new_country incident after the restart: countries %v, version %d; want [AU US] at a later version (AU replayed, US new, GB familiar)", countries, version)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := e.count("SELECT count() FROM incidents FINAL WHERE rule = 'new_country'"); n != 1 {
		t.Errorf("%d new_country incidents; want 1", n)
	}
	// GB stays familiar and nothing else is raised for the user than that incident and multi_country (AU, US).
	if n := e.count("SELECT count() FROM incidents FINAL WHERE user = ? AND rule NOT IN ('new_country', 'multi_country')", user); n != 0 {
		t.Errorf("%d other incidents for %s; want 0", n, user)
	}
}
