package respond_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// auditLog collects the responder's audit records.
type auditLog struct {
	mu   sync.Mutex
	recs []authapi.AuditRecord
}

func (a *auditLog) Audit(r authapi.AuditRecord) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.recs = append(a.recs, r)
}

func (a *auditLog) count(action, target string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, r := range a.recs {
		if r.Action == action && (target == "" || r.Target == target) {
			n++
		}
	}
	return n
}

// releases records the quarantine hook's calls.
type releases struct {
	mu  sync.Mutex
	ids []string
}

func (q *releases) ReleaseIncident(_ context.Context, id, by string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ids = append(q.ids, id+" by "+by)
	return nil
}

func (q *releases) list() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]string(nil), q.ids...)
}

type harness struct {
	t       *testing.T
	ns      string
	js      jetstream.JetStream
	store   *decision.Store
	index   *decision.Index
	ts      *trustkv.Store
	tw      *trustkv.Watcher
	reviews jetstream.KeyValue
	audit   *auditLog
	quar    *releases
	reg     *prometheus.Registry
	kicker  respond.Kicker         // nil: no kicks
	running atomic.Int32           // responders started and not stopped
	retain  time.Duration          // decision.Options.Retain of the responders' store; 0: the default
	purge   time.Duration          // Options.PurgeInterval; 0: the default
	tune    func(*respond.Options) // changes the responders' options; nil: none

	policyFile string             // Options.PolicyFile of the responders; "": the policy given to start
	check      time.Duration      // Options.PolicyCheck; 0: the default
	reload     chan struct{}      // Options.Reload
	logs       *syncBuf           // when set, the responders log into it
	resp       *respond.Responder // the responder started last
}

