package detector_test

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// startCounted starts a detector owning the given partitions of 4 (every one when owned is nil) and returns its
// registry and a stop function that waits for Run to return.
func (e *env) startCounted(owned []int) (*prometheus.Registry, func()) {
	e.t.Helper()
	_, reg, stop := e.launch(e.store, e.geo, detector.Options{
		Partitions: 4, Owned: owned, BatchSize: 500, FlushInterval: 50 * time.Millisecond, Rules: defaults(),
	})
	return reg, stop
}

// applied sums vigil_detector_events_total over its kinds: the events a detector applied to its windows live.
func applied(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "vigil_detector_events_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

// detectorConsumers lists the events stream's detector consumers.
func (e *env) detectorConsumers() []string {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	names := s.ConsumerNames(ctx)
	for name := range names.Name() {
		if strings.HasPrefix(name, natsbus.DetectorConsumerPrefix) {
			out = append(out, name)
		}
	}
	if err := names.Err(); err != nil {
		e.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// partitionUsers returns n users of each of the 4 partitions, named after prefix.
func partitionUsers(prefix string, n int) [4][]string {
	var out [4][]string
	for i := 0; ; i++ {
		u := fmt.Sprintf("%s%04d@example.org", prefix, i)
		p := event.Partition(u, 4)
		if len(out[p]) < n {
			out[p] = append(out[p], u)
		}
		if len(out[0]) == n && len(out[1]) == n && len(out[2]) == n && len(out[3]) == n {
			return out
		}
	}
}

// TestWholeConsumerTakesOverFromPartitions runs two detectors over partitions {0,1} and {2,3}, stops the second
// and then the first with their consumers at different ack floors, and starts one detector owning every
// partition. Its one consumer starts after the lowest floor and skips what each partition's consumer had
// acknowledged: it applies exactly the events published since, windows that span the switch are whole (one
// incident per traveller, two logins each), and the partitions' consumers are deleted once it is past them.
func TestWholeConsumerTakesOverFromPartitions(t *testing.T) {
	e := setup(t)
	users := partitionUsers("w", 10)
	phase := func(ps []int, ip netip.Addr, at time.Duration) []event.Event {
		var evs []event.Event
		for _, p := range ps {
			for _, u := range users[p] {
				evs = append(evs, login(u, ip, at, true))
			}
		}
		return evs
	}
	// Phase 1: every partition's users log in from GB; both detectors commit it.
	stopLow := e.startOwned([]int{0, 1})
	stopHigh := e.startOwned([]int{2, 3})
	e.publish(phase([]int{0, 1, 2, 3}, ipGB, 0)...)
	e.waitCount(40, "SELECT count() FROM logins FINAL")
	waitDrained(t, e.js)
	stopHigh()
	// Phase 2: partitions 0 and 1 log in again from GB, applied by the first detector alone.
	e.publish(phase([]int{0, 1}, ipGB, time.Minute)...)
	e.waitCount(60, "SELECT count() FROM logins FINAL")
	testenv.Eventually(t, 20*time.Second, "partitions 0 and 1 acknowledged", func() bool { return e.pendingOf(0)+e.pendingOf(1) == 0 })
	stopLow()
	// Phase 3, published while no detector runs: everyone logs in from the US.
	third := phase([]int{0, 1, 2, 3}, ipUS, time.Hour)
	e.publish(third...)

	reg, stop := e.startCounted(nil)
	e.waitCount(100, "SELECT count() FROM logins FINAL")
	testenv.Eventually(t, 20*time.Second, "the partitions' consumers deleted", func() bool {
		return slices.Equal(e.detectorConsumers(), []string{natsbus.DetectorWholeConsumer})
	})
	waitDrained(t, e.js)
	if n := applied(t, reg); n != float64(len(third)) {
		t.Errorf("the whole-stream detector applied %v events; want the %d published since the others stopped", n, len(third))
	}
	e.waitCount(40, "SELECT count() FROM incidents FINAL WHERE rule = 'multi_country'")
	// Partitions 0 and 1 logged in three times (GB, GB, US), 2 and 3 twice (GB, US): 10 users each.
	if n := e.count("SELECT sum(logins) FROM incidents FINAL WHERE rule = 'multi_country'"); n != 10*(3+3+2+2) {
		t.Errorf("the multi_country incidents count %d logins; want %d, each login of the users' windows once", n, 10*(3+3+2+2))
	}
	stop()

	// Restarted, it resumes from its own consumer: nothing is applied again.
	reg, _ = e.startCounted(nil)
	waitDrained(t, e.js)
	if n := applied(t, reg); n != 0 {
		t.Errorf("the restarted detector applied %v events; want 0", n)
	}
}

// pendingOf is what partition p's consumer has not had acknowledged yet.
func (e *env) pendingOf(p int) uint64 {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, natsbus.EventsStream)
	if err != nil {
		e.t.Fatal(err)
	}
	c, err := s.Consumer(ctx, natsbus.DetectorConsumer(p))
	if err != nil {
		e.t.Fatal(err)
	}
	ci, err := c.Info(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	return ci.NumPending + uint64(ci.NumAckPending)
}

// TestPartitionsTakeOverFromWholeConsumer is the way back: one detector owning every partition commits a phase
// and stops, then two detectors split the partitions. Their new consumers start after the whole-stream
// consumer's ack floor, so they apply only what was published since, with windows spanning the switch, and the
// whole-stream consumer is deleted once every partition has a consumer of its own.
func TestPartitionsTakeOverFromWholeConsumer(t *testing.T) {
	e := setup(t)
	users := partitionUsers("b", 10)
	var first, second []event.Event
	for p := range 4 {
		for _, u := range users[p] {
			first = append(first, login(u, ipGB, 0, true))
			second = append(second, login(u, ipAU, time.Hour, true))
		}
	}
	_, stop := e.startCounted(nil)
	e.publish(first...)
	e.waitCount(40, "SELECT count() FROM logins FINAL")
	waitDrained(t, e.js)
	stop()
	if got := e.detectorConsumers(); !slices.Equal(got, []string{natsbus.DetectorWholeConsumer}) {
		t.Fatalf("consumers of a detector owning every partition: %v; want only %s", got, natsbus.DetectorWholeConsumer)
	}
	e.publish(second...)

	regA, _ := e.startCounted([]int{0, 1})
	if got := e.detectorConsumers(); !slices.Contains(got, natsbus.DetectorWholeConsumer) {
		t.Errorf("consumers with partitions 2 and 3 still unowned: %v; want %s kept for their floor", got, natsbus.DetectorWholeConsumer)
	}
	regB, _ := e.startCounted([]int{2, 3})
	want := []string{natsbus.DetectorConsumer(0), natsbus.DetectorConsumer(1), natsbus.DetectorConsumer(2), natsbus.DetectorConsumer(3)}
	if got := e.detectorConsumers(); !slices.Equal(got, want) {
		t.Errorf("consumers once every partition has one: %v; want %v", got, want)
	}
	e.waitCount(80, "SELECT count() FROM logins FINAL")
	waitDrained(t, e.js)
	if n := applied(t, regA) + applied(t, regB); n != float64(len(second)) {
		t.Errorf("the two detectors applied %v events; want the %d published since the first stopped", n, len(second))
	}
	e.waitCount(40, "SELECT count() FROM incidents FINAL WHERE rule = 'multi_country' AND has(countries, 'GB') AND has(countries, 'AU')")
}

// TestGroupTakesOverFromWholeConsumer: a single detector (one consumer over the stream) commits the first phase
// and stops; a group of two takes over. The group's partition consumers start after the whole-stream consumer's
// floor, so the members apply only the later phase, and the whole-stream consumer goes once all sixteen exist.
func TestGroupTakesOverFromWholeConsumer(t *testing.T) {
	e := setup(t)
	pub := natsbus.NewPublisher(e.js, groupPartitions, prometheus.NewRegistry())
	ph := groupPhases()
	single := e.startMember(t, "", 0)
	e.publishTo(pub, ph[0])
	e.waitCount(uint64(len(ph[0])), "SELECT count() FROM logins FINAL")
	waitDrained(t, e.js)
	single.cancel()
	if err := <-single.done; err != nil {
		t.Fatalf("single detector: Run = %v", err)
	}
	single.done <- nil // for the cleanup

	ms := []*member{e.startMember(t, "m1", 2*time.Second), e.startMember(t, "m2", 2*time.Second)}
	spread(t, ms...)
	e.publishTo(pub, ph[1]) // a member takes a partition over at its first delivery
	ownAssigned(t, ms...)
	testenv.Eventually(t, 30*time.Second, "every event committed", func() bool {
		return e.count("SELECT count() FROM logins FINAL")+e.count("SELECT count() FROM sends FINAL") == uint64(len(ph[0])+len(ph[1]))
	})
	waitDrained(t, e.js)
	if n := applied(t, ms[0].reg) + applied(t, ms[1].reg); n != float64(len(ph[1])) {
		t.Errorf("the group applied %v events live; want the %d published after the single detector stopped", n, len(ph[1]))
	}
	if got := e.detectorConsumers(); len(got) != groupPartitions || slices.Contains(got, natsbus.DetectorWholeConsumer) {
		t.Errorf("consumers under the group: %v; want the %d partitions' only", got, groupPartitions)
	}
	// Every fifth user logged in from GB in the first phase and from the US in the second.
	e.waitCount(320/5, "SELECT count() FROM incidents FINAL WHERE rule = 'multi_country' AND logins = 2")
}
