package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/vigil-ids/vigil/internal/cli"
)

// TestHelpConnectsNowhere: -h prints usage and returns without trying the (unreachable) NATS server.
func TestHelpConnectsNowhere(t *testing.T) {
	env := func(k string) string { return map[string]string{"VIGIL_NATS_URL": "nats://127.0.0.1:1"}[k] }
	for _, args := range [][]string{{"-h"}, {"ingest-log", "-h"}} {
		var out, errb bytes.Buffer
		err := cli.Ingest().Run(context.Background(), args, cli.Env{Getenv: env, Stdout: &out, Stderr: &errb})
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("ingest %s = %v; want usage", strings.Join(args, " "), err)
		}
		if s := strings.ToLower(out.String() + errb.String()); !strings.Contains(s, "usage") {
			t.Errorf("ingest %s printed no usage: %q", strings.Join(args, " "), s)
		}
	}
}
