package clustertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

const (
	token      = "cluster-test-token-0123456789"
	batchSize  = 100
	batches    = 200 // 20,000 events
	killAfter  = 50  // accepted batches before the stream leader is killed
	partitions = 4
	// maxFailover bounds the window in which ingest may answer 503 after the stream leader dies.
	maxFailover = 30 * time.Second
)

func TestMain(m *testing.M) { testenv.Main(m) }

type nopAudit struct{}

func (nopAudit) Audit(authapi.AuditRecord)                      {}
func (nopAudit) AdminLogin(string, netip.Addr, bool, time.Time) {}

// posted is what the client saw for one request.
type posted struct {
	batch  int
	status int
	at     time.Time
	took   time.Duration
}

// TestStreamLeaderKilledMidStream posts 20,000 events through the real ingest handler into an R3 events stream, kills
// the stream leader after 5,000 accepted events, and checks that every event ingest acknowledged is stored, that 503s
// are confined to a bounded failover window, and that trusted networks and auth accounts (R3 buckets) survive.
func TestStreamLeaderKilledMidStream(t *testing.T) {
	start := time.Now()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	c := testenv.NATSCluster(t)
	nc := c.Connect(t)
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	leader := waitStreamLeader(t, ctx, stream, "")
	t.Logf("%s: cluster up, stream leader %s", time.Since(start).Round(time.Millisecond), leader)

	// Trusted networks and accounts, both in R3 buckets, written before the kill.
	trust, err := trustkv.Open(ctx, js, trustkv.Options{Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	before, err := trust.Add(ctx, netset.Entry{Scope: netset.ScopeDomain, Subject: "example.org", Prefix: netip.MustParsePrefix("203.0.113.0/24"), Description: "office"})
	if err != nil {
		t.Fatal(err)
	}
	watcher := trustkv.NewWatcher(trust, logger, prometheus.NewRegistry())
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	go func() { _ = watcher.Run(wctx) }()
	select {
	case <-watcher.Ready():
	case <-ctx.Done():
		t.Fatal("trusted networks watcher never loaded the bucket")
	}
	officeIP := netip.MustParseAddr("203.0.113.7")
	// Polled: in the cluster the watcher was once seen Ready without the entry acked just before it started
	// (reported as an open question; the single-node tests assert it directly).
	readyAt := time.Now()
	waitFor(t, ctx, "the watcher to trust the network added before the kill", func() bool {
		return watcher.Set().Trusted("bob@example.org", "example.org", officeIP)
	})
	if d := time.Since(readyAt); d > 10*time.Millisecond {
		t.Logf("watcher Ready %s before it trusted the network added before it started", d.Round(time.Millisecond))
	}

	auth, err := authapi.New(ctx, js, bytes.Repeat([]byte{7}, 32), authapi.Options{
		Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1}, Insecure: true, Replicas: 3,
	}, nopAudit{}, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.CreateAccount(ctx, "viewer1", "correct horse battery staple", authapi.RoleViewer); err != nil {
		t.Fatal(err)
	}
	authSrv := httptest.NewServer(auth.Handler())
	defer authSrv.Close()
	if st := login(t, authSrv.URL, "viewer1", "correct horse battery staple"); st != http.StatusOK {
		t.Fatalf("login before the kill: status %d", st)
	}

	t.Logf("%s: trusted networks and auth buckets ready", time.Since(start).Round(time.Millisecond))

	// A real detector committing to the test ClickHouse, consuming from the cluster throughout.
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
	if err := testenv.WriteTestDB(geoPath, map[string]string{"198.51.100.0/24": "DE"}); err != nil {
		t.Fatal(err)
	}
	g, err := geo.Open(geoPath)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	detReg := prometheus.NewRegistry()
	det, err := detector.New(js, store, g, func() engine.Trust { return watcher.Set() }, detector.Options{
		Partitions: partitions, BatchSize: 2000, FlushInterval: 100 * time.Millisecond, AckWait: 10 * time.Second, Rules: rule.Config{Global: rule.Defaults},
	}, logger, detReg)
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithCancel(ctx)
	detDone := make(chan error, 1)
	go func() { detDone <- det.Run(dctx) }()
	defer func() {
		dcancel()
		if err := <-detDone; err != nil {
			t.Errorf("detector Run = %v, want nil after cancel", err)
		}
	}()
	select {
	case <-det.Ready():
	case err := <-detDone:
		t.Fatalf("detector stopped at start: %v", err)
	case <-ctx.Done():
		t.Fatal("detector not ready")
	}
	t.Logf("%s: detector ready", time.Since(start).Round(time.Millisecond))

	// The real ingest endpoint over the cluster.
	h, err := ingest.NewHandler(ingest.Options{Tokens: []string{token}}, // production timeouts: 5s ack wait
		natsbus.NewPublisher(js, partitions, prometheus.NewRegistry()), logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	ing := httptest.NewServer(mux)
	defer ing.Close()

	// The client posts batches in order and retries a batch answered 503 (ids make the retry idempotent).
	results := make(chan posted, 1024)
	accepted := map[string]bool{}
	var log []posted
	go func() {
		defer close(results)
		now := time.Now().UTC().Add(-time.Minute)
		for b := 0; b < batches; b++ {
			body := ndjson(b, now)
			for {
				if ctx.Err() != nil {
					return
				}
				t0 := time.Now()
				st := post(ing.URL, body)
				results <- posted{batch: b, status: st, at: t0, took: time.Since(t0)}
				if st == http.StatusOK {
					break
				}
				time.Sleep(20 * time.Millisecond) // client back-off between retries; not a wait for a condition
			}
		}
	}()
	okBatches := 0
	elected := make(chan time.Duration, 1)
	var killAt time.Time
	var killTook time.Duration
	for r := range results {
		log = append(log, r)
		if r.status == http.StatusOK {
			okBatches++
			for i := range batchSize {
				accepted[eventID(r.batch, i)] = true
			}
		}
		if okBatches == killAfter && killAt.IsZero() {
			killAt = time.Now()
			t.Logf("killing stream leader %s after %d accepted events", leader, okBatches*batchSize)
			c.Stop(c.Index(leader))
			killTook = time.Since(killAt)
			go func() {
				// How long the surviving nodes take to elect a new stream leader.
				for ctx.Err() == nil {
					ictx, icancel := context.WithTimeout(ctx, 500*time.Millisecond)
					info, err := stream.Info(ictx)
					icancel()
					if err == nil && info.Cluster != nil && info.Cluster.Leader != "" && info.Cluster.Leader != leader {
						elected <- time.Since(killAt)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
	}
	if ctx.Err() != nil {
		t.Fatalf("posting did not finish: %v", ctx.Err())
	}

	// Status accounting and the failover window.
	var first503, last503 time.Time
	counts := map[int]int{}
	var slowest time.Duration
	for _, r := range log {
		counts[r.status]++
		slowest = max(slowest, r.took)
		switch r.status {
		case http.StatusOK:
		case http.StatusServiceUnavailable:
			if r.at.Add(r.took).Before(killAt) {
				t.Errorf("503 answered at %s, before the kill", r.at.Add(r.took).Sub(start))
			}
			if first503.IsZero() {
				first503 = r.at
			}
			last503 = r.at.Add(r.took)
		default:
			t.Errorf("batch %d: unexpected status %d", r.batch, r.status)
		}
	}
	window := last503.Sub(first503)
	if first503.IsZero() {
		window = 0
	}
	// Recovered: the first 200 for a request sent after the last 503 (or after the kill when there was none).
	after := killAt
	if last503.After(after) {
		after = last503
	}
	var recovered time.Time
	for _, r := range log {
		if !r.at.Before(after) && r.status == http.StatusOK {
			recovered = r.at.Add(r.took)
			break
		}
	}
	t.Logf("statuses %v; 503 window (first 503 sent .. last 503 answered) %s; kill (shutdown took %s) to recovered 200 %s; slowest request %s",
		counts, window.Round(time.Millisecond), killTook.Round(time.Millisecond), recovered.Sub(killAt).Round(time.Millisecond), slowest.Round(time.Millisecond))
	if window > maxFailover {
		t.Errorf("ingest answered 503 for %s after the leader died, want < %s", window, maxFailover)
	}
	if len(accepted) != batches*batchSize {
		t.Fatalf("%d events accepted, want %d", len(accepted), batches*batchSize)
	}

	t.Logf("%s: posting done", time.Since(start).Round(time.Millisecond))
	newLeader := waitStreamLeader(t, ctx, stream, leader)
	select {
	case d := <-elected:
		t.Logf("stream leader %s -> %s, observed %s after the kill", leader, newLeader, d.Round(time.Millisecond))
	case <-ctx.Done():
		t.Fatal("new stream leader never observed")
	}

	// Every accepted event is in the stream, exactly once, read back from a surviving node.
	stored := readAll(t, ctx, js)
	t.Logf("%s: stream read back", time.Since(start).Round(time.Millisecond))
	missing := 0
	for id := range accepted {
		if stored[id] == 0 {
			missing++
		}
	}
	dups := 0
	for id, n := range stored {
		if n > 1 {
			dups++
		}
		if !accepted[id] {
			t.Errorf("stored event %s was never acknowledged", id)
		}
	}
	if missing > 0 {
		t.Errorf("%d of %d accepted events are missing from the stream", missing, len(accepted))
	}
	if dups > 0 {
		t.Errorf("%d events are stored more than once", dups)
	}

	// Trusted networks survive and the watcher still follows the bucket.
	entries, err := trust.List(ctx)
	if err != nil {
		t.Fatalf("list trusted networks after the kill: %v", err)
	}
	if len(entries) != 1 || entries[0].ID != before.ID {
		t.Fatalf("trusted networks after the kill: %+v, want the one added before", entries)
	}
	if !watcher.Set().Trusted("bob@example.org", "example.org", officeIP) {
		t.Error("watcher lost the network added before the kill")
	}
	homeIP := netip.MustParseAddr("198.51.100.20")
	if _, err := trust.Add(ctx, netset.Entry{Scope: netset.ScopeUser, Subject: "bob@example.org", Prefix: netip.MustParsePrefix("198.51.100.0/24"), Description: "home"}); err != nil {
		t.Fatalf("add a trusted network after the kill: %v", err)
	}
	waitFor(t, ctx, "the watcher to see the network added after the kill", func() bool {
		return watcher.Set().Trusted("bob@example.org", "example.org", homeIP)
	})

	t.Logf("%s: trusted networks checked", time.Since(start).Round(time.Millisecond))

	{
		// The detector continued through the failover and committed every accepted event (FINAL deduplicates
		// redeliveries by event id).
		var rows uint64
		commitDeadline := time.Now().Add(30 * time.Second)
		for {
			if err := store.Conn().QueryRow(ctx, "SELECT count() FROM logins FINAL").Scan(&rows); err != nil {
				t.Fatalf("count logins: %v", err)
			}
			if rows == uint64(len(accepted)) {
				break
			}
			if time.Now().After(commitDeadline) {
				for name := range stream.ConsumerNames(ctx).Name() {
					cctx, ccancel := context.WithTimeout(ctx, 2*time.Second)
					if cons, err := stream.Consumer(cctx, name); err == nil {
						ci := cons.CachedInfo()
						leader := ""
						if ci.Cluster != nil {
							leader = ci.Cluster.Leader
						}
						t.Logf("consumer %s: leader %s pending %d ack pending %d redelivered %d delivered %d ack floor %d waiting %d",
							name, leader, ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.Delivered.Stream, ci.AckFloor.Stream, ci.NumWaiting)
					} else {
						t.Logf("consumer %s: %v", name, err)
					}
					ccancel()
				}
				reportMissing(t, ctx, store, stored)
				t.Fatalf("detector committed %d of %d accepted events 30s after posting ended", rows, len(accepted))
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Logf("%s: detector committed %d logins; %v consumer restarts after lost deliveries", time.Since(start).Round(time.Millisecond), rows,
			counterValue(detReg, "vigil_detector_consumer_restarts_total"))
	}

	// The account created before the kill still logs in.
	if st := login(t, authSrv.URL, "viewer1", "correct horse battery staple"); st != http.StatusOK {
		t.Errorf("login after the kill: status %d", st)
	}

	// The killed node comes back on its store and catches up: every replica of the stream is current again.
	c.Restart(c.Index(leader))
	waitFor(t, ctx, "the restarted node to catch up", func() bool {
		info, err := stream.Info(ctx)
		if err != nil || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			return false
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Lag != 0 {
				return false
			}
		}
		return true
	})
	t.Logf("test took %s", time.Since(start).Round(time.Millisecond))
}

func eventID(batch, i int) string { return fmt.Sprintf("ev-%03d-%03d", batch, i) }

func ndjson(batch int, at time.Time) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	for i := range batchSize {
		_ = enc.Encode(map[string]any{
			"id": eventID(batch, i), "kind": "login", "time": at.Format(time.RFC3339Nano),
			"user": fmt.Sprintf("u%d@example.org", (batch*batchSize+i)%500), "ip": fmt.Sprintf("192.0.2.%d", i%250+1),
			"service": "imap", "success": true,
		})
	}
	return b.Bytes()
}

func post(url string, body []byte) int {
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/events", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

func login(t *testing.T, url, user, pw string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"username": user, "password": pw})
	resp, err := http.Post(url+"/v1/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// waitStreamLeader polls until the stream has a leader other than not and every replica is current.
func waitStreamLeader(t *testing.T, ctx context.Context, s jetstream.Stream, not string) string {
	t.Helper()
	var leader string
	waitFor(t, ctx, "a stream leader", func() bool {
		ictx, icancel := context.WithTimeout(ctx, time.Second)
		defer icancel()
		info, err := s.Info(ictx)
		if err != nil || info.Cluster == nil || info.Cluster.Leader == "" || info.Cluster.Leader == not {
			return false
		}
		leader = info.Cluster.Leader
		return true
	})
	return leader
}

// readAll reads the whole events stream with an ordered consumer and counts the messages per event id.
func readAll(t *testing.T, ctx context.Context, js jetstream.JetStream) map[string]int {
	t.Helper()
	cons, err := js.OrderedConsumer(ctx, natsbus.DefaultStream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("ordered consumer: %v", err)
	}
	info, err := js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	total := info.CachedInfo().State.Msgs
	seen := map[string]int{}
	clear(seqs)
	var n uint64
	deadline := time.Now().Add(30 * time.Second)
	for n < total {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of %d stored messages in 30s", n, total)
		}
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			// Right after a failover the ordered consumer may find no responder yet; it resumes where it stopped.
			t.Logf("fetch after %d messages: %v; retrying", n, err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		got := 0
		for m := range batch.Messages() {
			got++
			var e event.Event
			if err := event.Unmarshal(m.Data(), &e); err != nil {
				t.Fatalf("stored message %s: %v", m.Subject(), err)
			}
			if id := m.Headers().Get("Nats-Msg-Id"); id != e.ID {
				t.Errorf("message id header %q, event id %q", id, e.ID)
			}
			seen[e.ID]++
			if meta, err := m.Metadata(); err == nil {
				seqs[e.ID] = meta.Sequence.Stream
			}
		}
		if batch.Error() != nil && got == 0 {
			t.Logf("fetch after %d messages: %v; retrying", n, batch.Error())
		}
		n += uint64(got)
	}
	t.Logf("read %d stored messages, %d distinct ids", n, len(seen))
	return seen
}

func waitFor(t *testing.T, ctx context.Context, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// seqs maps each stored event id to its stream sequence (filled by readAll), for diagnostics.
var seqs = map[string]uint64{}

// reportMissing logs the stored events the detector did not commit, by partition and stream sequence.
func reportMissing(t *testing.T, ctx context.Context, store *chstore.Store, stored map[string]int) {
	t.Helper()
	rows, err := store.Conn().Query(ctx, "SELECT DISTINCT event_id FROM logins")
	if err != nil {
		t.Logf("list committed ids: %v", err)
		return
	}
	defer rows.Close()
	committed := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err == nil {
			committed[id] = true
		}
	}
	byPart := map[int][]uint64{}
	for id := range stored {
		if !committed[id] {
			var b, i int
			fmt.Sscanf(id, "ev-%d-%d", &b, &i)
			user := fmt.Sprintf("u%d@example.org", (b*batchSize+i)%500)
			p := event.Partition(user, partitions)
			byPart[p] = append(byPart[p], seqs[id])
		}
	}
	for p, ss := range byPart {
		slices.Sort(ss)
		t.Logf("partition %d: %d uncommitted events, stream sequences %v", p, len(ss), ss)
	}
}

// counterValue returns an unlabelled counter's value in reg, or -1 when it is not there.
func counterValue(reg *prometheus.Registry, name string) float64 {
	mfs, err := reg.Gather()
	if err != nil {
		return -1
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	return -1
}
