package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/bench"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/demo"
)

func demoCommand() *Command {
	var o demo.Options
	return &Command{
		Name:     "demo",
		Summary:  "feed a generated day of events to a running node and print the incidents",
		Synopsis: "[-users N] [-seed N] [-wait DURATION]",
		Help:     "Talks to the node at VIGIL_INGEST_ADDR, VIGIL_NATS_URL and VIGIL_CLICKHOUSE_ADDR; exits non-zero when the incidents differ from the day's ground truth.",
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.IntVar(&o.Users, "users", 3000, "users in the generated day")
			fs.Uint64Var(&o.Seed, "seed", uint64(time.Now().UnixNano()), "random seed (same seed, same day)")
			fs.DurationVar(&o.Wait, "wait", 3*time.Minute, "longest wait for the detector to commit every event")
		},
		Run: withSettings(func(ctx context.Context, cfg *config.Config, e Env) error {
			return demo.Demo(ctx, cfg, o, e.Stdout, e.Stderr)
		}),
	}
}

func benchCommand() *Command {
	var o bench.Options
	return &Command{
		Name:     "bench",
		Summary:  "measure the pipeline against raw JetStream and ClickHouse baselines",
		Synopsis: "[-users N] [-mem-users N] [-clients N] [-mail] [-cpuprofile FILE]",
		Flags: func(fs *flag.FlagSet, _ func(string) string) {
			fs.IntVar(&o.Users, "users", 20000, "users in the generated events for the throughput runs")
			fs.IntVar(&o.MemUsers, "mem-users", 100000, "users for the memory-per-user measurement")
			fs.IntVar(&o.Clients, "clients", 4, "concurrent HTTP clients posting to ingest")
			fs.BoolVar(&o.Mail, "mail", false, "only the mail-server paths (Dovecot policy endpoint, Postfix policy server, log parser)")
			fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of the end-to-end run to this file")
		},
		Run: withSettings(func(ctx context.Context, cfg *config.Config, e Env) error {
			return bench.Bench(ctx, cfg, o, e.Stdout, e.Stderr)
		}),
	}
}

func configCommand() *Command {
	return &Command{
		Name:    "config",
		Summary: "print the configuration reference (every VIGIL_* variable)",
		Help:    "Prints every VIGIL_* variable, its flag and default, as the README's Markdown table.",
		Run: func(_ context.Context, e Env) error {
			_, err := fmt.Fprint(e.Stdout, config.Reference())
			return err
		},
	}
}
