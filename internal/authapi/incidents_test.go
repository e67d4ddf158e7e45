package authapi

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/testenv"
)

func TestConsoleIncidentList(t *testing.T) {
	c := newConsole(t)
	a, b, cc := c.incA.ID, c.incB.ID, c.incC.ID
	from := url.QueryEscape(c.clock.Now().Add(-150 * time.Minute).Format(time.RFC3339))
	for _, tt := range []struct {
		name, token, query string
		want               []string
		total              float64
	}{
		{"admin sees all, newest first", c.root, "", []string{cc, b, a}, 3},
		{"paged", c.root, "?limit=1&offset=1", []string{b}, 3},
		{"rule", c.root, "?rule=multi_country", []string{cc, a}, 2},
		{"domain", c.root, "?domain=other.net", []string{cc}, 1},
		{"user", c.root, "?user=ALICE", []string{a}, 1},
		{"status", c.root, "?status=open", []string{cc, b, a}, 3},
		{"time", c.root, "?from=" + from, []string{cc, b}, 2},
		{"viewer reads", c.viewer, "", []string{cc, b, a}, 3},
		{"sub-admin sees its domains only", c.sub, "", []string{b, a}, 2},
		{"sub-admin asking for another domain", c.sub, "?domain=other.net", []string{}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := c.do("GET", "/v1/incidents"+tt.query, myIP, tt.token, nil)
			if r.code != 200 {
				t.Fatalf("GET /v1/incidents%s: %d %s", tt.query, r.code, r.raw)
			}
			if diff := cmp.Diff(tt.want, incidentIDs(r)); diff != "" || r.body["total"] != tt.total {
				t.Errorf("GET /v1/incidents%s ids (-want +got):\n%s total %v; want %v", tt.query, diff, r.body["total"], tt.total)
			}
		})
	}
	first := c.do("GET", "/v1/incidents?limit=1", myIP, c.root, nil).body["incidents"].([]any)[0].(map[string]any)
	for _, k := range []string{"rule", "countries", "messages_24h", "recipients_24h", "first_seen", "last_seen", "status"} {
		if _, ok := first[k]; !ok {
			t.Errorf("list row lacks %q: %v", k, first)
		}
	}
	r := c.do("GET", "/v1/incidents/summary", myIP, c.sub, nil)
	if r.code != 200 || r.body["total"] != 2.0 || r.body["unreviewed"] != 2.0 {
		t.Errorf("sub-admin summary: %d %s; want total 2, unreviewed 2", r.code, r.raw)
	}
}

func TestConsoleIncidentDetail(t *testing.T) {
	c := newConsole(t)
	r := c.do("GET", "/v1/incidents/"+c.incA.ID, myIP, c.sub, nil)
	if r.code != 200 {
		t.Fatalf("GET incident: %d %s", r.code, r.raw)
	}
	inc := r.body["incident"].(map[string]any)
	ev, _ := inc["evidence"].([]any)
	if inc["user"] != "alice@example.org" || len(ev) != 2 || ev[1].(map[string]any)["country"] != "FR" || r.body["revision"] != 0.0 || r.header.Get("ETag") != `"0"` {
		t.Errorf("incident detail = %s; want alice's with two countries of evidence, revision 0", r.raw)
	}
	logins, _ := r.body["logins"].([]any)
	if len(logins) != 3 || logins[0].(map[string]any)["source"] != "mx1.example.net" {
		t.Errorf("detail logins = %v; want alice's 3 logins, newest first, with the reporting server", logins)
	}
	if r := c.do("GET", "/v1/incidents/"+c.incC.ID, myIP, c.sub, nil); r.code != 404 {
		t.Errorf("sub-admin reading another domain's incident: %d; want 404", r.code)
	}
	if r := c.do("GET", "/v1/incidents/"+strings.Repeat("0", 32), myIP, c.root, nil); r.code != 404 {
		t.Errorf("unknown incident: %d; want 404", r.code)
	}
}