func setup(t *testing.T) *harness {
	t.Helper()
	ctx := context.Background()
	ns := testenv.NATS(t)
	js, err := natsbus.NewJetStream(testenv.Connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	store, err := decision.Open(ctx, js, decision.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts, err := trustkv.Open(ctx, js, trustkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reviews, err := authapi.OpenReviews(ctx, js, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := natsbus.EnsureIncidentsStream(ctx, js, 1); err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ns: ns.ClientURL(), js: js, store: store, ts: ts, reviews: reviews, audit: &auditLog{}, quar: &releases{}}
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	h.index = decision.NewIndex(store, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	go h.index.Run(wctx)
	h.tw = trustkv.NewWatcher(ts, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	go h.tw.Run(wctx)
	return h
}

// start runs a responder with a policy document (empty: the recommended one) until the returned stop is called.
func (h *harness) start(policy string) (stop func()) {
	h.t.Helper()
	var p *respond.Policy
	if policy != "" {
		var err error
		if p, err = respond.ParsePolicy(strings.NewReader(policy)); err != nil {
			h.t.Fatal(err)
		}
	}
	h.reg = prometheus.NewRegistry()
	// Each responder has a connection of its own, closed when it stops, as when its process ends.
	nc, err := nats.Connect(h.ns)
	if err != nil {
		h.t.Fatal(err)
	}
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		h.t.Fatal(err)
	}
	store, err := decision.Open(context.Background(), js, decision.Options{Retain: h.retain})
	if err != nil {
		h.t.Fatal(err)
	}
	logger := testLogger(h.t)
	if h.logs != nil {
		logger = slog.New(slog.NewTextHandler(h.logs, nil))
	}
	o := respond.Options{Policy: p, Auditor: h.audit, Quarantine: h.quar, Kicker: h.kicker, PurgeInterval: h.purge,
		TrustPoll: 20 * time.Millisecond, PolicyFile: h.policyFile, PolicyCheck: h.check, Reload: h.reload}
	if h.tune != nil {
		h.tune(&o)
	}
	r, err := respond.New(js, store, nil, h.ts, h.tw, o, logger, h.reg)
	if err != nil {
		h.t.Fatal(err)
	}
	h.resp = r
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	select {
	case <-r.Ready():
	case err := <-done:
		h.t.Fatalf("responder stopped at start: %v", err)
	case <-time.After(20 * time.Second):
		h.t.Fatal("responder not ready after 20s")
	}
	h.running.Add(1)
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				h.t.Errorf("responder Run = %v; want nil after cancel", err)
			}
			nc.Close()
			if h.running.Add(-1) == 0 {
				h.waitGone()
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

// publish stores an incident version in the incidents stream as the detector does; extra message ids simulate
// the same version arriving twice (a redelivered detector batch outside the duplicate window).
func (h *harness) publish(inc incident.Incident, msgID ...string) {
	h.t.Helper()
	data, err := json.Marshal(inc)
	if err != nil {
		h.t.Fatal(err)
	}
	id := natsbus.IncidentMsgID(inc.ID, inc.Version)
	if len(msgID) > 0 {
		id = msgID[0]
	}
	if _, err := h.js.PublishMsg(context.Background(), &nats.Msg{Subject: natsbus.IncidentSubject(string(inc.Rule)), Data: data},
		jetstream.WithMsgID(id)); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) waitDrained() {
	h.t.Helper()
	testenv.WaitDrained(h.t, h.js, natsbus.IncidentsStream, respond.DefaultConsumer)
}

// decisions returns the stored decisions matching keep.
func (h *harness) decisions(keep func(d decision.Decision) bool) []decision.Decision {
	h.t.Helper()
	all, err := h.store.List(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	var out []decision.Decision
	for _, d := range all {
		if keep(d) {
			out = append(out, d)
		}
	}
	return out
}

func (h *harness) review(id, reason, by string) {
	h.t.Helper()
	rev := authapi.Review{IncidentID: id, Status: authapi.StatusResolved, Action: "resolve", Reason: reason, By: by, At: time.Now().UTC()}
	data, _ := json.Marshal(rev)
	if _, err := h.reviews.Put(context.Background(), id, data); err != nil {
		h.t.Fatal(err)
	}
}

var now = time.Now().UTC().Truncate(time.Second)

func userIncident(rule incident.Rule, user string, version uint64, ips ...string) incident.Incident {
	ws := now.Add(-2 * time.Hour)
	return incident.Incident{ID: incident.ID(rule, user, ws), Rule: rule, User: user, Domain: user[strings.IndexByte(user, '@')+1:],
		Status: incident.StatusOpen, WindowStart: ws, FirstSeen: ws, LastSeen: now.Add(-time.Hour), IPs: ips, Version: version}
}

func addrIncident(rule incident.Rule, key string, version uint64, lastSeen time.Time, victims ...string) incident.Incident {
	ws := now.Add(-2 * time.Hour)
	return incident.Incident{ID: incident.ID(rule, "addr:"+key, ws), Rule: rule, Status: incident.StatusOpen, WindowStart: ws,
		FirstSeen: ws, LastSeen: lastSeen, IPs: []string{strings.Split(key, "/")[0]}, Version: version,
		Addr: &incident.Addr{Key: key, Failures: 40, Targets: 30, Victims: victims}}
}

const enforceAll = `{"mode": "enforce", "entries": [
  {"name": "hijacked-sender", "rules": ["multi_country", "send_volume"], "actions": ["hold_mail"], "reason": "mail held"},
  {"name": "brute", "rules": ["brute_force"], "actions": ["block_login"], "duration": "2h"},
  {"name": "spraying-address", "rules": ["password_spray"], "target": "network", "actions": ["tarpit"], "tarpit_delay": "3s",
   "then": {"after": "15m", "actions": ["block_login"]}},
  {"name": "sprayed", "rules": ["password_spray"], "target": "victims", "actions": ["block_login", "kick"]}
]}`

func TestEnforcedDecisionsMatchAndAreIdempotent(t *testing.T) {
	h := setup(t)
	h.start(enforceAll)
	inc := userIncident("brute_force", "bob@example.org", 1, "203.0.113.9")
	h.publish(inc)
	h.publish(inc, "again") // the same version redelivered: nothing new
	inc.Version = 2
	h.publish(inc)
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "bob's login blocked in the index", func() bool {
		_, ok := h.index.Match("bob@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok
	})
	ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "bob@example.org" })
	if len(ds) != 1 {
		t.Fatalf("bob has %d decisions after three deliveries; want 1: %+v", len(ds), ds)
	}
	d := ds[0]
	if d.Observe || d.Action != decision.BlockLogin || d.IncidentID != inc.ID || d.Rule != "brute_force" || d.CreatedBy != decision.System ||
		d.ExpiresAt.Sub(d.CreatedAt) != 2*time.Hour || d.Reason == "" || strings.Join(d.IPs, ",") != "203.0.113.9" {
		t.Errorf("decision = %+v; want an enforced block_login for 2h caused by the incident", d)
	}
	if n := h.audit.count(respond.AuditDecision, d.ID); n != 1 {
		t.Errorf("%d audit records of the decision; want 1", n)
	}
	if n := h.metric("vigil_decisions_enforced_total", "rule=brute_force", "action=block_login"); n != 1 {
		t.Errorf("vigil_decisions_enforced_total{brute_force,block_login} = %v; want 1", n)
	}
}

// metric returns the value of a counter whose labels include every "name=value" given, 0 when absent.
func (h *harness) metric(name string, labels ...string) float64 {
	h.t.Helper()
	return metricIn(h.t, h.reg, name, labels...)
}

// metricIn returns the value of a counter of reg whose labels include every "name=value" given, 0 when absent.
func metricIn(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]bool{}
			for _, l := range m.GetLabel() {
				have[l.GetName()+"="+l.GetValue()] = true
			}
			all := true
			for _, l := range labels {
				all = all && have[l]
			}
			if all {
				if g := m.GetGauge(); g != nil {
					return g.GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestObserveModeStoresWhatWouldBeDoneOnce(t *testing.T) {
	h := setup(t)
	h.start("") // the recommended policy: observe
	inc := addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour), "carol@example.org")
	h.publish(inc)
	h.publish(inc, "redelivered")
	h.waitDrained()
	ds := h.decisions(func(decision.Decision) bool { return true })
	got := map[string]bool{}
	for _, d := range ds {
		if !d.Observe {
			t.Errorf("decision %+v is enforced; the recommended policy only observes", d)
		}
		got[string(d.Kind)+" "+d.Subject+" "+string(d.Action)] = true
	}
	want := []string{"network 198.51.100.0/24 tarpit", "user carol@example.org block_login", "user carol@example.org kick"}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no observed decision %q among %v", w, got)
		}
	}
	if len(ds) != len(want) {
		t.Errorf("%d observed decisions; want %d", len(ds), len(want))
	}
	for _, a := range []string{"tarpit", "block_login", "kick"} {
		if n := h.metric("vigil_decisions_would_total", "rule=password_spray", "action="+a); n != 1 {
			t.Errorf("vigil_decisions_would_total{password_spray,%s} = %v; want 1 (once per incident and action)", a, n)
		}
	}
	if _, ok := h.index.Match("carol@example.org", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.Actions...); ok {
		t.Error("an observed decision matches; it must never be enforced")
	}
	if n := h.metric("vigil_responder_kicks_total", "result=unconfigured"); n != 0 {
		t.Errorf("an observed kick was carried out (%v)", n)
	}
}

func TestEscalationAndVictims(t *testing.T) {
	h := setup(t)
	h.start(enforceAll)
	key := "198.51.100.0/24"
	first := addrIncident("password_spray", key, 1, now.Add(-time.Hour))
	h.publish(first)
	h.waitDrained()
	if _, ok := h.index.Match("", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.Tarpit); !ok {
		testenv.Eventually(t, 5*time.Second, "the spraying /24 tarpitted", func() bool {
			d, ok := h.index.Match("", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.Tarpit)
			return ok && d.Delay == 3
		})
	}
	if _, ok := h.index.Match("", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.BlockLogin); ok {
		t.Fatal("the address is blocked at once; the policy tarpits first")
	}
	later := addrIncident("password_spray", key, 2, now.Add(-30*time.Minute), "dave@example.org")
	h.publish(later) // 30 minutes on, the address still failing, and one account got in
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "the /24 blocked and dave blocked after the escalation", func() bool {
		_, net := h.index.Match("", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.BlockLogin)
		_, user := h.index.Match("dave@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return net && user
	})
}

func TestCombinationNeedsBothRules(t *testing.T) {
	h := setup(t)
	stop := h.start(enforceAll)
	mc := userIncident(incident.MultiCountry, "erin@example.org", 1, "81.2.69.142", "8.8.8.8")
	h.publish(mc)
	h.waitDrained()
	if ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "erin@example.org" }); len(ds) != 0 {
		t.Fatalf("multi_country alone made %+v; the entry needs send_volume too", ds)
	}
	stop() // the second incident arrives after a restart: the responder rebuilds what it saw
	h.start(enforceAll)
	sv := userIncident(incident.SendVolume, "erin@example.org", 1, "81.2.69.142")
	h.publish(sv)
	h.waitDrained()
	ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "erin@example.org" })
	if len(ds) != 1 || ds[0].Action != decision.HoldMail || ds[0].Rule != "multi_country+send_volume" || ds[0].Reason != "mail held" {
		t.Fatalf("erin's decisions = %+v; want one hold_mail for the combination", ds)
	}
	if !ds[0].CausedBy(mc.ID) || !ds[0].CausedBy(sv.ID) {
		t.Errorf("decision %+v is not caused by both incidents", ds[0])
	}
	mc.Version = 2 // a later version of the other incident completes the same combination: no second decision
	h.publish(mc)
	h.waitDrained()
	if ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "erin@example.org" }); len(ds) != 1 {
		t.Errorf("erin has %d decisions after another version; want 1", len(ds))
	}
	// Resolving either incident as a false positive lifts it and releases the held mail.
	h.review(mc.ID, "false_positive", "root@admin")
	testenv.Eventually(t, 5*time.Second, "the combination decision lifted by the review", func() bool {
		ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "erin@example.org" })
		return len(ds) == 1 && ds[0].Lifted() && ds[0].LiftedBy == "root@admin" && strings.Contains(ds[0].LiftReason, "false_positive")
	})
	// The held mail is recorded under the hold decision's own incident (Postfix's HOLD names it), here sv's: that is
	// what is released, whichever of the two was reviewed.
	testenv.Eventually(t, 5*time.Second, "the held mail released", func() bool {
		return strings.Join(h.quar.list(), ";") == ds[0].IncidentID+" by root@admin"
	})
	if n := h.audit.count(respond.AuditLift, ""); n != 1 {
		t.Errorf("%d lift audit records; want 1", n)
	}
}

