package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/user"
	"text/tabwriter"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

const trustHelp = "Talks to the node's NATS at VIGIL_NATS_URL; the bucket is VIGIL_TRUSTED_BUCKET."

func trustAdd() *Command {
	var scope, subject, desc string
	return &Command{
		Name:     "trust add",
		Summary:  `mark a network as safe (trusted globally, for a domain or for a user)`,
		Synopsis: "-scope global|domain|user [-subject DOMAIN|USER] -description TEXT PREFIX",
		Help:     "PREFIX is an address or CIDR range, IPv4 /17-/32 or IPv6 /32-/128. " + trustHelp,
		MinArgs:  1, MaxArgs: 1,
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.StringVar(&scope, "scope", "", "global, domain or user")
			fs.StringVar(&subject, "subject", "", "the domain or user the range is trusted for")
			fs.StringVar(&desc, "description", "", "who or what this network is (required)")
		},
		Run: func(ctx context.Context, e Env) error {
			p, err := netset.ParsePrefix(e.Args[0])
			if err != nil {
				return usagef("%w", err)
			}
			return withTrust(ctx, e, func(store *trustkv.Store) error {
				en, err := store.Add(ctx, netset.Entry{Scope: netset.Scope(scope), Subject: subject, Prefix: p, Description: desc, CreatedBy: actor()})
				if err != nil {
					return fmt.Errorf("trust add: %w", err)
				}
				fmt.Fprintf(e.Stdout, "added %s: %s %s %s (%s)\n", en.ID, en.Scope, orDash(en.Subject), en.Prefix, en.Description)
				return nil
			})
		},
	}
}

func trustList() *Command {
	var asJSON bool
	return &Command{
		Name:     "trust list",
		Summary:  "list the trusted networks",
		Synopsis: "[-json]",
		Help:     trustHelp,
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.BoolVar(&asJSON, "json", false, "print JSON")
		},
		Run: func(ctx context.Context, e Env) error {
			return withTrust(ctx, e, func(store *trustkv.Store) error {
				es, err := store.List(ctx)
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(e.Stdout)
					enc.SetIndent("", "  ")
					if es == nil {
						es = []netset.Entry{}
					}
					return enc.Encode(es)
				}
				tw := tabwriter.NewWriter(e.Stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tSCOPE\tSUBJECT\tPREFIX\tDESCRIPTION\tCREATED")
				for _, en := range es {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s\n", en.ID, en.Scope, orDash(en.Subject), en.Prefix, en.Description, en.CreatedAt.Format("2006-01-02 15:04"), en.CreatedBy)
				}
				return tw.Flush()
			})
		},
	}
}

func trustRemove() *Command {
	return &Command{
		Name:     "trust remove",
		Summary:  "remove a trusted network",
		Synopsis: "ID",
		Help:     "ID is the one trust add printed and trust list shows. " + trustHelp,
		MinArgs:  1, MaxArgs: 1,
		Run: func(ctx context.Context, e Env) error {
			return withTrust(ctx, e, func(store *trustkv.Store) error {
				if err := store.Remove(ctx, e.Args[0]); err != nil {
					return fmt.Errorf("trust remove: %w", err)
				}
				fmt.Fprintf(e.Stdout, "removed %s\n", e.Args[0])
				return nil
			})
		},
	}
}

// withTrust connects to the node's NATS and calls f with the trusted networks' store.
func withTrust(ctx context.Context, e Env, f func(*trustkv.Store) error) error {
	return withJetStream(ctx, e, "vigil-trust", func(cfg *config.Config, _ *nats.Conn, js jetstream.JetStream) error {
		store, err := trustkv.Open(ctx, js, trustkv.Options{Bucket: cfg.TrustedBucket})
		if err != nil {
			return err
		}
		return f(store)
	})
}

// withJetStream reads the settings, connects to the node's NATS as name and calls f; the connection ends with f.
func withJetStream(ctx context.Context, e Env, name string, f func(*config.Config, *nats.Conn, jetstream.JetStream) error) error {
	cfg, logger, err := settings(e)
	if err != nil {
		return err
	}
	nc, err := natsbus.Connect(cfg.NATSURL, name, logger)
	if err != nil {
		return fmt.Errorf("%w (is vigil running? set VIGIL_NATS_URL)", err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	return f(cfg, nc, js)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// actor names who runs the command: the OS user at the host.
func actor() string {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	if h, err := os.Hostname(); err == nil {
		name += "@" + h
	}
	return name
}
