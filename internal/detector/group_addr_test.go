package detector_test

import (
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestGroupSprayMemberKilled runs detectors in group mode and two sprayers, each failing once against each of 60
// users spread over every member's user partitions. Two members start; a third joins mid-spray, and one sprayer's
// address partition is among those handed over to it; then that third member is killed mid-spray (its user
// partitions move too) and its partitions are taken over by the survivors. The other sprayer's address partition
// stays with a survivor throughout. Each spray must be detected exactly once, under one incident id, with every
// target and failure counted once: a partition's new owner rebuilds its address windows up to the consumer's ack
// floor and continues the same incident.
func TestGroupSprayMemberKilled(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("VIGIL_TEST_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (repeat with VIGIL_TEST_SEED=%d)", seed, seed)
	const (
		targets = 60
		joinAt  = 20 // targets sprayed before the third member joins: the incidents are open by then
	)
	cut := joinAt + 5 + int(seed%uint64(targets-joinAt-10)) // targets sprayed before the kill

	// Where the group of three will put the partitions: the sprayers and the victim are chosen by it.
	three := detector.Assign([]string{"a1", "a2", "a3"}, groupPartitions)
	var sprayKilled, sprayKept netip.Addr // address partition with a3, and with a1 or a2
	for i := range 256 {
		ip := netip.AddrFrom4([4]byte{5, 6, byte(i), 7})
		if p := event.AddrPartition(ip, groupPartitions); three["a3"][p] && !sprayKilled.IsValid() {
			sprayKilled = ip
		} else if !three["a3"][p] && !sprayKept.IsValid() {
			sprayKept = ip
		}
	}
	if !sprayKilled.IsValid() || !sprayKept.IsValid() {
		t.Fatal("no addresses found on both sides of the assignment")
	}
	victimUsers := 0
	var users []string
	for i := range targets {
		u := fmt.Sprintf("gspray%02d@example.org", i)
		if three["a3"][event.Partition(u, groupPartitions)] {
			victimUsers++
		}
		users = append(users, u)
	}
	if victimUsers == 0 || victimUsers == targets {
		t.Fatalf("%d of %d targets in the killed member's user partitions; the test needs some on both sides", victimUsers, targets)
	}
	t.Logf("a3 joins after %d targets and is killed after %d: it gets address partition %d (%s) and %d of the targets' user partitions; %s (partition %d) stays with a survivor",
		joinAt, cut, event.AddrPartition(sprayKilled, groupPartitions), sprayKilled, victimUsers, sprayKept, event.AddrPartition(sprayKept, groupPartitions))
	spray := func(from, to int) []event.Event {
		var evs []event.Event
		for i := from; i < to; i++ {
			for k, ip := range []netip.Addr{sprayKilled, sprayKept} {
				ev := login(users[i], ip, time.Duration(i)*time.Minute+time.Duration(k)*time.Second, false)
				ev.PWHash = fmt.Sprintf("%02x%x", i, k)
				ev.ID = event.ContentID(&ev)
				evs = append(evs, ev)
			}
		}
		return evs
	}
	sprayed := func(ip netip.Addr, n int) func(incident.Incident) bool {
		return func(i incident.Incident) bool { return i.Addr != nil && i.IPs[0] == ip.String() && i.Addr.Targets == n }
	}
	e := setup(t)
	waitBoth := func(n int) incident.Incident {
		t.Helper()
		e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets from %s", n, sprayKept), sprayed(sprayKept, n))
		return e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets from %s", n, sprayKilled), sprayed(sprayKilled, n))
	}

	pub := natsbus.NewPublisher(e.js, groupPartitions, prometheus.NewRegistry())
	const ttl = 3 * time.Second
	ms := []*member{e.startMember(t, "a1", ttl), e.startMember(t, "a2", ttl)}
	spread(t, ms...)
	e.publishTo(pub, spray(0, joinAt))
	opened := waitBoth(joinAt)

	ms = append(ms, e.startMember(t, "a3", ttl)) // a1 and a2 hand partitions over, sprayKilled's among them
	spread(t, ms...)
	e.publishTo(pub, spray(joinAt, cut))
	p := event.AddrPartition(sprayKilled, groupPartitions)
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("a3 to own address partition %d", p), func() bool {
		return slices.Contains(ms[2].d.OwnedAddr(), p)
	})
	if again := waitBoth(cut); again.ID != opened.ID {
		t.Errorf("spray from %s continued as %s after the handover; want %s", sprayKilled, again.ID, opened.ID)
	}

	ms[2].kill()
	survivors := ms[:2]
	e.publishTo(pub, spray(cut, targets)) // while the partitions move
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("a survivor to own address partition %d", p), func() bool {
		return slices.ContainsFunc(survivors, func(m *member) bool { return slices.Contains(m.d.OwnedAddr(), p) })
	})
	for _, ip := range []netip.Addr{sprayKilled, sprayKept} {
		inc := e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets from %s", targets, ip), sprayed(ip, targets))
		if inc.Addr.Failures != targets || len(inc.Addr.Users) != targets {
			t.Errorf("spray from %s: %d failures, %d users; want %d each (every failure counted once)", ip, inc.Addr.Failures, len(inc.Addr.Users), targets)
		}
		if ip == sprayKilled && inc.ID != opened.ID {
			t.Errorf("spray from %s continued as %s after the kill; want the incident opened before, %s", ip, inc.ID, opened.ID)
		}
	}
	testenv.WaitDrained(t, e.js, natsbus.AddrStream, natsbus.AddrConsumerPrefix)
	waitDrained(t, e.js)
	if n := e.count("SELECT uniqExact(incident_id) FROM incidents WHERE rule = 'password_spray'"); n != 2 {
		t.Errorf("%d distinct password_spray ids across all versions; want 2, one per sprayer", n)
	}
}