func TestReviewsLiftEvenWhenMadeWhileDown(t *testing.T) {
	h := setup(t)
	stop := h.start(enforceAll)
	a := userIncident("brute_force", "frank@example.org", 1)
	b := userIncident("brute_force", "grace@example.org", 1)
	c := userIncident("brute_force", "heidi@example.org", 1)
	h.publish(a)
	h.publish(b)
	h.publish(c)
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "three blocks in the index", func() bool { return h.index.Active(time.Now()) == 3 })
	stop()
	h.review(a.ID, "user_travelling", "root@admin")     // lifts
	h.review(b.ID, "compromised_account", "root@admin") // keeps
	h.start(enforceAll)
	testenv.Eventually(t, 5*time.Second, "frank's block lifted after the restart", func() bool {
		_, ok := h.index.Match("frank@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return !ok
	})
	h.review(c.ID, "mobile_connection", "sub@admin")
	testenv.Eventually(t, 5*time.Second, "heidi's block lifted", func() bool {
		_, ok := h.index.Match("heidi@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return !ok
	})
	if _, ok := h.index.Match("grace@example.org", netip.Addr{}, time.Now(), decision.BlockLogin); !ok {
		t.Error("grace's block was lifted; a compromised account keeps its decisions")
	}
	// A new version of a resolved incident decides nothing.
	a.Version = 2
	h.publish(a)
	h.waitDrained()
	if ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "frank@example.org" && !d.Lifted() }); len(ds) != 0 {
		t.Errorf("a resolved incident's new version made %+v", ds)
	}
	if len(h.quar.list()) != 0 {
		t.Errorf("quarantine released %v; no mail was held", h.quar.list())
	}
}

