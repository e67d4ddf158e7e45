package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

const decisionHelp = "Talks to the node's NATS at VIGIL_NATS_URL; the bucket is VIGIL_DECISIONS_BUCKET."

const decisionAuditHelp = " The change is audited like the console's: on NATS (vigil.audit.<action>) and in ClickHouse's audit_log " +
	"(VIGIL_CLICKHOUSE_*); when the audit record cannot be written the command says so and exits 1."

func decisionList() *Command {
	var state, kind, action, subject, incident string
	var asJSON bool
	return &Command{
		Name:     "decision list",
		Summary:  "list containment decisions (in force by default)",
		Synopsis: "[-state active|observed|lifted|expired|all] [-kind user|network] [-action ACTION] [-subject S] [-incident ID] [-json]",
		Help: "Observe-mode decisions (what the policy would have done) have state observed and are shown as \"would " +
			"ACTION\". -subject takes a user, a network, or an address (which also finds the networks containing it). " + decisionHelp,
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&state, "state", "active", "active, observed, lifted, expired or all")
			fs.StringVar(&kind, "kind", "", "user or network")
			fs.StringVar(&action, "action", "", "hold_mail, defer_mail, block_login, tarpit or kick")
			fs.StringVar(&subject, "subject", "", "a user, a network or an address")
			fs.StringVar(&incident, "incident", "", "the causing incident's id")
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, e Env) error {
			f := decision.Filter{Kind: decision.Kind(kind), Action: decision.Action(action), Subject: subject, IncidentID: incident}
			switch {
			case state == "all":
			case slices.Contains(decision.States, decision.State(state)):
				f.State = decision.State(state)
			default:
				return usagef("-state %q: want active, observed, lifted, expired or all", state)
			}
			if kind != "" && kind != string(decision.User) && kind != string(decision.Network) {
				return usagef("-kind %q: want user or network", kind)
			}
			if action != "" && !slices.Contains(decision.Actions, decision.Action(action)) {
				return usagef("-action %q: want one of %s", action, actionList())
			}
			return withDecisions(ctx, e, func(_ *config.Config, _ *nats.Conn, store *decision.Store) error {
				all, err := store.List(ctx)
				if err != nil {
					return err
				}
				now := time.Now()
				out := []decision.Decision{}
				for i := range all {
					if f.Match(&all[i], now) {
						out = append(out, all[i])
					}
				}
				if asJSON {
					type view struct {
						decision.Decision
						State decision.State `json:"state"`
					}
					vs := make([]view, len(out))
					for i, d := range out {
						vs[i] = view{d, d.State(now)}
					}
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(vs)
				}
				tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSTATE\tKIND\tSUBJECT\tACTION\tREASON\tCAUSE\tCREATED\tEXPIRES")
				for _, d := range out {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, d.State(now), d.Kind, d.Subject, actionText(d), orDash(d.Reason),
						cause(d), d.CreatedAt.Format("2006-01-02 15:04"), d.ExpiresAt.Format("2006-01-02 15:04"))
				}
				return tw.Flush()
			})
		},
	}
}

// actionText is the action as people read it: "would hold_mail" for an observe-mode decision, "tarpit 3s".
func actionText(d decision.Decision) string {
	a := string(d.Action)
	if d.Action == decision.Tarpit {
		a += fmt.Sprintf(" %ds", d.Delay)
	}
	if d.Observe {
		return "would " + a
	}
	return a
}

func cause(d decision.Decision) string {
	if d.IncidentID != "" {
		return "incident " + d.IncidentID + " (" + d.Rule + ")"
	}
	return "by " + d.CreatedBy
}

func actionList() string {
	s := make([]string, len(decision.Actions))
	for i, a := range decision.Actions {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func decisionAdd() *Command {
	var kind, action, reason, until string
	var delay int
	var dur time.Duration
	return &Command{
		Name:     "decision add",
		Summary:  "put a containment decision on a user or a network, in force at once",
		Synopsis: "-kind user|network -action ACTION [-delay SECONDS] -reason TEXT [-for DURATION | -until TIME] SUBJECT",
		Help: "SUBJECT is a user name, or an address or CIDR network (IPv4 /16 or narrower, IPv6 /32 or narrower). " +
			"Users take hold_mail, defer_mail, block_login or kick; networks block_login or tarpit (with -delay 1-15). " +
			"The decision lasts -for (default 24h, at most 720h) or -until an RFC 3339 time. " + decisionHelp + decisionAuditHelp,
		MinArgs: 1, MaxArgs: 1,
		Required: []string{"kind", "action", "reason"},
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&kind, "kind", "", "user or network")
			fs.StringVar(&action, "action", "", "hold_mail, defer_mail, block_login, tarpit or kick")
			fs.IntVar(&delay, "delay", 0, "tarpit only: seconds (1-15)")
			fs.StringVar(&reason, "reason", "", "why; the mail client is shown it (required)")
			fs.DurationVar(&dur, "for", 0, "how long it stays in force, like 4h (default 24h)")
			fs.StringVar(&until, "until", "", "instead of -for: when it ends (RFC 3339)")
		},
		Run: func(ctx context.Context, e Env) error {
			now := time.Now().UTC().Truncate(time.Second)
			who := actor()
			d := decision.Decision{Kind: decision.Kind(kind), Subject: e.Args[0], Action: decision.Action(action), Delay: delay,
				Reason: strings.TrimSpace(reason), CreatedBy: who, CreatedAt: now}
			switch {
			case dur != 0 && until != "":
				return usagef("give -for or -until, not both")
			case dur < 0:
				return usagef("-for %s: must be positive", dur)
			case dur > 0:
				d.ExpiresAt = now.Add(dur)
			case until != "":
				t, err := time.Parse(time.RFC3339, until)
				if err != nil {
					return usagef("-until %q: want an RFC 3339 time like 2026-12-03T09:00:00Z", until)
				}
				if !t.After(now) {
					return usagef("-until %s: must be in the future", until)
				}
				d.ExpiresAt = t
			}
			if d.Reason == "" {
				return usagef("-reason: required")
			}
			d.ID = decision.ID(d.Kind, strings.ToLower(strings.TrimSpace(d.Subject)), d.Action, "cli:"+nonce())
			if err := d.Normalise(now); err != nil {
				return usagef("%s", strings.TrimPrefix(err.Error(), decision.ErrInvalid.Error()+": "))
			}
			return withDecisions(ctx, e, func(cfg *config.Config, nc *nats.Conn, store *decision.Store) error {
				stored, _, err := store.Put(ctx, d)
				if err != nil {
					return fmt.Errorf("decision add: %w", err)
				}
				fmt.Fprintf(e.Stdout, "added %s: %s %s %s until %s (%s)\n", stored.ID, stored.Kind, stored.Subject, actionText(stored),
					stored.ExpiresAt.Format(time.RFC3339), stored.Reason)
				return auditCLI(ctx, cfg, nc, e, "decision_add", who, stored.ID, "", stored)
			})
		},
	}
}

