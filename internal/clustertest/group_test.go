package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestGroupDetectorKilledOnCluster runs three detectors in group mode on the three-node cluster (events stream and
// lease bucket at three replicas), kills one while events are published, and checks that the survivors take its
// partitions over and every event is committed. A sprayer per address partition, half its failures published before
// the kill and half after, checks the address partitions: each spray is one password_spray incident counting every
// target once, the killed member's among them.
func TestGroupDetectorKilledOnCluster(t *testing.T) {
	const parts, users = 12, 240
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	logger := slog.New(slog.DiscardHandler)
	c := testenv.NATSCluster(t)
	js, err := natsbus.NewJetStream(c.Connect(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	addr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	geoPath := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := testenv.WriteTestDB(geoPath, map[string]string{"198.51.100.0/24": "DE", "203.0.113.0/24": "FR"}); err != nil {
		t.Fatal(err)
	}
	g, err := geo.Open(geoPath)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()

	type member struct {
		name   string
		nc     *nats.Conn
		d      *detector.Detector
		cancel context.CancelFunc
		done   chan error
	}
	start := func(name string) *member {
		nc := c.Connect(t, nats.Name(name))
		mjs, err := natsbus.NewJetStream(nc)
		if err != nil {
			t.Fatal(err)
		}
		d, err := detector.New(mjs, store, g, func() engine.Trust { return nil }, detector.Options{
			Partitions: parts, BatchSize: 500, FlushInterval: 100 * time.Millisecond, AckWait: 10 * time.Second,
			Rules: rule.Config{Global: rule.Defaults}, Group: true, Member: name,
		}, logger, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithCancel(ctx)
		m := &member{name: name, nc: nc, d: d, cancel: mcancel, done: make(chan error, 1)}
		go func() { m.done <- d.Run(mctx) }()
		t.Cleanup(func() { mcancel(); <-m.done })
		select {
		case <-d.Ready():
		case err := <-m.done:
			t.Fatalf("%s stopped at start: %v", name, err)
		}
		return m
	}
	ms := []*member{start("c1"), start("c2"), start("c3")}
	waitFor(t, ctx, "the group to spread the partitions over three members", func() bool {
		n := 0
		for _, m := range ms {
			if len(m.d.Assigned()) == 0 {
				return false
			}
			n += len(m.d.Assigned())
		}
		return n == parts
	})

	pub := natsbus.NewPublisher(js, parts, prometheus.NewRegistry())
	at := time.Now().UTC().Add(-time.Hour)
	var evs []event.Event
	for round := range 6 {
		for u := range users {
			ip := netip.MustParseAddr("198.51.100.7")
			if round == 4 && u%4 == 0 {
				ip = netip.MustParseAddr("203.0.113.9") // a second country: multi_country incidents after the kill
			}
			e := event.Event{Kind: event.KindLogin, Time: at.Add(time.Duration(round*users+u) * time.Second),
				User: fmt.Sprintf("cg%03d@example.org", u), Domain: "example.org", IP: ip, Service: "imap", Success: true}
			e.ID = event.ContentID(&e)
			evs = append(evs, e)
		}
	}
	// One sprayer per address partition, each failing once against each of its own 24 users.
	const sprayTargets = 24
	var sprays [2][]event.Event // before and after the kill
	sprayers := map[int]netip.Addr{}
	for i := 0; len(sprayers) < parts; i++ {
		ip := netip.AddrFrom4([4]byte{100, 64, byte(i), 1})
		p := event.AddrPartition(ip, parts)
		if _, ok := sprayers[p]; ok {
			continue
		}
		sprayers[p] = ip
		for k := range sprayTargets {
			e := event.Event{Kind: event.KindLogin, Time: at.Add(time.Duration(k) * time.Minute),
				User: fmt.Sprintf("cs%02d-%02d@example.org", p, k), Domain: "example.org", IP: ip, Service: "imap", PWHash: fmt.Sprintf("%02x", k)}
			e.ID = event.ContentID(&e)
			sprays[k*2/sprayTargets] = append(sprays[k*2/sprayTargets], e)
		}
	}
	publish := func(evs []event.Event) {
		for chunk := range slices.Chunk(evs, 100) {
			if err := pub.Publish(ctx, chunk); err != nil {
				t.Errorf("publish: %v", err)
				return
			}
		}
	}
	half := len(evs) / 2
	publish(evs[:half])
	publish(sprays[0])
	waitFor(t, ctx, "each member to own what it is assigned", func() bool {
		for _, m := range ms {
			if !slices.Equal(m.d.Owned(), m.d.Assigned()) {
				return false
			}
		}
		return true
	})
	victim := slices.MaxFunc(ms, func(a, b *member) int { return len(a.d.Owned()) - len(b.d.Owned()) })
	moved := victim.d.Owned()
	killAt := time.Now()
	victim.nc.Close() // as a crash: no more acks, the lease expires
	victim.cancel()
	<-victim.done
	victim.done <- nil
	survivors := slices.DeleteFunc(slices.Clone(ms), func(m *member) bool { return m == victim })
	go func() {
		publish(sprays[1])
		publish(evs[half:])
	}()
	waitFor(t, ctx, "the survivors to own every partition", func() bool {
		n := 0
		for _, m := range survivors {
			n += len(m.d.Owned())
		}
		return n == parts
	})
	t.Logf("killed %s owning %v; the survivors owned and had rebuilt them %s after the kill", victim.name, moved, time.Since(killAt).Round(time.Millisecond))
	waitFor(t, ctx, "every event committed", func() bool {
		var n uint64
		if err := store.Conn().QueryRow(ctx, "SELECT count() FROM logins FINAL").Scan(&n); err != nil {
			t.Fatalf("count logins: %v", err)
		}
		return n == uint64(len(evs)+len(sprays[0])+len(sprays[1]))
	})
	// The rows of a batch are written table by table: its incidents may land a moment after its logins.
	var incs uint64
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := store.Conn().QueryRow(ctx, "SELECT count() FROM incidents FINAL WHERE rule = 'multi_country'").Scan(&incs); err != nil {
			t.Fatal(err)
		}
		if incs == users/4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if incs != users/4 {
		t.Errorf("%d multi_country incidents; want %d (one per user with a second country)", incs, users/4)
	}
	waitFor(t, ctx, "every spray detected with all its targets", func() bool {
		all, err := store.Incidents(ctx, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, inc := range all {
			if inc.Rule == rule.PasswordSprayName && inc.Addr != nil && inc.Addr.Targets == sprayTargets && inc.Addr.Failures == sprayTargets {
				n++
			}
		}
		return n == parts
	})
	var ids uint64
	if err := store.Conn().QueryRow(ctx, "SELECT uniqExact(incident_id) FROM incidents WHERE rule = 'password_spray'").Scan(&ids); err != nil {
		t.Fatal(err)
	}
	if ids != parts {
		t.Errorf("%d distinct password_spray ids across all versions; want %d, one per sprayer", ids, parts)
	}
}