func TestTrustedRangeLiftsWhatItCovers(t *testing.T) {
	h := setup(t)
	h.start(enforceAll)
	ctx := context.Background()
	net := addrIncident("password_spray", "198.51.100.0/24", 1, now.Add(-time.Hour))
	home := userIncident("brute_force", "ivan@example.org", 1, "203.0.113.5", "203.0.113.6")
	mixed := userIncident("brute_force", "judy@example.org", 1, "203.0.113.5", "8.8.8.8")
	h.publish(net)
	h.publish(home)
	h.publish(mixed)
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "three decisions in force", func() bool { return h.index.Active(time.Now()) == 3 })
	if _, err := h.ts.Add(ctx, netset.Entry{Scope: netset.ScopeGlobal, Prefix: netip.MustParsePrefix("198.51.100.0/23"), Description: "partner", CreatedBy: "root@admin"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ts.Add(ctx, netset.Entry{Scope: netset.ScopeDomain, Subject: "example.org", Prefix: netip.MustParsePrefix("203.0.113.0/24"), Description: "office"}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, "the network and ivan's decision lifted", func() bool {
		_, n := h.index.Match("", netip.MustParseAddr("198.51.100.7"), time.Now(), decision.Tarpit)
		_, u := h.index.Match("ivan@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return !n && !u
	})
	if _, ok := h.index.Match("judy@example.org", netip.Addr{}, time.Now(), decision.BlockLogin); !ok {
		t.Error("judy's block was lifted; one of its addresses is not trusted")
	}
	ds := h.decisions(func(d decision.Decision) bool { return d.Kind == decision.Network })
	if len(ds) != 1 || ds[0].LiftedBy != "root@admin" || !strings.Contains(ds[0].LiftReason, "198.51.100.0/23") {
		t.Errorf("network decision = %+v; want lifted by the range's creator naming the range", ds)
	}
	// A new incident inside a trusted range makes no decision at all.
	h.publish(addrIncident("password_spray", "198.51.101.0/24", 1, now.Add(-time.Hour)))
	h.waitDrained()
	if ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "198.51.101.0/24" }); len(ds) != 0 {
		t.Errorf("an incident inside a trusted range made %+v", ds)
	}
}

