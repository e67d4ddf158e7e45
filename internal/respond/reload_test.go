package respond_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/testenv"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// writePolicy replaces the policy file as an operator's deployment should: a new file renamed over the old, so a
// check never reads half of it.
func writePolicy(t *testing.T, path, content string) {
	t.Helper()
	testenv.WriteFile(t, path+".tmp", content)
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func brutePolicy(mode string) string {
	return `{"entries": [{"name": "brute", "rules": ["brute_force"], "mode": "` + mode + `", "actions": ["block_login"]}]}`
}

// mode is the mode of the entry named name for the accounts of domain in the responder's policy in force.
func mode(r *respond.Responder, domain, name string) respond.Mode {
	for _, x := range r.Policy().For(domain) {
		if x.Name == name {
			return x.Mode
		}
	}
	return ""
}

// TestPolicyFileChangeEnforcesNextIncident: the policy file switched from observe to enforce is picked up by the
// periodic check; the next version of an incident is enforced, the decision observed before stays as it was.
func TestPolicyFileChangeEnforcesNextIncident(t *testing.T) {
	h := setup(t)
	h.policyFile, h.check, h.logs = filepath.Join(t.TempDir(), "containment.json"), 50*time.Millisecond, &syncBuf{}
	writePolicy(t, h.policyFile, brutePolicy("observe"))
	h.start("")
	loaded := h.metric("vigil_containment_policy_loaded_timestamp_seconds")
	if loaded == 0 {
		t.Fatal("vigil_containment_policy_loaded_timestamp_seconds not set at start")
	}
	inc := userIncident("brute_force", "olga@example.org", 1, "203.0.113.9")
	h.publish(inc)
	h.waitDrained()
	if ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "olga@example.org" }); len(ds) != 1 || !ds[0].Observe {
		t.Fatalf("olga's decisions in observe mode = %+v; want one observed", ds)
	}

	writePolicy(t, h.policyFile, brutePolicy("enforce"))
	testenv.Eventually(t, 10*time.Second, "the changed file reloaded", func() bool { return mode(h.resp, "example.org", "brute") == respond.Enforce })
	if got := h.metric("vigil_containment_policy_loaded_timestamp_seconds"); got <= loaded {
		t.Errorf("vigil_containment_policy_loaded_timestamp_seconds = %v after the reload; want later than %v", got, loaded)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "containment policy reloaded") || !strings.Contains(logs, "brute: observe brute_force on user: block_login for 24h0m0s -> enforce brute_force") {
		t.Errorf("the reload's log does not name the change of mode:\n%s", logs)
	}
	inc.Version = 2
	h.publish(inc)
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "olga's login blocked", func() bool {
		_, ok := h.index.Match("olga@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok
	})
	ds := h.decisions(func(d decision.Decision) bool { return d.Subject == "olga@example.org" })
	observed, enforced := 0, 0
	for _, d := range ds {
		switch {
		case d.Lifted():
			t.Errorf("decision %+v was lifted by the reload; decisions made stay", d)
		case d.Observe:
			observed++
		default:
			enforced++
		}
	}
	if observed != 1 || enforced != 1 {
		t.Errorf("olga has %d observed and %d enforced decisions; want 1 and 1: %+v", observed, enforced, ds)
	}
	if n := h.metric("vigil_decisions_enforced_total", "rule=brute_force", "action=block_login"); n != 1 {
		t.Errorf("vigil_decisions_enforced_total{brute_force,block_login} = %v; want 1", n)
	}
}

// TestInvalidPolicyFileKeepsPolicy: a file that does not parse, then one that does not validate, leave the policy
// in force; each is counted once and logged with its place.
func TestInvalidPolicyFileKeepsPolicy(t *testing.T) {
	h := setup(t)
	h.policyFile, h.check, h.logs = filepath.Join(t.TempDir(), "containment.json"), 50*time.Millisecond, &syncBuf{}
	writePolicy(t, h.policyFile, brutePolicy("enforce"))
	h.start("")

	writePolicy(t, h.policyFile, "{\"entries\": [\n  {\"name\": \"brute\",,}\n]}")
	testenv.Eventually(t, 10*time.Second, "the syntax error counted", func() bool {
		return h.metric("vigil_containment_policy_reload_errors_total") == 1
	})
	if logs := h.logs.String(); !strings.Contains(logs, h.policyFile+": not a policy document: line 2") {
		t.Errorf("the log does not name the file and line of the syntax error:\n%s", logs)
	}
	writePolicy(t, h.policyFile, `{"entries": [{"name": "brute", "rules": ["brute_force"], "mode": "observe", "actions": ["tarpit"]}]}`)
	testenv.Eventually(t, 10*time.Second, "the invalid action counted", func() bool {
		return h.metric("vigil_containment_policy_reload_errors_total") == 2
	})
	if logs := h.logs.String(); !strings.Contains(logs, `entries[0] (\"brute\").actions: tarpit does not apply to a user`) {
		t.Errorf("the log does not name the invalid field:\n%s", logs)
	}
	if m := mode(h.resp, "example.org", "brute"); m != respond.Enforce {
		t.Fatalf("mode after invalid files = %q; want the previous policy's enforce", m)
	}
	h.publish(userIncident("brute_force", "paul@example.org", 1))
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "paul's login blocked by the policy kept", func() bool {
		_, ok := h.index.Match("paul@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok
	})
	if n := h.metric("vigil_containment_policy_reload_errors_total"); n != 2 {
		t.Errorf("vigil_containment_policy_reload_errors_total = %v; want 2 (each bad content once)", n)
	}
}

