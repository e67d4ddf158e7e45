package console_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/console"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/password"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestHeldMailSection: the incident page lists its held mail with Release and Delete forms carrying the CSRF
// token; Release sends the command to the mail host and the page then shows release_requested; a released
// message offers no buttons.
func TestHeldMailSection(t *testing.T) {
	ctx := context.Background()
	js, err := jetstream.New(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	addr, db := testenv.ClickHouseDB(t)
	ch, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ch.Close() })
	if err := ch.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	mgr := quarantine.NewManager(js, ch, quarantine.ManagerOptions{}, logger, prometheus.NewRegistry())
	api, err := authapi.New(ctx, js, bytes.Repeat([]byte{9}, 32), authapi.Options{Password: password.Params{MemoryKiB: 64, Time: 1, Threads: 1},
		Require2FA: []string{}, Console: authapi.Console{History: ch, Quarantine: mgr}}, nil, logger, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := api.CreateAccount(ctx, "root", adminPW, authapi.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	con, err := console.New(api.Handler(), logger)
	if err != nil {
		t.Fatal(err)
	}
	s := &served{t: t, api: api, h: api.WithConsole(nil, con)}

	now := time.Now().UTC().Truncate(time.Second)
	inc := incident.Incident{ID: incident.ID(incident.SendVolume, "bob@example.org", now.Add(-time.Hour)), Rule: incident.SendVolume, User: "bob@example.org",
		Domain: "example.org", Status: incident.StatusOpen, WindowStart: now.Add(-time.Hour), FirstSeen: now.Add(-time.Hour), LastSeen: now, Version: 1}
	if err := ch.Write(ctx, nil, nil, []incident.Incident{inc}); err != nil {
		t.Fatal(err)
	}
	held := func(qid, status string) chstore.HeldRow {
		return chstore.HeldRow{Host: "mx1.example.net", QueueID: qid, IncidentID: inc.ID, User: "bob@example.org", Domain: "example.org",
			Sender: "bob@example.org", Recipients: 40, Size: 2048, HeldAt: now, Status: status, ChangedAt: now, Version: uint64(now.UnixNano())}
	}
	if err := ch.WriteHeld(ctx, []chstore.HeldRow{held("E3F44D031A", chstore.HeldStatus), held("4BC1F2A3D", chstore.HeldReleased)}); err != nil {
		t.Fatal(err)
	}

	cookies := s.signIn("127.0.0.1")
	page := readBody(s.do("GET", "/console/incidents/"+inc.ID, "127.0.0.1", cookies, nil))
	for _, want := range []string{"<h2>Held mail</h2>", `<table id="held">`, "E3F44D031A", "mx1.example.net", `id="release-E3F44D031A"`, `id="delete-E3F44D031A"`,
		`action="/console/held/mx1.example.net/E3F44D031A/release"`} {
		if !strings.Contains(page, want) {
			t.Errorf("incident page lacks %q", want)
		}
	}
	if strings.Contains(page, `id="release-4BC1F2A3D"`) {
		t.Error("a released message still offers Release")
	}
	tok := csrfInput.FindStringSubmatch(page)[1]
	if r := s.do("POST", "/console/held/mx1.example.net/E3F44D031A/release", "127.0.0.1", cookies, url.Values{"incident": {inc.ID}}); r.StatusCode != http.StatusForbidden {
		t.Errorf("Release without the CSRF token = %d; want 403", r.StatusCode)
	}
	r := s.do("POST", "/console/held/mx1.example.net/E3F44D031A/release", "127.0.0.1", cookies, url.Values{"csrf": {tok}, "incident": {inc.ID}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/console/incidents/"+inc.ID+"?done=held_release" {
		t.Fatalf("Release = %d to %q; want 303 to the incident", r.StatusCode, r.Header.Get("Location"))
	}
	page = readBody(s.do("GET", r.Header.Get("Location"), "127.0.0.1", cookies, nil))
	if !strings.Contains(page, "release_requested") || !strings.Contains(page, "The release is sent to the mail host") {
		t.Errorf("after Release the page does not show release_requested and the notice")
	}
	stream, err := js.Stream(ctx, quarantine.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	if msg, err := stream.GetLastMsgForSubject(ctx, quarantine.CommandSubject("mx1.example.net")); err != nil || !strings.Contains(string(msg.Data), `"E3F44D031A"`) {
		t.Errorf("command for mx1.example.net: %v; want the release of E3F44D031A", err)
	}
	r = s.do("POST", "/console/held/mx1.example.net/4BC1F2A3D/delete", "127.0.0.1", cookies, url.Values{"csrf": {tok}, "incident": {inc.ID}})
	if body := readBody(r); r.StatusCode != http.StatusConflict || !strings.Contains(body, "The delete was not sent: the message is already released") {
		t.Errorf("Delete of a released message = %d; want 409 with the API's reason on the incident page", r.StatusCode)
	}
}
