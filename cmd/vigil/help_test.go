package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"strings"
	"testing"
	"time"
)

// TestHelpConnectsNowhere runs every sub-command with -h against addresses where nothing listens: each must print
// its usage and return without trying to reach NATS, ClickHouse or a node.
func TestHelpConnectsNowhere(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"VIGIL_NATS_URL": "nats://127.0.0.1:1", "VIGIL_CLICKHOUSE_ADDR": "127.0.0.1:1", "VIGIL_DATA_DIR": t.TempDir()}[k]
	}
	for _, args := range [][]string{
		{"run", "-h"}, {"trust", "-h"}, {"trust", "add", "-h"}, {"trust", "list", "-h"}, {"trust", "remove", "-h"},
		{"geoip", "import", "-h"}, {"ingest-log", "-h"}, {"admin", "-h"}, {"admin", "create", "-h"}, {"admin", "rotate-key", "-h"},
		{"demo", "-h"}, {"bench", "-h"}, {"config", "-h"}, {"-h"},
	} {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		start := time.Now()
		err := run(ctx, args, env, nil, strings.NewReader(""), &out, &errb)
		cancel()
		said := strings.ToLower(out.String() + errb.String())
		if err != nil && !errors.Is(err, flag.ErrHelp) {
			t.Errorf("vigil %s = %v; want usage and no error", strings.Join(args, " "), err)
		}
		if !strings.Contains(said, "usage") {
			t.Errorf("vigil %s printed no usage: %q", strings.Join(args, " "), said)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("vigil %s took %v", strings.Join(args, " "), d)
		}
	}
}
