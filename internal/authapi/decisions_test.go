package authapi

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/httpapi"
)

// decisionSubjects returns the subjects of a list response, in order.
func decisionSubjects(t *testing.T, r resp) []string {
	t.Helper()
	if r.code != 200 {
		t.Fatalf("list: %d %s", r.code, r.raw)
	}
	out := []string{}
	list, _ := r.body["decisions"].([]any)
	for _, x := range list {
		out = append(out, x.(map[string]any)["subject"].(string))
	}
	return out
}

func sameList(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") }

// auditOf returns the last audit record of action.
func (c *console) auditOf(action string) *AuditRecord {
	c.audit.mu.Lock()
	defer c.audit.mu.Unlock()
	for i := len(c.audit.records) - 1; i >= 0; i-- {
		if c.audit.records[i].Action == action {
			r := c.audit.records[i]
			return &r
		}
	}
	return nil
}

// Admins add decisions over POST /v1/decisions with precise 400s for every bad field; sub-admins decide on their
// domains' users only; every addition is audited with the stored record.
func TestDecisionAdd(t *testing.T) {
	c := newConsole(t)
	r := c.do("POST", "/v1/decisions", myIP, c.root, map[string]any{"kind": "user", "subject": "Alice@Example.org", "action": "hold_mail",
		"reason": "sends spam", "expires_in": "4h"})
	if r.code != 201 || r.body["subject"] != "alice@example.org" || r.body["domain"] != "example.org" || r.body["created_by"] != admin ||
		r.body["state"] != "active" || r.body["expires_at"] != c.clock.Now().Add(4*time.Hour).UTC().Format(time.RFC3339) {
		t.Fatalf("add: %d %s", r.code, r.raw)
	}
	id := r.body["id"].(string)
	a := c.auditOf("decision_add")
	if a == nil || a.Actor != admin || a.Target != id || !strings.Contains(a.After, `"action":"hold_mail"`) || a.ClientIP != myIP {
		t.Errorf("audit of the addition = %+v", a)
	}
	stored, err := c.decisions.Get(context.Background(), id)
	if err != nil || !stored.Active(c.clock.Now()) || stored.Reason != "sends spam" {
		t.Errorf("stored = %+v, %v; want the active decision", stored, err)
	}
	// Two alike in the same second are two records.
	r2 := c.do("POST", "/v1/decisions", myIP, c.root, map[string]any{"kind": "user", "subject": "alice@example.org", "action": "hold_mail", "reason": "sends spam"})
	if r2.code != 201 || r2.body["id"] == id {
		t.Errorf("a second alike decision: %d %s; want 201 with a new id", r2.code, r2.raw)
	}

	for _, tt := range []struct {
		name  string
		token string
		body  any
		code  int
		field string // the error names it
	}{
		{"kind", c.root, map[string]any{"kind": "host", "subject": "a@example.org", "action": "kick", "reason": "x"}, 400, "kind:"},
		{"no subject", c.root, map[string]any{"kind": "user", "subject": "", "action": "kick", "reason": "x"}, 400, "subject:"},
		{"user action on a network", c.root, map[string]any{"kind": "network", "subject": "192.0.2.1", "action": "hold_mail", "reason": "x"}, 400, "action:"},
		{"tarpit on a user", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "tarpit", "delay_seconds": 3, "reason": "x"}, 400, "action:"},
		{"tarpit without delay", c.root, map[string]any{"kind": "network", "subject": "192.0.2.1", "action": "tarpit", "reason": "x"}, 400, "delay_seconds:"},
		{"delay without tarpit", c.root, map[string]any{"kind": "network", "subject": "192.0.2.1", "action": "block_login", "delay_seconds": 2, "reason": "x"}, 400, "delay_seconds:"},
		{"too wide", c.root, map[string]any{"kind": "network", "subject": "10.0.0.0/8", "action": "block_login", "reason": "x"}, 400, "subject:"},
		{"not an address", c.root, map[string]any{"kind": "network", "subject": "example.org", "action": "block_login", "reason": "x"}, 400, "subject:"},
		{"no reason", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": " "}, 400, "reason:"},
		{"reason with a line break", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x\naction=OK"}, 400, "reason:"},
		{"long reason", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": strings.Repeat("x", 201)}, 400, "reason:"},
		{"bad duration", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x", "expires_in": "tomorrow"}, 400, "expires_in:"},
		{"too long", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x", "expires_in": "800h"}, 400, "expires_in:"},
		{"past", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x", "expires_at": "2026-11-24T11:00:00Z"}, 400, "expires_at:"},
		{"far", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x", "expires_at": "2027-11-24T11:00:00Z"}, 400, "expires_at:"},
		{"both expiries", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x", "expires_in": "1h", "expires_at": "2026-11-25T11:00:00Z"}, 400, "expires_in:"},
		{"unknown field", c.root, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x", "created_by": "someone"}, 400, ""},
		{"not JSON", c.root, "kind=user", 400, ""},
		{"viewer", c.viewer, map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x"}, 403, ""},
		{"another domain's user", c.sub, map[string]any{"kind": "user", "subject": "carol@other.net", "action": "kick", "reason": "x"}, 403, ""},
		{"a user without a domain", c.sub, map[string]any{"kind": "user", "subject": "carol", "action": "kick", "reason": "x"}, 403, ""},
		{"a network, as sub-admin", c.sub, map[string]any{"kind": "network", "subject": "192.0.2.1", "action": "block_login", "reason": "x"}, 403, ""},
		{"own domain's user, as sub-admin", c.sub, map[string]any{"kind": "user", "subject": "bob@example.org", "action": "defer_mail", "reason": "x", "expires_at": "2026-11-25T12:00:00Z"}, 201, ""},
		{"a tarpit, as admin", c.root, map[string]any{"kind": "network", "subject": "198.51.100.7/24", "action": "tarpit", "delay_seconds": 3, "reason": "spraying"}, 201, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("POST", "/v1/decisions", myIP, tt.token, tt.body)
			e, _ := r.body["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if r.code != tt.code || (tt.field != "" && !strings.HasPrefix(msg, tt.field)) {
				t.Errorf("%d %s; want %d naming %q", r.code, r.raw, tt.code, tt.field)
			}
			if tt.code == 201 && (r.body["created_by"] == nil || r.body["state"] != "active") {
				t.Errorf("created: %s", r.raw)
			}
		})
	}
	// API keys need scope decisions to add.
	mkKey := func(scopes ...string) string {
		r := c.do("POST", "/v1/apikeys", myIP, c.root, map[string]any{"name": "k", "scopes": scopes})
		if r.code != 201 {
			t.Fatalf("create key: %d %s", r.code, r.raw)
		}
		return r.body["key"].(string)
	}
	body := map[string]any{"kind": "user", "subject": "dave@example.org", "action": "block_login", "reason": "stolen password"}
	if r := c.do("POST", "/v1/decisions", myIP, mkKey("read"), body); r.code != 403 {
		t.Errorf("a read key adds: %d %s; want 403", r.code, r.raw)
	}
	if r := c.do("POST", "/v1/decisions", myIP, mkKey("read", ScopeDecisions), body); r.code != 201 {
		t.Errorf("a decisions key adds: %d %s; want 201", r.code, r.raw)
	}
	if r := c.do("POST", "/v1/apikeys", myIP, c.sub, map[string]any{"name": "k", "scopes": []string{ScopeDecisions}}); r.code != 201 {
		t.Errorf("a sub-admin's decisions key: %d %s; want 201", r.code, r.raw)
	}
}

// GET /v1/decisions filters by state (active by default), kind, subject, incident and action, pages, and shows a
// domain-limited sub-admin its domains' users only; observe-mode decisions are listed as observed, never active.
func TestDecisionList(t *testing.T) {
	c := newConsole(t)
	ctx := context.Background()
	add := func(tok string, body map[string]any) string {
		t.Helper()
		r := c.do("POST", "/v1/decisions", myIP, tok, body)
		if r.code != 201 {
			t.Fatalf("add %v: %d %s", body, r.code, r.raw)
		}
		c.clock.Advance(time.Second) // newest first is by creation time
		return r.body["id"].(string)
	}
	add(c.root, map[string]any{"kind": "user", "subject": "alice@example.org", "action": "hold_mail", "reason": "spam"})
	add(c.root, map[string]any{"kind": "user", "subject": "carol@other.net", "action": "block_login", "reason": "stolen", "expires_in": "30m"})
	netID := add(c.root, map[string]any{"kind": "network", "subject": "198.51.100.0/24", "action": "block_login", "reason": "spraying"})
	observed, _, err := c.decisions.Put(ctx, decision.Decision{Kind: decision.User, Subject: "bob@example.org", Action: decision.HoldMail, Observe: true,
		IncidentID: c.incB.ID, Rule: string(c.incB.Rule), Reason: "send_volume", CreatedBy: decision.System, CreatedAt: c.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(time.Second)
	list := func(tok, query string) []string {
		t.Helper()
		return decisionSubjects(t, c.do("GET", "/v1/decisions"+query, myIP, tok, nil))
	}
	for _, tt := range []struct {
		name, token, query string
		want               []string
	}{
		{"active by default", c.root, "", []string{"198.51.100.0/24", "carol@other.net", "alice@example.org"}},
		{"observed", c.root, "?state=observed", []string{"bob@example.org"}},
		{"all", c.root, "?state=all", []string{"bob@example.org", "198.51.100.0/24", "carol@other.net", "alice@example.org"}},
		{"kind", c.root, "?kind=network", []string{"198.51.100.0/24"}},
		{"action", c.root, "?action=block_login", []string{"198.51.100.0/24", "carol@other.net"}},
		{"an address in the network", c.root, "?subject=198.51.100.200", []string{"198.51.100.0/24"}},
		{"user in any case", c.root, "?subject=ALICE@example.org", []string{"alice@example.org"}},
		{"incident, every state", c.root, "?state=all&incident=" + c.incB.ID, []string{"bob@example.org"}},
		{"page", c.root, "?limit=1&offset=1", []string{"carol@other.net"}},
		{"sub-admin: its domains' users, no networks", c.sub, "?state=all", []string{"bob@example.org", "alice@example.org"}},
		{"viewer reads", c.viewer, "?kind=user", []string{"carol@other.net", "alice@example.org"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := list(tt.token, tt.query); !sameList(got, tt.want) {
				t.Errorf("%q", got)
			}
		})
	}
	r := c.do("GET", "/v1/decisions?state=observed", myIP, c.root, nil)
	if d := r.body["decisions"].([]any)[0].(map[string]any); d["observe"] != true || d["state"] != "observed" || d["incident_id"] != c.incB.ID {
		t.Errorf("the observe-mode decision: %v", d)
	}
	if r.body["total"] != 1.0 {
		t.Errorf("total = %v; want 1", r.body["total"])
	}
	// Expired ones leave the default list.
	c.clock.Advance(31 * time.Minute)
	if got := list(c.root, "?state=expired"); !sameList(got, []string{"carol@other.net"}) {
		t.Errorf("expired after 31 minutes: %q", got)
	}
	for _, q := range []string{"?state=gone", "?kind=host", "?action=smite", "?incident=XYZ", "?limit=0", "?limit=501", "?subject=a%20b", "?user=alice", "?state=all&state=active"} {
		if r := c.do("GET", "/v1/decisions"+q, myIP, c.root, nil); r.code != 400 {
			t.Errorf("GET /v1/decisions%s: %d %s; want 400", q, r.code, r.raw)
		}
	}
	// One decision by id; a sub-admin cannot see the network one.
	if r := c.do("GET", "/v1/decisions/"+netID, myIP, c.root, nil); r.code != 200 || r.body["subject"] != "198.51.100.0/24" {
		t.Errorf("get: %d %s", r.code, r.raw)
	}
	if r := c.do("GET", "/v1/decisions/"+netID, myIP, c.sub, nil); r.code != 404 {
		t.Errorf("sub-admin gets a network decision: %d; want 404", r.code)
	}
	if r := c.do("GET", "/v1/decisions/"+observed.ID, myIP, c.sub, nil); r.code != 200 || r.body["state"] != "observed" {
		t.Errorf("sub-admin gets its domain's decision: %d %s", r.code, r.raw)
	}
	if r := c.do("GET", "/v1/decisions/0123456789abcdef0123456789abcdef", myIP, c.root, nil); r.code != 404 {
		t.Errorf("unknown id: %d; want 404", r.code)
	}
	if r := c.do("GET", "/v1/decisions/not-an-id", myIP, c.root, nil); r.code != 400 {
		t.Errorf("malformed id: %d; want 400", r.code)
	}
}

// DELETE /v1/decisions/{id} lifts with a reason (body or query), keeps the record, audits before and after, and
// answers 404 for what the caller cannot see and 409 for what is lifted or expired already.
func TestDecisionLift(t *testing.T) {
	c := newConsole(t)
	ctx := context.Background()
	add := func(body map[string]any) string {
		t.Helper()
		r := c.do("POST", "/v1/decisions", myIP, c.root, body)
		if r.code != 201 {
			t.Fatalf("add: %d %s", r.code, r.raw)
		}
		return r.body["id"].(string)
	}
	alice := add(map[string]any{"kind": "user", "subject": "alice@example.org", "action": "hold_mail", "reason": "spam"})
	short := add(map[string]any{"kind": "user", "subject": "bob@example.org", "action": "kick", "reason": "x", "expires_in": "10m"})
	netID := add(map[string]any{"kind": "network", "subject": "192.0.2.0/24", "action": "block_login", "reason": "spraying"})
	obs, _, err := c.decisions.Put(ctx, decision.Decision{Kind: decision.User, Subject: "alice@example.org", Action: decision.BlockLogin, Observe: true,
		IncidentID: c.incA.ID, Reason: "multi_country", CreatedBy: decision.System, CreatedAt: c.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}

	for _, tt := range []struct {
		name, token, path string
		body              any
		code              int
	}{
		{"no reason", c.root, alice, nil, 400},
		{"empty reason", c.root, alice, map[string]any{"reason": ""}, 400},
		{"reason with a line break", c.root, alice + "?reason=a%0Ab", nil, 400},
		{"reason twice", c.root, alice + "?reason=a", map[string]any{"reason": "b"}, 400},
		{"unknown field", c.root, alice, map[string]any{"reason": "a", "by": "x"}, 400},
		{"unknown parameter", c.root, alice + "?why=a", nil, 400},
		{"malformed id", c.root, "xyz?reason=a", nil, 400},
		{"unknown id", c.root, "0123456789abcdef0123456789abcdef?reason=a", nil, 404},
		{"viewer", c.viewer, alice + "?reason=a", nil, 403},
		{"network, as sub-admin", c.sub, netID + "?reason=a", nil, 404},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if r := c.do("DELETE", "/v1/decisions/"+tt.path, myIP, tt.token, tt.body); r.code != tt.code {
				t.Errorf("%d %s; want %d", r.code, r.raw, tt.code)
			}
		})
	}
	if r := c.do("DELETE", "/v1/decisions/"+alice, myIP, c.root, `{"reason":"`+strings.Repeat("x", 20<<10)+`"}`); r.code != 413 {
		t.Errorf("a 20 KiB body: %d; want 413", r.code)
	}
	kr := c.do("POST", "/v1/apikeys", myIP, c.root, map[string]any{"name": "reader", "scopes": []string{"read"}})
	if r := c.do("DELETE", "/v1/decisions/"+alice+"?reason=a", myIP, kr.body["key"].(string), nil); r.code != 403 {
		t.Errorf("a read key lifts: %d %s; want 403", r.code, r.raw)
	}
	r := c.do("DELETE", "/v1/decisions/"+alice, myIP, c.sub, map[string]any{"reason": "customer called, false alarm"})
	if r.code != 200 || r.body["state"] != "lifted" || r.body["lifted_by"] != c.subUser || r.body["lift_reason"] != "customer called, false alarm" {
		t.Fatalf("lift: %d %s", r.code, r.raw)
	}
	a := c.auditOf("decision_lift")
	if a == nil || a.Actor != c.subUser || a.Target != alice || strings.Contains(a.Before, "lifted_at") || !strings.Contains(a.After, `"lift_reason":"customer called, false alarm"`) {
		t.Errorf("audit of the lift = %+v; want before without and after with the lift", a)
	}
	d, err := c.decisions.Get(ctx, alice)
	if err != nil || !d.Lifted() || d.Active(c.clock.Now()) {
		t.Errorf("stored after the lift = %+v, %v; want kept and lifted", d, err)
	}
	if r := c.do("DELETE", "/v1/decisions/"+alice+"?reason=again", myIP, c.root, nil); r.code != 409 || r.errCode() != "already_lifted" {
		t.Errorf("lift twice: %d %s; want 409 already_lifted", r.code, r.raw)
	}
	// The observe-mode record can be lifted too (so the policy's later enforcement of it is not a surprise).
	if r := c.do("DELETE", "/v1/decisions/"+obs.ID+"?reason=travel", myIP, c.root, nil); r.code != 200 || r.body["observe"] != true || r.body["state"] != "lifted" {
		t.Errorf("lift an observed one: %d %s", r.code, r.raw)
	}
	if r := c.do("DELETE", "/v1/decisions/"+netID+"?reason=provider+fixed+it", myIP, c.root, nil); r.code != 200 {
		t.Errorf("admin lifts a network decision: %d %s", r.code, r.raw)
	}
	c.clock.Advance(11 * time.Minute)
	if r := c.do("DELETE", "/v1/decisions/"+short+"?reason=late", myIP, c.root, nil); r.code != 409 || r.errCode() != "expired" {
		t.Errorf("lift an expired one: %d %s; want 409 expired", r.code, r.raw)
	}
	var n int
	for _, x := range c.audit.actions() {
		if x == "decision_lift" {
			n++
		}
	}
	if n != 3 {
		t.Errorf("%d decision_lift audit records; want 3 (one per lift that happened)", n)
	}
	var before decision.Decision
	if err := json.Unmarshal([]byte(c.auditOf("decision_lift").Before), &before); err != nil || before.ID != netID {
		t.Errorf("the audit's before is not the decision record: %v %+v", err, before)
	}
}

// Without a decision store every decisions route answers 503 console_unavailable.
func TestDecisionsUnconfigured(t *testing.T) {
	h := newHarness(t)
	_, tok, _ := h.enroll2FA(h.session(admin, pw))
	for _, rq := range [][2]string{{"GET", "/v1/decisions"}, {"POST", "/v1/decisions"}, {"GET", "/v1/decisions/0123456789abcdef0123456789abcdef"},
		{"DELETE", "/v1/decisions/0123456789abcdef0123456789abcdef?reason=x"}} {
		var body any
		if rq[0] == "POST" {
			body = map[string]any{"kind": "user", "subject": "a@example.org", "action": "kick", "reason": "x"}
		}
		if r := h.do(rq[0], rq[1], myIP, tok, body); r.code != 503 || r.errCode() != "console_unavailable" {
			t.Errorf("%s %s: %d %s; want 503 console_unavailable", rq[0], rq[1], r.code, r.raw)
		}
	}
}

// FuzzDecisionRequest: any request is refused with a 400 naming a field, or becomes a decision safe to store and to
// show to a mail client (canonical subject, printable one-line reason, an action of its kind, bounded expiry).
func FuzzDecisionRequest(f *testing.F) {
	f.Add("user", "Alice@Example.org", "hold_mail", 0, "sends spam", "4h")
	f.Add("network", "198.51.100.7/24", "tarpit", 3, "spraying", "")
	f.Add("network", "::ffff:1.2.3.4", "block_login", 0, "x", "720h")
	f.Add("user", "a\u2028b", "kick", 0, "r\nX", "-1h")
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, kind, subject, action string, delay int, reason, expiresIn string) {
		d, err := decisionFromRequest(DecisionRequest{Kind: kind, Subject: subject, Action: action, Delay: delay, Reason: reason, ExpiresIn: expiresIn}, "root", now)
		if err != nil {
			var he *httpapi.Error
			fields := []string{"kind:", "subject:", "domain:", "action:", "delay_seconds:", "reason:", "expires_in:", "expires_at:"}
			if !errors.As(err, &he) || he.Status != 400 || !slices.ContainsFunc(fields, func(f string) bool { return strings.HasPrefix(he.Message, f) }) {
				t.Errorf("refusal %v is not a 400 naming a request field", err)
			}
			return
		}
		again := d
		if err := again.Normalise(now); err != nil || again.Subject != d.Subject {
			t.Errorf("accepted %+v does not normalise to itself: %v", d, err)
		}
		if d.Reason == "" || len(d.Reason) > decision.MaxReasonLen || strings.ContainsAny(d.Reason, "\r\n") || d.CreatedBy != "root" ||
			!d.ExpiresAt.After(now) || d.ExpiresAt.Sub(now) > decision.MaxDuration || len(d.ID) != 32 {
			t.Errorf("accepted an unsafe decision %+v", d)
		}
	})
}
