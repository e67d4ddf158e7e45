package respond

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// DefaultPolicyCheck is how often the policy file is checked for a change of content.
const DefaultPolicyCheck = 10 * time.Second

// loadedPolicy is a policy with the file content it was read from.
type loadedPolicy struct {
	policy *Policy
	sum    [sha256.Size]byte
}

// readPolicyFile reads and validates the policy file at path.
func readPolicyFile(path string) (*loadedPolicy, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("containment policy: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPolicyBytes+1))
	if err != nil {
		return nil, fmt.Errorf("containment policy %s: %w", path, err)
	}
	p, err := ParsePolicy(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("containment policy %s: %w", path, err)
	}
	return &loadedPolicy{policy: p, sum: sha256.Sum256(data)}, nil
}

// fileSum is the hash of the file's content, to see whether it changed without parsing it.
func fileSum(path string) ([sha256.Size]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("containment policy: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, MaxPolicyBytes+1)); err != nil {
		return [sha256.Size]byte{}, fmt.Errorf("containment policy %s: %w", path, err)
	}
	return [sha256.Size]byte(h.Sum(nil)), nil
}

// Policy returns the policy in force.
func (r *Responder) Policy() *Policy { return r.policy.Load().policy }

// watchPolicy re-reads the policy file on every reload request and whenever its content changed, until ctx is
// cancelled. Without a policy file it only waits.
func (r *Responder) watchPolicy(ctx context.Context) error {
	if r.opts.PolicyFile == "" {
		return nil
	}
	t := time.NewTicker(r.opts.PolicyCheck)
	defer t.Stop()
	var failed [sha256.Size]byte // the content that failed last, not reported again until it changes
	var failedRead string        // the read error reported last
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-r.opts.Reload:
			failed, failedRead = [sha256.Size]byte{}, ""
			if err := r.ReloadPolicy("reload request"); err != nil {
				if sum, err := fileSum(r.opts.PolicyFile); err == nil {
					failed = sum
				} else {
					failedRead = err.Error()
				}
			}
		case <-t.C:
			sum, err := fileSum(r.opts.PolicyFile)
			if err != nil {
				if err.Error() != failedRead {
					failedRead = err.Error()
					r.reloadFailed("file check", err)
				}
				continue
			}
			failedRead = ""
			if sum == r.policy.Load().sum || sum == failed {
				continue
			}
			if err := r.ReloadPolicy("file changed"); err != nil {
				failed = sum
			}
		}
	}
}

// ReloadPolicy re-reads the policy file (cause says why, for the log). A file that does not read or validate
// leaves the policy in force and is counted in vigil_containment_policy_reload_errors_total. A reload changes
// what the next incident versions decide; decisions already stored stay as they are.
func (r *Responder) ReloadPolicy(cause string) error {
	if r.opts.PolicyFile == "" {
		return nil
	}
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	lp, err := readPolicyFile(r.opts.PolicyFile)
	if err != nil {
		r.reloadFailed(cause, err)
		return err
	}
	old := r.policy.Load()
	if old.sum == lp.sum {
		r.logger.Info("containment policy unchanged", "file", r.opts.PolicyFile, "cause", cause)
		return nil
	}
	changes := policyChanges(old.policy, lp.policy)
	if len(changes) == 0 {
		changes = []string{"no change of entries, modes, actions or durations"}
	}
	// Logged before the policy is swapped in (under reloadMu, nothing can come between), so whoever sees the new
	// policy or its timestamp finds the line.
	r.logger.Info("containment policy reloaded; it applies to the next incident versions", "file", r.opts.PolicyFile,
		"cause", cause, "changes", changes)
	r.policy.Store(lp)
	r.m.policyLoaded.SetToCurrentTime()
	return nil
}

func (r *Responder) reloadFailed(cause string, err error) {
	r.logger.Error("containment policy not reloaded; the previous policy stays in force", "file", r.opts.PolicyFile,
		"cause", cause, "err", err)
	r.m.policyReloadErrors.Inc() // after the log line, so whoever sees the count finds the line
}

// policyChanges describes what differs between two policies, per scope (the global entries, each domain's
// accounts) and entry: added, removed, and changed mode, rules, target, actions, duration, window, tarpit delay and
// escalation. Reasons are not compared.
func policyChanges(old, cur *Policy) []string {
	var out []string
	scope := func(where string, a, b []Rule) {
		byName := func(rs []Rule) map[string]*Rule {
			m := make(map[string]*Rule, len(rs))
			for i := range rs {
				m[rs[i].Name] = &rs[i]
			}
			return m
		}
		am, bm := byName(a), byName(b)
		for _, x := range b {
			was, ok := am[x.Name]
			if !ok {
				out = append(out, fmt.Sprintf("%s%s added: %s", where, x.Name, summary(&x)))
				continue
			}
			if s, t := summary(was), summary(&x); s != t {
				out = append(out, fmt.Sprintf("%s%s: %s -> %s", where, x.Name, s, t))
			}
		}
		for _, x := range a {
			if _, ok := bm[x.Name]; !ok {
				out = append(out, fmt.Sprintf("%s%s removed", where, x.Name))
			}
		}
	}
	scope("", old.global, cur.global)
	var doms []string
	for d := range old.domains {
		doms = append(doms, d)
	}
	for d := range cur.domains {
		if _, ok := old.domains[d]; !ok {
			doms = append(doms, d)
		}
	}
	slices.Sort(doms)
	for _, d := range doms {
		a, inOld := old.domains[d]
		b, inNew := cur.domains[d]
		switch { // a domain's accounts without a domain of their own follow the global entries
		case !inNew:
			out = append(out, fmt.Sprintf("domain %s removed: its accounts follow the global entries", d))
			b = cur.global
		case !inOld:
			out = append(out, fmt.Sprintf("domain %s added", d))
			a = old.global
		}
		scope("domain "+d+" ", a, b)
	}
	return out
}

// summary is the part of a rule a reload reports: mode, rules, target, actions and their parameters.
func summary(x *Rule) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s on %s: %s for %s", x.Mode, x.Label(), x.Target, joinActions(x.Actions), x.Duration)
	if x.Combination() {
		fmt.Fprintf(&b, " within %s", x.Within)
	}
	if x.TarpitDelay > 0 {
		fmt.Fprintf(&b, " delay %ds", x.TarpitDelay)
	}
	if x.Then != nil {
		fmt.Fprintf(&b, " then after %s %s", time.Duration(x.Then.After), joinActions(x.Then.Actions))
	}
	return b.String()
}