func decisionLift() *Command {
	var reason string
	return &Command{
		Name:     "decision lift",
		Summary:  "lift a containment decision (the record stays, marked lifted)",
		Synopsis: "-reason TEXT ID",
		Help:     "ID is the one decision add printed and decision list shows. " + decisionHelp + decisionAuditHelp,
		MinArgs:  1, MaxArgs: 1,
		Required: []string{"reason"},
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&reason, "reason", "", "why it is lifted (required)")
		},
		Run: func(ctx context.Context, e Env) error {
			id := e.Args[0]
			if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
				return usagef("ID %.40q: want the 32 lower-case hex digits decision list shows", id)
			}
			reason = strings.TrimSpace(reason)
			if err := decision.CheckLiftReason(reason); err != nil || reason == "" {
				return usagef("-reason: 1-%d bytes of printable text without line breaks", decision.MaxReasonLen)
			}
			who := actor()
			return withDecisions(ctx, e, func(cfg *config.Config, nc *nats.Conn, store *decision.Store) error {
				before, err := store.Get(ctx, id)
				if err != nil {
					return fmt.Errorf("decision lift: %w", err)
				}
				if !before.Lifted() && !time.Now().Before(before.ExpiresAt) {
					return fmt.Errorf("decision lift: %s expired at %s; there is nothing to lift", id, before.ExpiresAt.Format(time.RFC3339))
				}
				lifted, err := store.Lift(ctx, id, who, reason)
				if errors.Is(err, decision.ErrLifted) {
					return fmt.Errorf("decision lift: %s was lifted already by %s at %s (%s)", id, lifted.LiftedBy, lifted.LiftedAt.Format(time.RFC3339), lifted.LiftReason)
				}
				if err != nil {
					return fmt.Errorf("decision lift: %w", err)
				}
				fmt.Fprintf(e.Stdout, "lifted %s: %s %s %s\n", id, lifted.Kind, lifted.Subject, actionText(lifted))
				return auditCLI(ctx, cfg, nc, e, "decision_lift", who, id, string(mustJSON(before)), lifted)
			})
		},
	}
}

// withDecisions connects to the node's NATS and calls f with the decision store.
func withDecisions(ctx context.Context, e Env, f func(*config.Config, *nats.Conn, *decision.Store) error) error {
	return withJetStream(ctx, e, "vigil-decision", func(cfg *config.Config, nc *nats.Conn, js jetstream.JetStream) error {
		store, err := decision.Open(ctx, js, decision.Options{Bucket: cfg.DecisionsBucket, Replicas: cfg.StreamReplicas})
		if err != nil {
			return err
		}
		return f(cfg, nc, store)
	})
}

// auditCLI records a change made on the command line as the auth API records the console's: published on
// vigil.audit.<action> and written to ClickHouse's audit_log (client_ip "cli").
func auditCLI(ctx context.Context, cfg *config.Config, nc *nats.Conn, e Env, action, who, target, before string, after decision.Decision) error {
	row := chstore.AuditRow{EventID: "a_" + nonce(), Time: time.Now().UTC(), Action: action, Actor: who, ClientIP: "cli", Target: target,
		Result: "success", Before: before, After: string(mustJSON(after))}
	data := mustJSON(map[string]any{"event_id": row.EventID, "time": row.Time, "action": action, "actor": who, "client_ip": row.ClientIP,
		"target": target, "result": row.Result, "before": before, "after": row.After})
	if err := nc.Publish(natsbus.AuditSubject(action), data); err == nil {
		nc.Flush()
	}
	store, stop, err := app.OpenStore(ctx, cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), io.Discard)
	if err == nil {
		defer stop()
		defer store.Close()
		err = store.WriteAudit(ctx, []chstore.AuditRow{row})
	}
	if err != nil {
		return fmt.Errorf("%s %s is done, but its audit record could not be written to ClickHouse: %w", action, target, err)
	}
	return nil
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func nonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