func TestConsoleUserLoginsRoute(t *testing.T) {
	c := newConsole(t)
	r := c.do("GET", "/v1/users/Alice@Example.org/logins?limit=2", myIP, c.sub, nil)
	logins, _ := r.body["logins"].([]any)
	if r.code != 200 || len(logins) != 2 {
		t.Fatalf("logins: %d %s; want 2 rows", r.code, r.raw)
	}
	row := logins[0].(map[string]any)
	for k, want := range map[string]any{"ip": "198.51.100.7", "country": "FR", "service": "imap", "success": true, "trusted": false, "source": "mx1.example.net"} {
		if row[k] != want {
			t.Errorf("login row %s = %v; want %v", k, row[k], want)
		}
	}
	if r := c.do("GET", "/v1/users/carol@other.net/logins", myIP, c.sub, nil); r.code != 404 {
		t.Errorf("sub-admin reading another domain's user: %d; want 404", r.code)
	}
	if r := c.do("GET", "/v1/users/carol@other.net/logins", myIP, c.root, nil); r.code != 200 || len(r.body["logins"].([]any)) != 1 {
		t.Errorf("admin reading carol's logins: %d %s", r.code, r.raw)
	}
}

// review posts a review action with a revision.
func (c *console) review(token, id string, body map[string]any) resp {
	return c.do("POST", "/v1/incidents/"+id+"/review", myIP, token, body)
}

func TestConsoleReviewLifecycle(t *testing.T) {
	c := newConsole(t)
	id := c.incA.ID
	if r := c.review(c.sub, id, map[string]any{"action": "acknowledge"}); r.code != 428 {
		t.Errorf("review without a revision: %d %s; want 428", r.code, r.raw)
	}
	r := c.review(c.sub, id, map[string]any{"action": "acknowledge", "revision": 0, "note": "looking"})
	if r.code != 200 || r.body["status"] != "acknowledged" || r.body["by"] != c.subUser {
		t.Fatalf("acknowledge: %d %s", r.code, r.raw)
	}
	rev := r.body["revision"].(float64)
	if r := c.review(c.sub, id, map[string]any{"action": "resolve", "reason": "user_travelling", "revision": 0}); r.code != 409 || r.errCode() != "conflict" {
		t.Errorf("resolve with a stale revision: %d %s; want 409 conflict", r.code, r.raw)
	}
	if r := c.review(c.sub, id, map[string]any{"action": "acknowledge", "revision": rev}); r.code != 409 || r.errCode() != "invalid_transition" {
		t.Errorf("acknowledge twice: %d %s; want 409 invalid_transition", r.code, r.raw)
	}
	if r := c.review(c.sub, id, map[string]any{"action": "resolve", "revision": rev}); r.code != 400 {
		t.Errorf("resolve without a reason: %d %s; want 400", r.code, r.raw)
	}
	if r := c.review(c.sub, id, map[string]any{"action": "resolve", "reason": "other", "revision": rev}); r.code != 400 {
		t.Errorf(`resolve "other" without a note: %d %s; want 400`, r.code, r.raw)
	}
	r = c.do("POST", "/v1/incidents/"+id+"/review", myIP, c.root, map[string]any{"action": "resolve", "reason": "user_travelling", "note": "in Paris"}, "If-Match", fmt.Sprintf(`"%d"`, int(rev)))
	if r.code != 200 || r.body["status"] != "resolved" || r.body["reason"] != "user_travelling" {
		t.Fatalf("resolve with If-Match: %d %s", r.code, r.raw)
	}
	// The detector adds evidence: a new version with status open. The review stands.
	next := c.incA
	next.Version, next.LastSeen, next.Logins = 2, next.LastSeen.Add(time.Minute), 9
	if err := c.ch.Write(context.Background(), nil, nil, []incident.Incident{next}); err != nil {
		t.Fatal(err)
	}
	d := c.do("GET", "/v1/incidents/"+id, myIP, c.root, nil)
	inc := d.body["incident"].(map[string]any)
	if inc["status"] != "resolved" || inc["version"] != 2.0 || inc["logins"] != 9.0 {
		t.Errorf("after new evidence: %s; want version 2 with 9 logins, still resolved", d.raw)
	}
	hist, _ := d.body["review_history"].([]any)
	if len(hist) != 2 || hist[0].(map[string]any)["by"] != admin || hist[1].(map[string]any)["by"] != c.subUser || hist[0].(map[string]any)["note"] != "in Paris" {
		t.Errorf("review history = %v; want the resolution by root, then the acknowledgement by ann", hist)
	}
	testenv.Eventually(t, 10*time.Second, "the list shows the review's status", func() bool {
		r := c.do("GET", "/v1/incidents?status=resolved", myIP, c.root, nil)
		return cmp.Equal(incidentIDs(r), []string{id})
	})
	if r := c.do("GET", "/v1/incidents?status=open", myIP, c.root, nil); strings.Contains(r.raw, id) {
		t.Errorf("open list still holds the resolved incident: %s", r.raw)
	}
	sum := c.do("GET", "/v1/incidents/summary", myIP, c.root, nil)
	if sum.body["unreviewed"] != 2.0 || sum.body["by_status"].(map[string]any)["resolved"] != 1.0 {
		t.Errorf("summary = %s; want 2 unreviewed, 1 resolved", sum.raw)
	}
	r = c.review(c.root, id, map[string]any{"action": "reopen", "revision": d.body["revision"]})
	if r.code != 200 || r.body["status"] != "open" {
		t.Errorf("reopen: %d %s", r.code, r.raw)
	}
	want := []string{"incident_review", "incident_review", "incident_review"}
	var got []string
	for _, a := range c.audit.actions() {
		if a == "incident_review" {
			got = append(got, a)
		}
	}
	if !cmp.Equal(want, got) {
		t.Errorf("audited reviews = %v; want 3", got)
	}
}

