package trustkv

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"text/tabwriter"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/netset"
)

const cliUsage = `usage:
  vigil trust add -scope global|domain|user [-subject DOMAIN|USER] -description TEXT PREFIX
  vigil trust list [-json]
  vigil trust remove ID

PREFIX is an address or CIDR range, IPv4 /17-/32 or IPv6 /32-/128.
`

// RunCLI implements vigil trust add|list|remove against the bucket.
func RunCLI(ctx context.Context, js jetstream.JetStream, bucket string, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, cliUsage)
		return errors.New("trust: missing sub-command")
	}
	store, err := Open(ctx, js, Options{Bucket: bucket})
	if err != nil {
		return err
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("vigil trust "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, cliUsage) }
	switch cmd {
	case "add":
		scope := fs.String("scope", "", "global, domain or user")
		subject := fs.String("subject", "", "the domain or user the range is trusted for")
		desc := fs.String("description", "", "who or what this network is (required)")
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errors.New("trust add: want exactly one PREFIX after the flags")
		}
		p, err := netset.ParsePrefix(fs.Arg(0))
		if err != nil {
			return fmt.Errorf("trust add: %w", err)
		}
		e, err := store.Add(ctx, netset.Entry{Scope: netset.Scope(*scope), Subject: *subject, Prefix: p, Description: *desc, CreatedBy: actor()})
		if err != nil {
			return fmt.Errorf("trust add: %w", err)
		}
		fmt.Fprintf(stdout, "added %s: %s %s %s (%s)\n", e.ID, e.Scope, orDash(e.Subject), e.Prefix, e.Description)
		return nil
	case "list":
		asJSON := fs.Bool("json", false, "print JSON")
		if err := fs.Parse(args); err != nil {
			return err
		}
		es, err := store.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			if es == nil {
				es = []netset.Entry{}
			}
			return enc.Encode(es)
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tSCOPE\tSUBJECT\tPREFIX\tDESCRIPTION\tCREATED")
		for _, e := range es {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s %s\n", e.ID, e.Scope, orDash(e.Subject), e.Prefix, e.Description, e.CreatedAt.Format("2006-01-02 15:04"), e.CreatedBy)
		}
		return tw.Flush()
	case "remove":
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errors.New("trust remove: want exactly one ID")
		}
		if err := store.Remove(ctx, fs.Arg(0)); err != nil {
			return fmt.Errorf("trust remove: %w", err)
		}
		fmt.Fprintf(stdout, "removed %s\n", fs.Arg(0))
		return nil
	}
	fmt.Fprint(stderr, cliUsage)
	return fmt.Errorf("trust: unknown sub-command %q", cmd)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

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
