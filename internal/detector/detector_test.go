package detector_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Addresses of the fixture database.
var (
	ipGB     = netip.MustParseAddr("81.2.69.142")
	ipUS     = netip.MustParseAddr("8.8.8.8")
	ipAU     = netip.MustParseAddr("1.1.1.1")
	ipOffice = netip.MustParseAddr("198.51.100.20") // located in DE, trusted in some tests
)

type env struct {
	t     *testing.T
	js    jetstream.JetStream
	store *chstore.Store
	geo   *geo.DB
	trust *trustkv.Watcher
	ts    *trustkv.Store
	pub   *natsbus.Publisher
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	ns := testenv.NATS(t)
	js, err := natsbus.NewJetStream(testenv.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	addr, db := testenv.ClickHouseDB(t)
	store, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := testenv.WriteTestDB(path, map[string]string{
		"81.2.64.0/18": "GB", "8.8.8.0/24": "US", "1.1.1.0/24": "AU", "198.51.100.0/24": "DE", "2a00:1450::/32": "IE",
	}); err != nil {
		t.Fatal(err)
	}
	g, err := geo.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	ts, err := trustkv.Open(ctx, js, trustkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := trustkv.NewWatcher(ts, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go w.Run(wctx)
	<-w.Ready()
	return &env{t: t, js: js, store: store, geo: g, trust: w, ts: ts, pub: natsbus.NewPublisher(js, 4, prometheus.NewRegistry())}
}

// run starts a detector over the stream and returns a function that stops it and waits for Run to return.
func (e *env) run(store detector.Store, rules rule.Config) (stop func()) {
	e.t.Helper()
	_, stop = e.startStop(store, rules)
	return stop
}

// start is run that returns the detector.
func (e *env) start(store detector.Store, rules rule.Config) *detector.Detector {
	e.t.Helper()
	d, _ := e.startStop(store, rules)
	return d
}

func (e *env) startStop(store detector.Store, rules rule.Config) (d *detector.Detector, stop func()) {
	e.t.Helper()
	if store == nil {
		store = e.store
	}
	d, _, stop = e.launch(store, e.geo, detector.Options{Partitions: 4, BatchSize: 500, FlushInterval: 50 * time.Millisecond, Rules: rules})
	return d, stop
}

// launch starts a detector with opts and waits until it is ready. It returns the detector, its registry and a
// function that stops it and checks that Run returned nil (also called at the test's end).
func (e *env) launch(store detector.Store, g engine.Geo, opts detector.Options) (*detector.Detector, *prometheus.Registry, func()) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	d, err := detector.New(e.js, store, g, func() engine.Trust { return e.trust.Set() }, opts, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		cancel()
		e.t.Fatalf("detector %v stopped at start: %v", opts.Owned, err)
	case <-time.After(30 * time.Second):
		cancel()
		e.t.Fatalf("detector %v not ready after 30s", opts.Owned)
	}
	var once atomic.Bool
	stop := func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("detector %v: Run = %v; want nil after cancel", opts.Owned, err)
		}
	}
	e.t.Cleanup(stop)
	return d, reg, stop
}

func (e *env) publish(evs ...event.Event) {
	e.t.Helper()
	if err := e.pub.Publish(context.Background(), evs); err != nil {
		e.t.Fatal(err)
	}
}

// count returns the deduplicated row count of a query's table: SELECT count() FROM t FINAL WHERE ...
func (e *env) count(query string, args ...any) uint64 {
	e.t.Helper()
	var n uint64
	if err := e.store.Conn().QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		e.t.Fatalf("%s: %v", query, err)
	}
	return n
}

// waitCount polls until the query returns want.
func (e *env) waitCount(want uint64, query string, args ...any) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var n uint64
	for time.Now().Before(deadline) {
		if n = e.count(query, args...); n == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("%s = %d after 20s; want %d", query, n, want)
}

