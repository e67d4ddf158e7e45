package respond_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// BenchmarkIncidentToEnforcement measures, under a background load of benchRate events/s, the time from
// publishing the login that completes a multi_country incident (the probe user's second country) to a
// decision.Index answering block_login for that user: real embedded NATS, the real detector committing to a real
// ClickHouse and publishing into VIGIL_INCIDENTS, the responder enforcing its decision into the KV bucket, and the
// index watching it. Each iteration is one probe; run with -benchtime=200x. It reports p50_s and p99_s of the
// probes and the background rate achieved (events/s).
func BenchmarkIncidentToEnforcement(b *testing.B) {
	const benchRate = 10000
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ns := testenv.NATS(b)
	js, err := natsbus.NewJetStream(testenv.Connect(b, ns))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	addr, db := testenv.ClickHouseDB(b)
	store, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "geo.mmdb")
	if err := testenv.WriteTestDB(path, map[string]string{"81.2.64.0/18": "GB", "8.8.8.0/24": "US"}); err != nil {
		b.Fatal(err)
	}
	g, err := geo.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	logger := slog.New(slog.DiscardHandler)
	det, err := detector.New(js, store, g, func() engine.Trust { return netset.NewSet(nil) }, detector.Options{Rules: rule.Config{Global: rule.Defaults}},
		logger, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	go det.Run(ctx)
	<-det.Ready()
	dstore, err := decision.Open(ctx, js, decision.Options{})
	if err != nil {
		b.Fatal(err)
	}
	policy, err := respond.ParsePolicy(strings.NewReader(`{"mode": "enforce", "entries": [
	  {"name": "two-countries", "rules": ["multi_country"], "actions": ["block_login"], "duration": "1h"}]}`))
	if err != nil {
		b.Fatal(err)
	}
	resp, err := respond.New(js, dstore, nil, nil, nil, respond.Options{Policy: policy}, logger, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	go resp.Run(ctx)
	<-resp.Ready()
	index := decision.NewIndex(dstore, logger, prometheus.NewRegistry()) // as an ingest process holds it
	go index.Run(ctx)
	<-index.Ready()

	pub := natsbus.NewPublisher(js, natsbus.DefaultPartitions, prometheus.NewRegistry())
	gb, us := netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("8.8.8.8")
	login := func(user string, ip netip.Addr, at time.Time) event.Event {
		e := event.Event{Kind: event.KindLogin, Time: at.UTC(), User: user, Domain: "example.org", IP: ip, Service: "imap", Success: true}
		e.ID = event.ContentID(&e)
		return e
	}

	// Background load: benchRate logins/s from one country each, from 4 publishers that each catch up on their
	// share every 10 ms (a slow ack does not lower the rate, it makes the next batch larger).
	var sent atomic.Int64
	loadCtx, stopLoad := context.WithCancel(ctx)
	var loadDone sync.WaitGroup
	const publishers = 4
	loadStart := time.Now()
	for w := range publishers {
		loadDone.Add(1)
		go func() {
			defer loadDone.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			n := 0
			for {
				select {
				case <-loadCtx.Done():
					return
				case <-tick.C:
				}
				due := int(time.Since(loadStart).Seconds()*benchRate/publishers) - n
				if due <= 0 {
					continue
				}
				evs := make([]event.Event, min(due, 2000))
				now := time.Now()
				for i := range evs {
					evs[i] = login(fmt.Sprintf("load%d-%06d@example.org", w, n%50000), gb, now.Add(time.Duration(n%1000)*time.Microsecond))
					n++
				}
				if err := pub.Publish(loadCtx, evs); err == nil {
					sent.Add(int64(len(evs)))
				}
			}
		}()
	}
	warm := time.Now()
	for sent.Load() < benchRate && time.Since(warm) < 10*time.Second { // a second of load before the first probe
		time.Sleep(10 * time.Millisecond)
	}

	// The moment each probe's incident enters VIGIL_INCIDENTS, to split the latency into the detector's part and
	// the responder's and index's part.
	var seenMu sync.Mutex
	inStream := map[string]time.Time{}
	sub, err := js.Conn().Subscribe(natsbus.IncidentSubject("multi_country"), func(m *nats.Msg) {
		at := time.Now()
		var inc incident.Incident
		if json.Unmarshal(m.Data, &inc) == nil {
			seenMu.Lock()
			if _, ok := inStream[inc.User]; !ok {
				inStream[inc.User] = at
			}
			seenMu.Unlock()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	// Probes: one first-country login, then the completing second-country login; the watcher polls the index.
	type probe struct {
		user string
		at   time.Time
	}
	probes := make(chan probe, 1024)
	type sample struct{ total, respond time.Duration }
	lat := make(chan sample, b.N)
	go func() {
		var pending []probe
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case p := <-probes:
				pending = append(pending, p)
			case <-tick.C:
				now := time.Now()
				pending = slices.DeleteFunc(pending, func(p probe) bool {
					if _, ok := index.Match(p.user, netip.Addr{}, now, decision.BlockLogin); ok {
						seenMu.Lock()
						s := inStream[p.user]
						seenMu.Unlock()
						lat <- sample{total: now.Sub(p.at), respond: now.Sub(s)}
						return true
					}
					return false
				})
			}
		}
	}()
	start := time.Now()
	sentAtStart := sent.Load()
	b.ResetTimer()
	for i := range b.N {
		user := fmt.Sprintf("probe%06d-%d@example.org", i, start.UnixNano())
		t0 := time.Now().Add(-time.Minute)
		if err := pub.Publish(ctx, []event.Event{login(user, gb, t0)}); err != nil {
			b.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
		at := time.Now()
		if err := pub.Publish(ctx, []event.Event{login(user, us, t0.Add(time.Second))}); err != nil {
			b.Fatal(err)
		}
		probes <- probe{user, at}
		time.Sleep(30 * time.Millisecond)
	}
	var ds, rs []time.Duration
	timeout := time.After(2 * time.Minute)
	for len(ds) < b.N {
		select {
		case x := <-lat:
			ds, rs = append(ds, x.total), append(rs, x.respond)
		case <-timeout:
			b.Fatalf("%d of %d probes enforced after 2m", len(ds), b.N)
		}
	}
	b.StopTimer()
	rate := float64(sent.Load()-sentAtStart) / time.Since(start).Seconds()
	stopLoad()
	loadDone.Wait()
	slices.Sort(ds)
	slices.Sort(rs)
	pct := func(xs []time.Duration, p float64) time.Duration { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	b.ReportMetric(pct(ds, 0.50).Seconds(), "p50_s")
	b.ReportMetric(pct(ds, 0.99).Seconds(), "p99_s")
	b.ReportMetric(pct(rs, 0.99).Seconds(), "respond_p99_s")
	b.ReportMetric(rate, "events/s")
	b.Logf("%d probes at %.0f background events/s: event to enforcement p50 %s, p99 %s, max %s; of which incident in stream to index match p50 %s, p99 %s",
		len(ds), rate, pct(ds, 0.5), pct(ds, 0.99), ds[len(ds)-1], pct(rs, 0.5), pct(rs, 0.99))
}