// testLogger logs through t at debug level when VIGIL_TEST_LOG is set, and discards otherwise.
func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitGone waits until the server dropped the stopped responder's pull requests, as it does once a process is gone;
// until then a message could still be handed to the closed connection and wait for its ack timeout.
func (h *harness) waitGone() {
	h.t.Helper()
	ctx := context.Background()
	for _, c := range [][2]string{{natsbus.IncidentsStream, respond.DefaultConsumer}, {"KV_" + authapi.ReviewsBucket, respond.DefaultReviewConsumer}} {
		testenv.Eventually(h.t, 10*time.Second, c[1]+" has no pull request waiting", func() bool {
			cons, err := h.js.Consumer(ctx, c[0], c[1])
			if err != nil {
				return true
			}
			info, err := cons.Info(ctx)
			return err == nil && info.NumWaiting == 0
		})
	}
}

// TestTwoRespondersMatchCombinations runs two responders on the one durable consumer: each receives part of the
// incidents, yet every account with both incidents gets exactly one decision.
func TestTwoRespondersMatchCombinations(t *testing.T) {
	h := setup(t)
	h.start(enforceAll)
	h.start(enforceAll)
	const users = 20
	for i := range users {
		h.publish(userIncident(incident.MultiCountry, fmt.Sprintf("u%02d@example.org", i), 1, "81.2.69.142", "8.8.8.8"))
	}
	for i := range users {
		h.publish(userIncident(incident.SendVolume, fmt.Sprintf("u%02d@example.org", i), 1, "81.2.69.142"))
	}
	h.waitDrained()
	testenv.Eventually(t, 10*time.Second, "one hold_mail per account", func() bool {
		ds := h.decisions(func(d decision.Decision) bool { return d.Action == decision.HoldMail })
		return len(ds) == users
	})
	per := map[string]int{}
	for _, d := range h.decisions(func(decision.Decision) bool { return true }) {
		per[d.Subject]++
	}
	for u, n := range per {
		if n != 1 {
			t.Errorf("%s has %d decisions; want 1", u, n)
		}
	}
}

