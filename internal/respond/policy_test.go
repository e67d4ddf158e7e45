package respond

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-ids/vigil/internal/decision"
)

func TestRecommendedPolicyObservesEverything(t *testing.T) {
	p := RecommendedPolicy()
	if len(p.Global()) == 0 {
		t.Fatal("the recommended policy has no entries")
	}
	for _, r := range p.For("any.example") {
		if r.Mode != Observe {
			t.Errorf("entry %s is %s; the recommended policy must only observe", r.Name, r.Mode)
		}
	}
	if got, want := p.Rules(), []string{"brute_force", "multi_country", "password_spray", "send_volume"}; !cmp.Equal(got, want) {
		t.Errorf("Rules() = %v; want %v", got, want)
	}
}

func TestPolicyDomainOverrides(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader(`{"entries": [
	  {"name": "brute", "rules": ["brute_force"], "actions": ["block_login"]},
	  {"name": "spray", "rules": ["password_spray"], "target": "network", "mode": "enforce", "actions": ["tarpit"]}],
	 "domains": {
	  "strict.example": {"mode": "enforce"},
	  "mixed.example": {"entries": [{"name": "brute", "mode": "enforce", "duration": "2h"},
	                                {"name": "extra", "rules": ["send_volume"], "actions": ["defer_mail"]}]},
	  "calm.example": {"mode": "observe", "entries": [{"name": "brute", "actions": ["kick"]}]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		Name     string
		Mode     Mode
		Actions  []decision.Action
		Duration time.Duration
	}
	summary := func(rs []Rule) []got {
		var out []got
		for _, r := range rs {
			out = append(out, got{r.Name, r.Mode, r.Actions, r.Duration})
		}
		return out
	}
	day := decision.DefaultExpiry
	for _, tt := range []struct {
		domain string
		want   []got
	}{
		{"other.example", []got{{"brute", Observe, []decision.Action{"block_login"}, day}, {"spray", Enforce, []decision.Action{"tarpit"}, day}}},
		{"strict.example", []got{{"brute", Enforce, []decision.Action{"block_login"}, day}, {"spray", Enforce, []decision.Action{"tarpit"}, day}}},
		{"mixed.example", []got{{"brute", Enforce, []decision.Action{"block_login"}, 2 * time.Hour}, {"spray", Enforce, []decision.Action{"tarpit"}, day},
			{"extra", Observe, []decision.Action{"defer_mail"}, day}}},
		{"calm.example", []got{{"brute", Observe, []decision.Action{"kick"}, day}, {"spray", Observe, []decision.Action{"tarpit"}, day}}},
	} {
		if diff := cmp.Diff(tt.want, summary(p.For(tt.domain))); diff != "" {
			t.Errorf("For(%q) (-want +got):\n%s", tt.domain, diff)
		}
	}
	if r := p.Global()[1]; r.TarpitDelay != 5 {
		t.Errorf("tarpit delay = %d; want the default 5", r.TarpitDelay)
	}
}

func TestPolicyRejects(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["block_login"], "colour": "red"}]}`, `unknown field "colour"`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["block_login"]}`, "not a policy document"},
		{`{"mode": "strict", "entries": []}`, `mode: "strict": must be observe or enforce`},
		{`{"entries": [{"name": "A b", "rules": ["brute_force"], "actions": ["block_login"]}]}`, `entries[0] ("A b").name: 1-64 lower-case`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["block_login"]}, {"name": "a", "rules": ["send_volume"], "actions": ["hold_mail"]}]}`, `entries[1] ("a").name: used by entries[0]`},
		{`{"entries": [{"name": "a", "actions": ["block_login"]}]}`, `entries[0] ("a").rules: name at least one rule`},
		{`{"entries": [{"name": "a", "rules": ["Brute"], "actions": ["block_login"]}]}`, `"Brute" is not a rule name`},
		{`{"entries": [{"name": "a", "rules": ["multi_contry"], "actions": ["block_login"]}]}`, `"multi_contry" is not a rule of account incidents; use one of brute_force,`},
		{`{"entries": [{"name": "a", "rules": ["send_volume"], "target": "network", "actions": ["tarpit"]}]}`, `"send_volume" is not a rule of address-keyed incidents; use one of brute_force, password_spray`},
		{`{"entries": [{"name": "a", "rules": ["password_spray"], "target": "network", "actions": ["hold_mail"]}]}`, `entries[0] ("a").actions: hold_mail does not apply to a network (target network)`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["tarpit"]}]}`, `tarpit does not apply to a user`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["explode"]}]}`, `"explode" is not an action`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": []}]}`, `name at least one action`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick", "kick"]}]}`, `kick twice`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "target": "planet", "actions": ["kick"]}]}`, `target: "planet": must be user, network or victims`},
		{`{"entries": [{"name": "a", "rules": ["brute_force", "send_volume"], "target": "network", "actions": ["tarpit"]}]}`, `a combination of rules applies to an account`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "within": "2h", "actions": ["kick"]}]}`, `only a combination of rules takes a window`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"], "duration": "1000h"}]}`, `duration: 1m-720h0m0s`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"], "duration": "soon"}]}`, `"soon" is not a duration`},
		{`{"entries": [{"name": "a", "rules": ["password_spray"], "target": "network", "actions": ["tarpit"], "tarpit_delay": "20s"}]}`, `tarpit_delay: whole seconds, 1s-15s`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"], "tarpit_delay": "2s"}]}`, `only an entry with the tarpit action takes a delay`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"], "then": {"after": "5m", "actions": ["block_login"]}}]}`, `escalation applies to an address`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"], "reason": "line\nbreak"}]}`, `reason: at most 200 bytes of printable text`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"]}], "domains": {"Big.Example": {}}}`, `domains["Big.Example"]: a lower-case domain name`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"]}], "domains": {"x.example": {"entries": [{"name": "a", "rules": ["send_volume"]}]}}}`, `cannot change the rules of "a"`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"]}], "domains": {"x.example": {"entries": [{"name": "b", "rules": ["send_volume"]}]}}}`, `domains["x.example"].entries[0] ("b").actions: name at least one action`},
		{`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"]}]} {}`, `data after the JSON object`},
	} {
		_, err := ParsePolicy(strings.NewReader(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParsePolicy(%s) = %v; want an error containing %q", tt.doc, err, tt.want)
		}
	}
	big := `{"entries": [], "x": "` + strings.Repeat("a", MaxPolicyBytes) + `"}`
	if _, err := ParsePolicy(strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("ParsePolicy(2 MiB) = %v; want a size error", err)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add(Recommended)
	f.Add(`{"entries": [{"name": "a", "rules": ["brute_force"], "actions": ["kick"]}], "domains": {"x.example": {"mode": "enforce"}}}`)
	f.Fuzz(func(t *testing.T, doc string) {
		p, err := ParsePolicy(strings.NewReader(doc))
		if err != nil {
			return
		}
		for _, r := range p.Global() {
			if r.Mode != Observe && r.Mode != Enforce || len(r.Actions) == 0 || r.Duration <= 0 || len(r.Reason) > decision.MaxReasonLen {
				t.Fatalf("accepted an unusable entry %+v", r)
			}
		}
	})
}

// TestReadmePolicyExampleParses keeps the README's example policy valid.
func TestReadmePolicyExampleParses(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "### The policy file")
	if i < 0 {
		t.Fatal("README has no policy file section")
	}
	s = s[i:]
	begin := strings.Index(s, "```json\n")
	end := strings.Index(s[begin+8:], "```")
	if begin < 0 || end < 0 {
		t.Fatal("README's policy section has no json block")
	}
	p, err := ParsePolicy(strings.NewReader(s[begin+8 : begin+8+end]))
	if err != nil {
		t.Fatalf("README's example policy: %v", err)
	}
	if r := p.For("partner.example"); r[0].Mode != Observe {
		t.Errorf("partner.example's first entry is %s; the example says it only observes", r[0].Mode)
	}
	if r := p.For("shop.example"); r[0].Actions[0] != decision.DeferMail || r[0].Mode != Enforce {
		t.Errorf("shop.example's hijacked-sender = %+v; want enforced defer_mail", r[0])
	}
}

