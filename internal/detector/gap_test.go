package detector_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestLostDeliveryIsNotAcknowledged takes one delivery of the detector's consumer away with another client's pull
// request, as a delivery is lost in transit when the consumer leader dies mid-stream. The detector must not let a
// later message's AckAll ack cover it: it sees the gap in the delivery sequence, restarts the consumer after the
// newest message it applied and commits the lost event long before AckWait would have redelivered it.
func TestLostDeliveryIsNotAcknowledged(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const p = 1
	reg := prometheus.NewRegistry()
	d, err := detector.New(e.js, e.store, e.geo, func() engine.Trust { return e.trust.Set() }, detector.Options{
		Partitions: 4, Owned: []int{p}, BatchSize: 1, FlushInterval: 10 * time.Millisecond, AckWait: 10 * time.Minute,
		Rules: defaults(),
	}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("detector Run = %v; want nil after cancel", err)
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("detector stopped at start: %v", err)
	}

	s, err := e.js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(ctx, natsbus.DetectorConsumer(p))
	if err != nil {
		t.Fatal(err)
	}
	stolen := make(chan jetstream.Msg, 1)
	thiefDone := make(chan struct{})
	go func() {
		defer close(thiefDone)
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(20*time.Second))
		if err != nil {
			return
		}
		for m := range batch.Messages() {
			stolen <- m // never acknowledged
		}
	}()
	t.Cleanup(func() { <-thiefDone })

	var users []string
	for i := 0; len(users) < 60; i++ {
		if u := fmt.Sprintf("g%03d@example.org", i); event.Partition(u, 4) == p {
			users = append(users, u)
		}
	}
	// One event at a time until the other request has taken one; then more, whose acks would cover it.
	published := 0
	publish := func() {
		e.publish(login(users[published], ipGB, time.Duration(published)*time.Second, true))
		published++
	}
	took := false
	for !took {
		if published == len(users)-5 {
			t.Fatalf("the other pull request took none of %d events", published)
		}
		publish()
		testenv.Eventually(t, 10*time.Second, "the event committed or taken by the other request", func() bool {
			select {
			case <-stolen:
				took = true
				return true
			default:
				return e.count("SELECT count() FROM logins FINAL") == uint64(published)
			}
		})
	}
	for range 5 {
		publish()
	}
	e.waitCount(uint64(published), "SELECT count() FROM logins FINAL")
	if n := counter(t, reg, "vigil_detector_consumer_restarts_total"); n < 1 {
		t.Errorf("vigil_detector_consumer_restarts_total = %v; want at least 1", n)
	}
	waitDrained(t, e.js)
}

// counter returns the value of an unlabelled counter in reg.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

// TestLostAddrDeliveryIsNotAcknowledged is TestLostDeliveryIsNotAcknowledged for an address partition: one delivery
// of its consumer is taken by another client's pull request. The address side must see the gap, restart the
// consumer after the newest message it applied, and count the lost failure once, long before AckWait.
func TestLostAddrDeliveryIsNotAcknowledged(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	const p = 2
	reg := prometheus.NewRegistry()
	d, err := detector.New(e.js, e.store, e.geo, func() engine.Trust { return e.trust.Set() }, detector.Options{
		Partitions: 4, Owned: []int{p}, BatchSize: 1, FlushInterval: 10 * time.Millisecond, AckWait: 10 * time.Minute,
		Rules: defaults(),
	}, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- d.Run(rctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("detector Run = %v; want nil after cancel", err)
		}
	})
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("detector stopped at start: %v", err)
	}

	var sprayer netip.Addr
	for i := range 256 {
		if ip := netip.AddrFrom4([4]byte{5, 6, byte(i), 7}); event.AddrPartition(ip, 4) == p {
			sprayer = ip
			break
		}
	}
	s, err := e.js.Stream(ctx, natsbus.AddrStream)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Consumer(ctx, natsbus.AddrConsumer(p))
	if err != nil {
		t.Fatal(err)
	}
	stolen := make(chan jetstream.Msg, 1)
	thiefDone := make(chan struct{})
	go func() {
		defer close(thiefDone)
		batch, err := c.Fetch(1, jetstream.FetchMaxWait(20*time.Second))
		if err != nil {
			return
		}
		for m := range batch.Messages() {
			stolen <- m // never acknowledged
		}
	}()
	t.Cleanup(func() { <-thiefDone })

	var users []string
	for i := 0; len(users) < 80; i++ {
		if u := fmt.Sprintf("ga%03d@example.org", i); event.Partition(u, 4) == p {
			users = append(users, u)
		}
	}
	// One failure at a time (one republished message each) until the other request has taken one; then enough for
	// a spray, whose acks would cover it.
	published := 0
	failure := func() event.Event {
		ev := login(users[published], sprayer, time.Duration(published)*time.Second, false)
		ev.PWHash = fmt.Sprintf("%03x", published)
		ev.ID = event.ContentID(&ev)
		published++
		return ev
	}
	publish := func() { e.publish(failure()) }
	took := false
	for !took {
		if published == len(users)-30 {
			t.Fatalf("the other pull request took none of %d republished messages", published)
		}
		publish()
		testenv.Eventually(t, 10*time.Second, "the failure applied or taken by the other request", func() bool {
			select {
			case <-stolen:
				took = true
				return true
			default:
				return counter(t, reg, "vigil_detector_addr_events_total") == float64(published)
			}
		})
	}
	var more []event.Event
	for len(more) < 5 || published < 25 {
		more = append(more, failure())
	}
	e.publish(more...)
	inc := e.waitIncident(rule.PasswordSprayName, fmt.Sprintf("%d targets", published), func(i incident.Incident) bool {
		return i.Addr != nil && i.Addr.Targets == published
	})
	if inc.Addr.Failures != published {
		t.Errorf("failures = %d; want %d (the lost one counted once)", inc.Addr.Failures, published)
	}
	if n := counter(t, reg, "vigil_detector_consumer_restarts_total"); n < 1 {
		t.Errorf("vigil_detector_consumer_restarts_total = %v; want at least 1", n)
	}
	testenv.WaitDrained(t, e.js, natsbus.AddrStream, natsbus.AddrConsumerPrefix)
}
