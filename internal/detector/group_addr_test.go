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

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestGroupSprayMemberKilled runs three detectors in group mode and two sprayers, each failing once against each of
// 60 users spread over every member's user partitions. One sprayer's address partition belongs to the member that
// is killed mid-spray (its user partitions move too), the other's to a survivor. Each spray must be detected exactly
// once, under one incident id, with every target and failure counted once: the killed member's address partition
// moves to a survivor, which rebuilds its windows up to the consumer's ack floor and continues the same incident.
func TestGroupSprayMemberKilled(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("VIGIL_TEST_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (repeat with VIGIL_TEST_SEED=%d)", seed, seed)
	const targets = 60
	cut := 20 + int(seed%uint64(targets-30)) // targets sprayed before the kill: the incidents are open by then

	e := setup(t)
	pub := natsbus.NewPublisher(e.js, groupPartitions, prometheus.NewRegistry())
	const ttl = 3 * time.Second
	ms := []*member{e.startMember(t, "a1", ttl), e.startMember(t, "a2", ttl), e.startMember(t, "a3", ttl)}
	spread(t, ms...)

	owner := func(ip netip.Addr) *member {
		p := event.AddrPartition(ip, groupPartitions)
		for _, m := range ms {
			if slices.Contains(m.d.Assigned(), p) {
				return m
			}
		}
		t.Fatalf("address partition %d of %s assigned to no member", p, ip)
		return nil
	}
	sprayKilled := ipAU
	victim := owner(sprayKilled)
	var sprayKept netip.Addr // a sprayer whose address partition a survivor owns
	for i := range 256 {
		ip := netip.AddrFrom4([4]byte{5, 6, byte(i), 7})
		if owner(ip) != victim {
			sprayKept = ip
			break
		}
	}
	if !sprayKept.IsValid() {
		t.Fatal("no address found whose partition a survivor owns")
	}
	victimUsers := 0
	var users []string
	for i := range targets {
		u := fmt.Sprintf("gspray%02d@example.org", i)
		if slices.Contains(victim.d.Assigned(), event.Partition(u, groupPartitions)) {
			victimUsers++
		}
		users = append(users, u)
	}
	if victimUsers == 0 || victimUsers == targets {
		t.Fatalf("%d of %d targets in the killed member's user partitions; the test needs some on both sides", victimUsers, targets)
	}
	t.Logf("killing %s (address partition %d of %s; %d of the targets' user partitions), %s stays with %s; %d targets before the kill",
		victim.name, event.AddrPartition(sprayKilled, groupPartitions), sprayKilled, victimUsers, sprayKept, owner(sprayKept).name, cut)
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

	e.publishTo(pub, spray(0, cut))
	before := e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets from %s", cut, sprayKilled), sprayed(sprayKilled, cut))
	e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets from %s", cut, sprayKept), sprayed(sprayKept, cut))

	victim.kill()
	survivors := slices.DeleteFunc(slices.Clone(ms), func(m *member) bool { return m == victim })
	e.publishTo(pub, spray(cut, targets)) // while the partitions move
	p := event.AddrPartition(sprayKilled, groupPartitions)
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("a survivor to own address partition %d", p), func() bool {
		return slices.ContainsFunc(survivors, func(m *member) bool { return slices.Contains(m.d.OwnedAddr(), p) })
	})
	for _, ip := range []netip.Addr{sprayKilled, sprayKept} {
		inc := e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets from %s", targets, ip), sprayed(ip, targets))
		if inc.Addr.Failures != targets || len(inc.Addr.Users) != targets {
			t.Errorf("spray from %s: %d failures, %d users; want %d each (every failure counted once)", ip, inc.Addr.Failures, len(inc.Addr.Users), targets)
		}
		if ip == sprayKilled && inc.ID != before.ID {
			t.Errorf("spray from %s continued as %s; want the incident opened before the kill, %s", ip, inc.ID, before.ID)
		}
	}
	testenv.WaitDrained(t, e.js, natsbus.AddrStream, natsbus.AddrConsumerPrefix)
	waitDrained(t, e.js)
	if n := e.count("SELECT uniqExact(incident_id) FROM incidents WHERE rule = 'password_spray'"); n != 2 {
		t.Errorf("%d distinct password_spray ids across all versions; want 2, one per sprayer", n)
	}
}
