package authapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/quarantine"
)

// TestHeldMailRoutes: the held mail of an incident is listed to those who may see the incident; release and delete
// need canAct, stay within a domain-limited admin's domains, refuse bad hosts and queue ids before anything
// happens, send one command to the mail host, are audited, and follow the host's result.
func TestHeldMailRoutes(t *testing.T) {
	var mgr *quarantine.Manager
	c := newConsoleWith(t, func(h *harness, ch *chstore.Store) {
		mgr = quarantine.NewManager(h.js, ch, quarantine.ManagerOptions{Now: h.clock.Now}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		h.opts.Console.Quarantine = mgr
	})
	ctx := context.Background()
	held := c.clock.Now().Add(-30 * time.Minute).UTC().Truncate(time.Second)
	rows := []chstore.HeldRow{
		{Host: "mx1", QueueID: "E3F44D031A", IncidentID: c.incA.ID, User: "alice@example.org", Domain: "example.org", Sender: "alice@example.org",
			Recipients: 3, Size: 1200, HeldAt: held, Status: chstore.HeldStatus, ChangedAt: held, Version: uint64(held.UnixNano())},
		{Host: "mx1", QueueID: "3Pt2mN2VXxznjll", IncidentID: c.incC.ID, User: "carol@other.net", Domain: "other.net", Sender: "carol@other.net",
			Recipients: 1, Size: 500, HeldAt: held, Status: chstore.HeldStatus, ChangedAt: held, Version: uint64(held.UnixNano())},
	}
	if err := c.ch.WriteHeld(ctx, rows); err != nil {
		t.Fatal(err)
	}

	r := c.do("GET", "/v1/incidents/"+c.incA.ID+"/held", myIP, c.viewer, nil)
	list, _ := r.body["held"].([]any)
	if r.code != 200 || len(list) != 1 || list[0].(map[string]any)["queue_id"] != "E3F44D031A" || list[0].(map[string]any)["status"] != "held" {
		t.Fatalf("GET held of incident A as viewer = %d %s; want its one held message", r.code, r.raw)
	}
	for _, tt := range []struct {
		name, method, path, token string
		code                      int
		errCode                   string
	}{
		{"sub-admin lists another domain's incident", "GET", "/v1/incidents/" + c.incC.ID + "/held", c.sub, 404, "not_found"},
		{"viewer releases", "POST", "/v1/held/mx1/E3F44D031A/release", c.viewer, 403, "forbidden"},
		{"sub-admin releases another domain's mail", "POST", "/v1/held/mx1/3Pt2mN2VXxznjll/release", c.sub, 404, "not_found"},
		{"bad queue id", "POST", "/v1/held/mx1/ALL/delete", c.root, 400, "bad_parameter"},
		{"lower-case hex", "POST", "/v1/held/mx1/e3f44d031a/delete", c.root, 400, "bad_parameter"},
		{"bad host", "POST", "/v1/held/mx_%2A/E3F44D031A/delete", c.root, 400, "bad_parameter"},
		{"unknown message", "POST", "/v1/held/mx1/ABCDEF123/release", c.root, 404, "not_found"},
		{"unknown parameter", "POST", "/v1/held/mx1/E3F44D031A/release?force=1", c.root, 400, "bad_parameter"},
	} {
		if r := c.do(tt.method, tt.path, myIP, tt.token, nil); r.code != tt.code || r.errCode() != tt.errCode {
			t.Errorf("%s: %s %s = %d %s; want %d %s", tt.name, tt.method, tt.path, r.code, r.raw, tt.code, tt.errCode)
		}
	}
	if info, err := c.js.Stream(ctx, quarantine.CommandStream); err == nil && info.CachedInfo().State.Msgs != 0 {
		t.Fatalf("refused requests sent %d commands; want none", info.CachedInfo().State.Msgs)
	}

	r = c.do("POST", "/v1/held/mx1/E3F44D031A/release", myIP, c.sub, nil)
	if r.code != 202 || r.body["status"] != "release_requested" || r.body["actor"] != c.subUser {
		t.Fatalf("release by the domain's sub-admin = %d %s; want 202 release_requested", r.code, r.raw)
	}
	s, err := c.js.Stream(ctx, quarantine.CommandStream)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := s.GetLastMsgForSubject(ctx, quarantine.CommandSubject("mx1"))
	if err != nil {
		t.Fatalf("no command for mx1: %v", err)
	}
	cmd, err := quarantine.DecodeCommand(msg.Data)
	if err != nil || cmd.Action != quarantine.ActionRelease || cmd.QueueID != "E3F44D031A" || cmd.By != c.subUser {
		t.Fatalf("command = %+v, %v; want release of E3F44D031A by %s", cmd, err, c.subUser)
	}
	if !slices.Contains(c.audit.actions(), "held_release") {
		t.Errorf("audit actions %v lack held_release", c.audit.actions())
	}

	// The host reports back; the manager (run by RunConsole) stores the outcome.
	res, _ := json.Marshal(quarantine.Result{CommandID: cmd.ID, Action: cmd.Action, Host: cmd.Host, QueueID: cmd.QueueID, By: cmd.By, Requested: cmd.At,
		Outcome: quarantine.OutcomeReleased, Queue: "active", At: cmd.At.Add(time.Second)})
	if _, err := c.js.Publish(ctx, quarantine.ResultSubject("mx1"), res); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		r = c.do("GET", "/v1/incidents/"+c.incA.ID+"/held", myIP, c.root, nil)
		if list, _ := r.body["held"].([]any); len(list) == 1 && list[0].(map[string]any)["status"] == "released" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("held of incident A = %s; want released after the host's result", r.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := c.do("POST", "/v1/held/mx1/E3F44D031A/delete", myIP, c.root, nil); r.code != 409 || r.errCode() != "already_done" {
		t.Errorf("delete of a released message = %d %s; want 409 already_done", r.code, r.raw)
	}

	// ReleaseIncident (the responder, on a false positive) releases what is still held.
	if err := c.s.ReleaseIncident(ctx, c.incC.ID, "responder"); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := c.ch.HeldMessage(ctx, "mx1", "3Pt2mN2VXxznjll"); got.Status != chstore.HeldReleaseRequested || got.Actor != "responder" {
		t.Errorf("after ReleaseIncident: %+v; want release_requested by responder", got)
	}
}