// TestTrustedRangeAddedWhileDown: a range marked safe while the responder was stopped lifts what it covers when it
// starts again.
func TestTrustedRangeAddedWhileDown(t *testing.T) {
	h := setup(t)
	stop := h.start(enforceAll)
	h.publish(userIncident("brute_force", "kim@example.org", 1, "192.0.2.10"))
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "kim blocked", func() bool {
		_, ok := h.index.Match("kim@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok
	})
	stop()
	if _, err := h.ts.Add(context.Background(), netset.Entry{Scope: netset.ScopeUser, Subject: "kim@example.org",
		Prefix: netip.MustParsePrefix("192.0.2.0/24"), Description: "kim's home"}); err != nil {
		t.Fatal(err)
	}
	h.start(enforceAll)
	testenv.Eventually(t, 5*time.Second, "kim's block lifted after the restart", func() bool {
		_, ok := h.index.Match("kim@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return !ok
	})
	if n := h.audit.count(respond.AuditLift, ""); n != 1 {
		t.Errorf("%d lift audit records; want 1", n)
	}
}

func TestJanitorPurgesExpiredDecisions(t *testing.T) {
	h := setup(t)
	h.retain, h.purge = time.Millisecond, 100*time.Millisecond
	h.start(enforceAll)
	ctx := context.Background()
	d, _, err := h.store.Put(ctx, decision.Decision{Kind: decision.User, Subject: "old@example.org", Action: decision.BlockLogin,
		Reason: "test", CreatedBy: "root@admin", ExpiresAt: time.Now().Add(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	keep, _, err := h.store.Put(ctx, decision.Decision{Kind: decision.User, Subject: "new@example.org", Action: decision.BlockLogin,
		Reason: "test", CreatedBy: "root@admin"})
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, "the expired decision purged", func() bool {
		_, err := h.store.Get(ctx, d.ID)
		return errors.Is(err, decision.ErrNotFound)
	})
	if _, err := h.store.Get(ctx, keep.ID); err != nil {
		t.Errorf("the decision in force: %v; want it kept", err)
	}
	if n := h.metric("vigil_responder_purged_total"); n < 1 {
		t.Errorf("vigil_responder_purged_total = %v; want at least 1", n)
	}
}

func TestDomainEnforcesWhileOthersObserve(t *testing.T) {
	h := setup(t)
	h.start(`{"entries": [{"name": "brute", "rules": ["brute_force"], "actions": ["block_login"]}],
	  "domains": {"strict.example": {"mode": "enforce"}}}`)
	h.publish(userIncident("brute_force", "ann@strict.example", 1))
	h.publish(userIncident("brute_force", "ben@other.example", 1))
	h.waitDrained()
	got := map[string]bool{}
	for _, d := range h.decisions(func(decision.Decision) bool { return true }) {
		got[d.Subject] = d.Observe
	}
	if observe, ok := got["ann@strict.example"]; !ok || observe {
		t.Errorf("ann@strict.example: decision stored %v, observe %v; want an enforced one", ok, observe)
	}
	if observe, ok := got["ben@other.example"]; !ok || !observe {
		t.Errorf("ben@other.example: decision stored %v, observe %v; want an observed one", ok, observe)
	}
	if n := h.metric("vigil_decisions_would_total", "rule=brute_force", "action=block_login"); n != 1 {
		t.Errorf("would_total = %v; want 1 (ben only)", n)
	}
	if n := h.audit.count(respond.AuditObserve, ""); n != 1 {
		t.Errorf("%d observe audit records; want 1", n)
	}
}