var t0 = time.Now().UTC().Truncate(time.Second).Add(-6 * time.Hour)

func login(user string, ip netip.Addr, at time.Duration, ok bool) event.Event {
	e := event.Event{Kind: event.KindLogin, Time: t0.Add(at), User: user, Domain: domainOf(user), IP: ip, Service: "imap", Success: ok}
	e.ID = event.ContentID(&e)
	return e
}

func send(user string, at time.Duration, rcpts int) event.Event {
	e := event.Event{Kind: event.KindSend, Time: t0.Add(at), User: user, Domain: domainOf(user), IP: ipGB, Service: "submission", Recipients: rcpts}
	e.ID = event.ContentID(&e)
	return e
}

func domainOf(user string) string {
	for i := len(user) - 1; i >= 0; i-- {
		if user[i] == '@' {
			return user[i+1:]
		}
	}
	return ""
}

func defaults() rule.Config { return rule.Config{Global: rule.Defaults} }

func TestRowsAndIncidents(t *testing.T) {
	e := setup(t)
	published, err := e.js.Conn().SubscribeSync(natsbus.IncidentSubjectPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	e.run(nil, rule.Config{Global: rule.Defaults, Domains: map[string]rule.Thresholds{"bulk.example": {"send_volume": 20}}})
	var evs []event.Event
	evs = append(evs, login("alice@example.org", ipGB, 0, true), login("alice@example.org", ipUS, time.Hour, true))
	evs = append(evs, login("bob@example.org", ipGB, 0, true), login("bob@example.org", ipUS, time.Hour, false)) // failed: no incident
	for i := range 25 {
		evs = append(evs, send("news@bulk.example", time.Duration(i)*time.Minute, 2))
	}
	for i := range 25 {
		evs = append(evs, send("carol@example.org", time.Duration(i)*time.Minute, 2)) // global threshold 500
	}
	e.publish(evs...)
	e.waitCount(4, "SELECT count() FROM logins FINAL")
	e.waitCount(50, "SELECT count() FROM sends FINAL")
	e.waitCount(2, "SELECT count() FROM incidents FINAL")

	incs, err := e.store.Incidents(context.Background(), t0.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	byUser := map[string]incident.Incident{}
	for _, i := range incs {
		byUser[i.User] = i
	}
	a := byUser["alice@example.org"]
	if a.Rule != incident.MultiCountry || fmt.Sprint(a.Countries) != "[GB US]" || a.Logins != 2 || a.Domain != "example.org" {
		t.Errorf("alice's incident = %+v; want multi_country GB,US with 2 logins", a)
	}
	n := byUser["news@bulk.example"]
	if n.Rule != incident.SendVolume || n.Messages24h != 25 || n.Recipients24h != 50 {
		t.Errorf("news@ incident = %+v; want send_volume with 25 messages, 50 recipients (domain threshold 20)", n)
	}
	if e.count("SELECT count() FROM logins FINAL WHERE user = 'bob@example.org' AND success = 0 AND country = 'US'") != 1 {
		t.Error("bob's failed login is not stored with success = 0 and country US")
	}
	seen := map[string]bool{}
	for len(seen) < 2 {
		msg, err := published.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("incidents published on %s>: %v after %v", natsbus.IncidentSubjectPrefix, err, seen)
		}
		var inc incident.Incident
		if err := json.Unmarshal(msg.Data, &inc); err != nil || msg.Subject != natsbus.IncidentSubjectPrefix+string(inc.Rule) {
			t.Fatalf("published %s %s: %v", msg.Subject, msg.Data, err)
		}
		seen[inc.User] = true
	}
}

func TestTrustedNetworkAppliesLive(t *testing.T) {
	e := setup(t)
	e.run(nil, defaults())
	ctx := context.Background()
	if _, err := e.ts.Add(ctx, netset.Entry{Scope: netset.ScopeDomain, Subject: "example.org", Prefix: netip.MustParsePrefix("198.51.100.0/24"), Description: "office"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for !e.trust.Set().Trusted("dave@example.org", "example.org", ipOffice) {
		if time.Now().After(deadline) {
			t.Fatal("trusted range not applied within a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.publish(login("dave@example.org", ipGB, 0, true), login("dave@example.org", ipOffice, time.Hour, true))
	e.waitCount(2, "SELECT count() FROM logins FINAL WHERE user = 'dave@example.org'")
	if n := e.count("SELECT count() FROM logins FINAL WHERE user = 'dave@example.org' AND trusted = 1 AND ip = '198.51.100.20'"); n != 1 {
		t.Errorf("trusted login rows = %d; want 1", n)
	}
	// The same pair for a user of another domain is an incident: the range is scoped to example.org.
	e.publish(login("eve@other.org", ipGB, 0, true), login("eve@other.org", ipOffice, time.Hour, true))
	e.waitCount(1, "SELECT count() FROM incidents FINAL WHERE user = 'eve@other.org'")
	if n := e.count("SELECT count() FROM incidents FINAL WHERE user = 'dave@example.org'"); n != 0 {
		t.Errorf("dave has %d incidents; want 0 (his second country is a trusted network)", n)
	}
}

// TestRedeliveryAndReplayDoNotDuplicate processes the same events three ways — first delivery, full redelivery
// after the consumers are deleted, and republishing under new message ids — and expects one row per event and one
// incident.
func TestRedeliveryAndReplayDoNotDuplicate(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	evs := []event.Event{login("alice@example.org", ipGB, 0, true), login("alice@example.org", ipUS, time.Hour, true), send("alice@example.org", 2*time.Hour, 3)}
	e.publish(evs...)
	stop := e.run(nil, defaults())
	e.waitCount(1, "SELECT count() FROM incidents FINAL")
	e.waitCount(1, "SELECT count() FROM sends FINAL")
	stop()

	// Redelivery of everything: the durable consumers are gone, so the whole stream comes again.
	s, _ := e.js.Stream(ctx, natsbus.DefaultStream)
	for name := range s.ConsumerNames(ctx).Name() {
		if err := s.DeleteConsumer(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	// Replay of the same events under new message ids (outside JetStream's duplicate window).
	for _, ev := range evs {
		data, _ := event.Marshal(&ev)
		if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: natsbus.SubjectOf(&ev, 4), Data: data, Header: nats.Header{"Nats-Msg-Id": []string{"again-" + ev.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	stop = e.run(nil, defaults())
	waitDrained(t, e.js)
	stop()
	for table, want := range map[string]uint64{"logins": 2, "sends": 1, "incidents": 1} {
		if n := e.count("SELECT count() FROM " + table + " FINAL"); n != want {
			t.Errorf("%s FINAL has %d rows after redelivery and replay; want %d", table, n, want)
		}
	}
	if n := e.count("SELECT uniqExact(incident_id) FROM incidents"); n != 1 {
		t.Errorf("%d distinct incident ids; want 1", n)
	}
}

// TestLateReplayCountedOnce posts the same sends and logins again outside JetStream's duplicate window, across a
// restart (the first copies reach the windows through the rebuild): the windows count each event id once, so no
// send_volume false positive, and the incident's evidence equals what ClickHouse holds.
func TestLateReplayCountedOnce(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	evs := []event.Event{login("erin@example.org", ipGB, 0, true), login("erin@example.org", ipUS, time.Minute, true)}
	for i := range 300 {
		evs = append(evs, send("erin@example.org", 2*time.Minute+time.Duration(i)*time.Second, 1))
	}
	e.publish(evs...)
	stop := e.run(nil, defaults())
	e.waitCount(300, "SELECT count() FROM sends FINAL")
	waitDrained(t, e.js)
	stop()
	for _, ev := range evs {
		data, _ := event.Marshal(&ev)
		if _, err := e.js.PublishMsg(ctx, &nats.Msg{Subject: natsbus.SubjectOf(&ev, 4), Data: data, Header: nats.Header{"Nats-Msg-Id": []string{"late-" + ev.ID}}}); err != nil {
			t.Fatal(err)
		}
	}
	e.run(nil, defaults())
	waitDrained(t, e.js)
	if n := e.count("SELECT count() FROM incidents FINAL WHERE rule = 'send_volume'"); n != 0 {
		t.Errorf("%d send_volume incidents after 300 sends posted twice; want 0 (threshold 500)", n)
	}
	var logins, msgs uint32
	if err := e.store.Conn().QueryRow(ctx, "SELECT logins, messages_24h FROM incidents FINAL WHERE rule = 'multi_country'").Scan(&logins, &msgs); err != nil {
		t.Fatal(err)
	}
	if logins != 2 || msgs != 300 {
		t.Errorf("multi_country incident: logins %d, messages_24h %d; want 2 and 300 as in ClickHouse", logins, msgs)
	}
}

// TestRestartMidStream stops the detector while events flow and starts it again: nothing lost, nothing doubled, and
// an incident whose evidence spans the restart is found.
func TestRestartMidStream(t *testing.T) {
	e := setup(t)
	const users = 200
	var first, second []event.Event
	for u := range users {
		name := fmt.Sprintf("u%03d@example.org", u)
		first = append(first, login(name, ipGB, 0, true))
		for i := range 5 {
			first = append(first, send(name, time.Duration(i)*time.Minute, 1))
		}
		second = append(second, send(name, time.Hour, 1))
		if u%10 == 0 { // every tenth user is taken over: the foreign login comes after the restart
			second = append(second, login(name, ipAU, 2*time.Hour, true))
		}
	}
	e.publish(first...)
	stop := e.run(nil, defaults())
	// Stop as soon as some, but not all, rows are committed.
	deadline := time.Now().Add(20 * time.Second)
	for e.count("SELECT count() FROM sends") == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	// The stop must really stop: stop has checked that Run returned nil; now nothing may consume or commit what is
	// published while no detector runs.
	committed := e.count("SELECT count() FROM sends FINAL")
	e.publish(second...)
	// Nothing happening is the behaviour under test, so there is no condition to poll for: give a running detector
	// (flush interval 50 ms) several flushes to show itself.
	time.Sleep(500 * time.Millisecond)
	if n := e.count("SELECT count() FROM sends FINAL"); n != committed {
		t.Errorf("sends committed while stopped: %d before, %d after; want no change", committed, n)
	}
	if n := e.count("SELECT count() FROM logins FINAL WHERE country = 'AU'"); n != 0 {
		t.Errorf("%d logins published after the stop were committed while stopped; want 0", n)
	}
	if pending := e.pending(); pending < uint64(len(second)) {
		t.Errorf("consumers have %d messages pending after the stop; want at least the %d published since", pending, len(second))
	}
	e.run(nil, defaults())
	e.waitCount(users+users/10, "SELECT count() FROM logins FINAL")
	e.waitCount(users*6, "SELECT count() FROM sends FINAL")
	e.waitCount(users/10, "SELECT count() FROM incidents FINAL")
	waitDrained(t, e.js)
	if n := e.count("SELECT count() FROM incidents FINAL WHERE rule = 'multi_country' AND has(countries, 'GB') AND has(countries, 'AU')"); n != users/10 {
		t.Errorf("multi_country incidents with GB and AU = %d; want %d (evidence spans the restart)", n, users/10)
	}
}

// TestCrashAnywhere stops and restarts the detector at random moments while events are published, then checks
// that ClickHouse holds every event exactly once and exactly the expected incidents.
func TestCrashAnywhere(t *testing.T) {
	e := setup(t)
	const users = 300
	var evs []event.Event
	for u := range users {
		name := fmt.Sprintf("c%03d@example.org", u)
		evs = append(evs, login(name, ipGB, time.Duration(u)*time.Second, true))
		for i := range 4 {
			evs = append(evs, send(name, time.Duration(u+i)*time.Second, 1))
		}
		if u%7 == 0 {
			evs = append(evs, login(name, ipUS, time.Hour+time.Duration(u)*time.Second, true))
		}
	}
	r := uint64(time.Now().UnixNano()) | 1
	if v := os.Getenv("VIGIL_TEST_SEED"); v != "" {
		r, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (repeat with VIGIL_TEST_SEED=%d)", r, r)
	next := func(n int) int { r ^= r << 13; r ^= r >> 7; r ^= r << 17; return int(r % uint64(n)) }
	for chunk := 0; chunk < len(evs); {
		end := min(len(evs), chunk+100+next(300))
		e.publish(evs[chunk:end]...)
		chunk = end
		stop := e.run(nil, defaults())
		time.Sleep(time.Duration(next(40)) * time.Millisecond)
		stop()
	}
	e.run(nil, defaults())
	waitDrained(t, e.js)
	wantIncidents := uint64((users + 6) / 7)
	e.waitCount(uint64(users)+wantIncidents, "SELECT count() FROM logins FINAL")
	e.waitCount(users*4, "SELECT count() FROM sends FINAL")
	e.waitCount(wantIncidents, "SELECT count() FROM incidents FINAL")
	if n := e.count("SELECT uniqExact(incident_id) FROM incidents"); n != wantIncidents {
		t.Errorf("%d distinct incident ids across all versions; want %d", n, wantIncidents)
	}
}

// flakyStore is the real store with an injected outage.
type flakyStore struct {
	*chstore.Store
	down  atomic.Bool
	calls atomic.Int32
}

func (f *flakyStore) Write(ctx context.Context, l, s []event.Enriched, i []incident.Incident) error {
	f.calls.Add(1)
	if f.down.Load() {
		return errors.New("clickhouse unavailable (injected)")
	}
	return f.Store.Write(ctx, l, s, i)
}

func TestStoreOutageHoldsAcks(t *testing.T) {
	e := setup(t)
	fs := &flakyStore{Store: e.store}
	fs.down.Store(true)
	e.run(fs, defaults())
	e.publish(login("alice@example.org", ipGB, 0, true), login("alice@example.org", ipUS, time.Hour, true))
	deadline := time.Now().Add(10 * time.Second)
	for fs.calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if fs.calls.Load() < 3 {
		t.Fatalf("%d write attempts during the outage; want retries", fs.calls.Load())
	}
	ctx := context.Background()
	s, _ := e.js.Stream(ctx, natsbus.DefaultStream)
	acked := uint64(0)
	for name := range s.ConsumerNames(ctx).Name() {
		c, _ := s.Consumer(ctx, name)
		ci, _ := c.Info(ctx)
		acked += ci.AckFloor.Stream
	}
	if acked != 0 {
		t.Fatalf("messages acknowledged while the store was down (ack floors sum %d)", acked)
	}
	fs.down.Store(false)
	e.waitCount(2, "SELECT count() FROM logins FINAL")
	e.waitCount(1, "SELECT count() FROM incidents FINAL")
	waitDrained(t, e.js)
}

// After a long outage, commits resume within 5 s of the store returning, and Health reports the failing commits.
func TestCommitsResumeSoonAfterLongOutage(t *testing.T) {
	e := setup(t)
	fs := &flakyStore{Store: e.store}
	fs.down.Store(true)
	d := e.start(fs, defaults())
	e.publish(login("alice@example.org", ipGB, 0, true))
	outage := time.Now()
	deadline := outage.Add(30 * time.Second)
	for d.Health() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := d.Health(); err == nil || !strings.Contains(err.Error(), "commits failing") {
		t.Fatalf("Health() during the outage = %v; want a commit failure", err)
	}
	// Keep the store down long enough for an unbounded backoff to grow past 5 s.
	for (fs.calls.Load() < 7 || time.Since(outage) < 7*time.Second) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fs.down.Store(false)
	back := time.Now()
	e.waitCount(1, "SELECT count() FROM logins FINAL")
	if took := time.Since(back); took > 5*time.Second {
		t.Errorf("first commit %v after the store returned (outage %v, %d attempts); want within 5s", took, back.Sub(outage), fs.calls.Load())
	}
	// The row is visible in ClickHouse a moment before Write returns and the detector records the success.
	testenv.Eventually(t, 5*time.Second, "Health() nil after a successful commit", func() bool { return d.Health() == nil })
}

func TestPoisonMessageGoesToDeadLetters(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	good := login("alice@example.org", ipGB, 0, true)
	if _, err := e.js.Publish(ctx, natsbus.SubjectOf(&good, 4), []byte(`{"kind":"login","user":`)); err != nil {
		t.Fatal(err)
	}
	e.publish(good)
	e.run(nil, defaults())
	e.waitCount(1, "SELECT count() FROM logins FINAL")
	dlq, err := e.js.Stream(ctx, natsbus.DLQStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := dlq.GetLastMsgForSubject(ctx, natsbus.DLQEvents)
	if err != nil {
		t.Fatalf("dead-letter message: %v", err)
	}
	if msg.Header.Get("Vigil-Reason") == "" || msg.Header.Get("Vigil-Subject") != natsbus.SubjectOf(&good, 4) {
		t.Errorf("dead letter headers = %v; want a reason and the original subject", msg.Header)
	}
	waitDrained(t, e.js)
}

// pending is the number of messages the detector's consumers have not yet been delivered, summed over partitions.
func (e *env) pending() uint64 {
	e.t.Helper()
	ctx := context.Background()
	s, err := e.js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		e.t.Fatal(err)
	}
	var n uint64
	for name := range s.ConsumerNames(ctx).Name() {
		if !strings.HasPrefix(name, "vigil-detector-") {
			continue
		}
		c, err := s.Consumer(ctx, name)
		if err != nil {
			e.t.Fatal(err)
		}
		ci, err := c.Info(ctx)
		if err != nil {
			e.t.Fatal(err)
		}
		n += ci.NumPending
	}
	return n
}

func waitDrained(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	testenv.WaitDrained(t, js, natsbus.EventsStream, natsbus.DetectorConsumerPrefix)
}

// TestNewIncidentCommittedBeforeFlushInterval: with a flush interval of a minute and room for many more rows, the
// batch holding a new incident is committed within newIncidentFlush, not when full or after the interval;
// containment waits for it.
func TestNewIncidentCommittedBeforeFlushInterval(t *testing.T) {
	e := setup(t)
	e.launch(e.store, e.geo, detector.Options{Partitions: 4, BatchSize: 100000, FlushInterval: time.Minute, Rules: defaults()})
	e.publish(login("frank@example.org", ipGB, 0, true), send("frank@example.org", time.Minute, 1))
	// Nothing opens an incident yet: those rows wait for the interval. Not polled for: the batch is not due for a
	// minute, and a second shows a flush that should not have happened.
	time.Sleep(time.Second)
	if n := e.count("SELECT count() FROM logins FINAL"); n != 0 {
		t.Fatalf("%d logins committed a second after they were applied; want 0 before the flush interval (1 minute)", n)
	}
	start := time.Now()
	e.publish(login("frank@example.org", ipUS, time.Hour, true))
	testenv.Eventually(t, 20*time.Second, "the multi_country incident committed", func() bool {
		return e.count("SELECT count() FROM incidents FINAL WHERE rule = 'multi_country'") == 1
	})
	if n := e.count("SELECT count() FROM logins FINAL"); n != 2 {
		t.Errorf("%d logins committed with the incident; want both, its evidence", n)
	}
	t.Logf("incident committed %s after its login was published", time.Since(start).Round(time.Millisecond))
}