// Two admins reviewing at once: exactly one wins, the other gets 409.
func TestConsoleReviewConcurrent(t *testing.T) {
	c := newConsole(t)
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := c.root
			if i%2 == 1 {
				tok = c.sub
			}
			codes <- c.review(tok, c.incB.ID, map[string]any{"action": "resolve", "reason": "false_positive", "revision": 0}).code
		}()
	}
	wg.Wait()
	close(codes)
	n := map[int]int{}
	for code := range codes {
		n[code]++
	}
	if n[200] != 1 || n[409] != 7 {
		t.Errorf("concurrent reviews: %v; want one 200 and seven 409", n)
	}
}

func TestConsoleReviewPermissions(t *testing.T) {
	c := newConsole(t)
	if r := c.review(c.viewer, c.incA.ID, map[string]any{"action": "acknowledge", "revision": 0}); r.code != 403 {
		t.Errorf("viewer review: %d; want 403", r.code)
	}
	if r := c.review(c.sub, c.incC.ID, map[string]any{"action": "acknowledge", "revision": 0}); r.code != 404 {
		t.Errorf("sub-admin reviewing another domain's incident: %d; want 404", r.code)
	}
	readKey := c.do("POST", "/v1/apikeys", myIP, c.sub, map[string]any{"name": "reader", "scopes": []string{"read"}}).body["key"].(string)
	if r := c.review(readKey, c.incA.ID, map[string]any{"action": "acknowledge", "revision": 0}); r.code != 403 {
		t.Errorf("review with a read-only key: %d; want 403", r.code)
	}
	if r := c.do("GET", "/v1/incidents", myIP, readKey, nil); r.code != 200 || len(incidentIDs(r)) != 2 {
		t.Errorf("list with the sub-admin's read key: %d %s; want its 2 incidents", r.code, r.raw)
	}
	key := c.do("POST", "/v1/apikeys", myIP, c.sub, map[string]any{"name": "reviewer", "scopes": []string{"read", "incidents"}}).body["key"].(string)
	if r := c.review(key, c.incA.ID, map[string]any{"action": "acknowledge", "revision": 0}); r.code != 200 {
		t.Errorf("review with an incidents key: %d %s; want 200", r.code, r.raw)
	}
}