// TestReloadRequestReadsPolicy: a reload request (what SIGHUP sends) re-reads the file at once, without waiting
// for the periodic check; an unreadable file on a request is an error and keeps the policy.
func TestReloadRequestReadsPolicy(t *testing.T) {
	h := setup(t)
	h.policyFile, h.check, h.reload = filepath.Join(t.TempDir(), "containment.json"), time.Hour, make(chan struct{})
	writePolicy(t, h.policyFile, brutePolicy("observe"))
	h.start("")
	writePolicy(t, h.policyFile, brutePolicy("enforce"))
	h.reload <- struct{}{}
	testenv.Eventually(t, 10*time.Second, "the file reloaded on request", func() bool { return mode(h.resp, "example.org", "brute") == respond.Enforce })
	h.publish(userIncident("brute_force", "quinn@example.org", 1))
	h.waitDrained()
	testenv.Eventually(t, 5*time.Second, "quinn's login blocked", func() bool {
		_, ok := h.index.Match("quinn@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok
	})
	if err := os.Remove(h.policyFile); err != nil {
		t.Fatal(err)
	}
	h.reload <- struct{}{}
	testenv.Eventually(t, 10*time.Second, "the missing file counted", func() bool {
		return h.metric("vigil_containment_policy_reload_errors_total") == 1
	})
	if m := mode(h.resp, "example.org", "brute"); m != respond.Enforce {
		t.Errorf("mode after the file was removed = %q; want the policy in force, enforce", m)
	}
}

// TestHealthFailsWhileIncidentsStreamIsGone: deleting VIGIL_INCIDENTS (and with it the durable consumer) makes
// the responder unhealthy; it creates both again, is healthy again and decides the next incident.
func TestHealthFailsWhileIncidentsStreamIsGone(t *testing.T) {
	h := setup(t)
	h.start(enforceAll)
	ctx := context.Background()
	testenv.Eventually(t, 10*time.Second, "the responder healthy", func() bool { return h.resp.Health(ctx) == nil })
	if err := h.js.DeleteStream(ctx, natsbus.IncidentsStream); err != nil {
		t.Fatal(err)
	}
	var failure error
	testenv.Eventually(t, 10*time.Second, "the responder unhealthy", func() bool {
		failure = h.resp.Health(ctx)
		return failure != nil
	})
	if !strings.Contains(failure.Error(), "incidents consumer "+respond.DefaultConsumer) {
		t.Errorf("Health = %v; want it to name the incidents consumer", failure)
	}
	testenv.Eventually(t, 20*time.Second, "the responder healthy again", func() bool { return h.resp.Health(ctx) == nil })
	h.publish(userIncident("brute_force", "rita@example.org", 1))
	testenv.Eventually(t, 20*time.Second, "rita's login blocked after the recovery", func() bool {
		_, ok := h.index.Match("rita@example.org", netip.Addr{}, time.Now(), decision.BlockLogin)
		return ok
	})
}

// TestPolicySwapWhileHandling: reloads switching the whole policy between observe and enforce while incidents are
// decided (run it with -race) give each incident version one policy: its two decisions share a mode.
func TestPolicySwapWhileHandling(t *testing.T) {
	h := setup(t)
	h.policyFile, h.check, h.reload = filepath.Join(t.TempDir(), "containment.json"), time.Hour, make(chan struct{})
	doc := func(mode string) string {
		return `{"mode": "` + mode + `", "entries": [{"name": "brute", "rules": ["brute_force"], "actions": ["block_login", "kick"]}]}`
	}
	writePolicy(t, h.policyFile, doc("observe"))
	h.start("")
	const users = 40
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range users {
			h.publish(userIncident("brute_force", fmt.Sprintf("s%02d@example.org", i), 1))
		}
	}()
	reloads, deadline := 0, time.Now().Add(30*time.Second)
	// Swap until every incident is decided (and at least 10 times), so the swaps overlap the handling.
	for h.metric("vigil_responder_incidents_total", "result=decided") < users || reloads < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%v incidents decided after 30s; want %d", h.metric("vigil_responder_incidents_total", "result=decided"), users)
		}
		writePolicy(t, h.policyFile, doc([]string{"enforce", "observe"}[reloads%2]))
		h.reload <- struct{}{}
		reloads++
	}
	<-done
	h.waitDrained()
	modes := map[string][]bool{}
	for _, d := range h.decisions(func(decision.Decision) bool { return true }) {
		modes[d.Subject] = append(modes[d.Subject], d.Observe)
	}
	if len(modes) != users {
		t.Errorf("%d accounts have decisions; want %d", len(modes), users)
	}
	observed := 0
	for u, m := range modes {
		if len(m) > 0 && m[0] {
			observed++
		}
		if len(m) != 2 || m[0] != m[1] {
			t.Errorf("%s: observe flags of its decisions %v; want two of one mode", u, m)
		}
	}
	t.Logf("%d reloads; %d accounts decided in observe mode, %d in enforce mode", reloads, observed, len(modes)-observed)
	if n := h.metric("vigil_containment_policy_reload_errors_total"); n != 0 {
		t.Errorf("vigil_containment_policy_reload_errors_total = %v; want 0", n)
	}
}
