package authapi

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// console is a harness with the console attached: a real ClickHouse database, the trusted-network store, the
// review mirror running, and sessions for an admin, a sub-admin limited to example.org and a viewer.
type console struct {
	*harness
	ch                *chstore.Store
	trust             *trustkv.Store
	root, sub, viewer string // full sessions
	subUser, viewUser string
	incA, incB, incC  incident.Incident
	aliceLogins       []event.Enriched
}

func newConsole(t *testing.T) *console { t.Helper(); return newConsoleWith(t, nil) }

// newConsoleWith is newConsole with a hook that completes the console's options before the server starts.
func newConsoleWith(t *testing.T, hook func(h *harness, ch *chstore.Store)) *console {
	t.Helper()
	h := newHarness(t)
	addr, db := testenv.ClickHouseDB(t)
	ch, err := chstore.Open(context.Background(), chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts, err := trustkv.Open(context.Background(), h.js, trustkv.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h.opts.Console = Console{History: ch, Trust: ts}
	if hook != nil {
		hook(h, ch)
	}
	h.s = h.start(testKey)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.s.RunConsole(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	c := &console{harness: h, ch: ch, trust: ts, subUser: "ann", viewUser: "vic"}
	_, c.root, _ = h.enroll2FA(h.session(admin, pw))
	if r := h.do("POST", "/v1/accounts", myIP, c.root, map[string]any{"username": c.subUser, "password": pw, "role": RoleSubAdmin, "domains": []string{"Example.org"}}); r.code != 201 {
		t.Fatalf("create sub-admin: %d %s", r.code, r.raw)
	}
	if r := h.do("POST", "/v1/accounts", myIP, c.root, map[string]any{"username": c.viewUser, "password": pw, "role": RoleViewer}); r.code != 201 {
		t.Fatalf("create viewer: %d %s", r.code, r.raw)
	}
	_, c.sub, _ = h.enroll2FA(h.session(c.subUser, pw))
	c.viewer = h.session(c.viewUser, pw)

	now := h.clock.Now()
	mk := func(rule incident.Rule, user, domain string, last time.Time) incident.Incident {
		ws := last.Add(-2 * time.Hour)
		return incident.Incident{ID: incident.ID(rule, user, ws), Rule: rule, User: user, Domain: domain, Status: incident.StatusOpen,
			WindowStart: ws, FirstSeen: ws, LastSeen: last, Countries: []string{"DE", "FR"}, IPs: []string{"192.0.2.1", "198.51.100.7"},
			Detail: []incident.Country{{Country: "DE", IPs: []string{"192.0.2.1"}, FirstSeen: ws, LastSeen: ws, Logins: 1},
				{Country: "FR", IPs: []string{"198.51.100.7"}, FirstSeen: last, LastSeen: last, Logins: 2}},
			Logins: 3, Messages24h: 40, Recipients24h: 120, Version: 1}
	}
	c.incA = mk(incident.MultiCountry, "alice@example.org", "example.org", now.Add(-3*time.Hour))
	c.incB = mk(incident.SendVolume, "bob@example.org", "example.org", now.Add(-2*time.Hour))
	c.incC = mk(incident.MultiCountry, "carol@other.net", "other.net", now.Add(-time.Hour))
	for i := range 3 {
		c.aliceLogins = append(c.aliceLogins, event.Enriched{Event: event.Event{ID: "l" + string(rune('0'+i)), Kind: event.KindLogin,
			Time: now.Add(-time.Duration(3-i) * time.Hour), User: "alice@example.org", Domain: "example.org",
			IP: netip.MustParseAddr("198.51.100.7"), Service: "imap", Success: true, Source: "mx1.example.net"}, Country: "FR"})
	}
	carol := event.Enriched{Event: event.Event{ID: "c0", Kind: event.KindLogin, Time: now.Add(-time.Hour), User: "carol@other.net", Domain: "other.net",
		IP: netip.MustParseAddr("192.0.2.9"), Service: "pop3", Success: true, Source: "mx2"}, Country: "DE"}
	if err := ch.Write(context.Background(), append(c.aliceLogins, carol), nil, []incident.Incident{c.incA, c.incB, c.incC}); err != nil {
		t.Fatal(err)
	}
	return c
}

// incidentIDs returns the ids of a list response.
func incidentIDs(r resp) []string {
	out := []string{}
	list, _ := r.body["incidents"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any)["incident_id"].(string))
	}
	return out
}