func TestPolicyChanges(t *testing.T) {
	parse := func(doc string) *Policy {
		t.Helper()
		p, err := ParsePolicy(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := parse(`{"entries": [{"name": "brute", "rules": ["brute_force"], "actions": ["block_login"]},
	  {"name": "gone", "rules": ["send_volume"], "actions": ["defer_mail"]}],
	 "domains": {"old.example": {"mode": "enforce"}}}`)
	cur := parse(`{"entries": [{"name": "brute", "rules": ["brute_force"], "mode": "enforce", "actions": ["block_login"], "reason": "new words"},
	  {"name": "new", "rules": ["multi_country"], "actions": ["hold_mail"], "duration": "2h"}],
	 "domains": {"calm.example": {"mode": "observe"}}}`)
	want := []string{
		"brute: observe brute_force on user: block_login for 24h0m0s -> enforce brute_force on user: block_login for 24h0m0s",
		"new added: observe multi_country on user: hold_mail for 2h0m0s",
		"gone removed",
		"domain calm.example added", // its accounts followed the global entries until now
		"domain calm.example new added: observe multi_country on user: hold_mail for 2h0m0s",
		"domain calm.example gone removed",
		"domain old.example removed: its accounts follow the global entries",
		"domain old.example new added: observe multi_country on user: hold_mail for 2h0m0s",
		"domain old.example gone removed",
	}
	if diff := cmp.Diff(want, policyChanges(old, cur)); diff != "" {
		t.Errorf("policyChanges (-want +got):\n%s", diff)
	}
	if got := policyChanges(cur, cur); len(got) != 0 {
		t.Errorf("policyChanges(p, p) = %v; want none", got)
	}
}