// Every input is validated with a precise 400 (or 413/414), never a 500.
func TestConsoleInputValidation(t *testing.T) {
	c := newConsole(t)
	for _, tt := range []struct{ path, want string }{
		{"/v1/incidents?limit=0", "limit"},
		{"/v1/incidents?limit=501", "limit"},
		{"/v1/incidents?limit=ten", "limit"},
		{"/v1/incidents?offset=-1", "offset"},
		{"/v1/incidents?offset=100001", "offset"},
		{"/v1/incidents?from=yesterday", "from"},
		{"/v1/incidents?from=2026-11-24T10:00:00Z&to=2026-11-24T09:00:00Z", "to"},
		{"/v1/incidents?to=1900-01-01T00:00:00Z", "to"},
		{"/v1/incidents?status=closed", "status"},
		{"/v1/incidents?rule=Multi-Country", "rule"},
		{"/v1/incidents?domain=exa%20mple.org", "domain"},
		{"/v1/incidents?domain=" + strings.Repeat("a", 254), "domain"},
		{"/v1/incidents?user=" + strings.Repeat("a", 101), "user"},
		{"/v1/incidents?user=%00", "user"},
		{"/v1/incidents?colour=red", "colour"},
		{"/v1/incidents?limit=1&limit=2", "limit"},
		{"/v1/incidents/summary?status=open", "status"},
		{"/v1/incidents/XYZ", "id"},
		{"/v1/incidents/" + strings.Repeat("A", 32), "id"},
		{"/v1/users/" + strings.Repeat("a", 321) + "/logins", "user"},
		{"/v1/users/a%20b/logins", "user"},
		{"/v1/users/alice@example.org/logins?limit=1000", "limit"},
		{"/v1/trusted-networks?scope=planet", "scope"},
		{"/v1/trusted-networks?domain=-bad-", "domain"},
		{"/v1/audit-log?actor=a%20b", "actor"},
		{"/v1/audit-log?from=2026-13-01T00:00:00Z", "from"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			r := c.do("GET", tt.path, myIP, c.root, nil)
			msg, _ := r.body["error"].(map[string]any)["message"].(string)
			if r.code != 400 || r.errCode() != "bad_parameter" || !strings.HasPrefix(msg, tt.want+":") {
				t.Errorf("GET %.80s: %d %s; want 400 bad_parameter about %s", tt.path, r.code, r.raw, tt.want)
			}
		})
	}
	if r := c.do("GET", "/v1/incidents?user="+strings.Repeat("a", 5000), myIP, c.root, nil); r.code != 414 {
		t.Errorf("a 5000-byte query: %d; want 414", r.code)
	}
	for _, body := range []any{
		map[string]any{"action": "delete", "revision": 0},
		map[string]any{"action": "acknowledge", "revision": 0, "reason": "false_positive"},
		map[string]any{"action": "resolve", "reason": "bored", "revision": 0},
		map[string]any{"action": "acknowledge", "revision": 0, "note": strings.Repeat("x", 2001)},
		map[string]any{"action": "acknowledge", "revision": 0, "note": "a\x00b"},
		map[string]any{"action": "acknowledge", "revision": -1},
		`{"action": "acknowledge", "revision": 0, "extra": 1}`,
		``,
	} {
		var r resp
		if s, ok := body.(string); ok {
			r = c.do("POST", "/v1/incidents/"+c.incA.ID+"/review", myIP, c.root, s)
		} else {
			r = c.review(c.root, c.incA.ID, body.(map[string]any))
		}
		if r.code != 400 {
			t.Errorf("review %v: %d %s; want 400", body, r.code, r.raw)
		}
	}
	if r := c.do("POST", "/v1/incidents/"+c.incA.ID+"/review", myIP, c.root, map[string]any{"action": "acknowledge"}, "If-Match", "W/abc"); r.code != 400 {
		t.Errorf("a malformed If-Match: %d; want 400", r.code)
	}
}

// The incident detail carries the incident's mailbox 2FA step-up outcomes (its own block), newest first, and an
// empty list rather than null without any.
func TestIncidentDetailStepUps(t *testing.T) {
	c := newConsole(t)
	at := c.clock.Now().UTC().Truncate(time.Second)
	rows := []chstore.StepUpRow{
		{IncidentID: c.incA.ID, AttemptID: "a1", Time: at.Add(-time.Minute), User: "alice@example.org", Result: "failed", Method: "totp", ClientIP: "198.51.100.7", Actor: "apikey:webmail"},
		{IncidentID: c.incA.ID, AttemptID: "a2", Time: at, User: "alice@example.org", Result: "passed", Method: "totp", ClientIP: "198.51.100.7", Actor: "apikey:webmail"},
	}
	if err := c.ch.WriteStepUps(context.Background(), rows); err != nil {
		t.Fatal(err)
	}
	d := c.do("GET", "/v1/incidents/"+c.incA.ID, myIP, c.sub, nil)
	got, _ := d.body["step_ups"].([]any)
	if d.code != 200 || len(got) != 2 || got[0].(map[string]any)["result"] != "passed" || got[1].(map[string]any)["result"] != "failed" ||
		got[0].(map[string]any)["client_ip"] != "198.51.100.7" || got[0].(map[string]any)["attempt_id"] != "a2" {
		t.Errorf("step_ups of %s = %d %v; want passed then failed from 198.51.100.7", c.incA.ID, d.code, got)
	}
	if d := c.do("GET", "/v1/incidents/"+c.incB.ID, myIP, c.root, nil); !strings.Contains(d.raw, `"step_ups":[]`) {
		t.Errorf("detail of an incident without step-ups: %s; want step_ups []", d.raw)
	}
}
