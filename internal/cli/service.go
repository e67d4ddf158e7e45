package cli

import (
	"context"
	"flag"
	"io"
	"log/slog"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/config"
)

// service is a command running a long-lived part of Vigil, configured by every setting's flag.
func service(name, summary string, run func(ctx context.Context, cfg *config.Config, logger *slog.Logger, out io.Writer) error) *Command {
	return serviceCommand(name, summary, false, func(ctx context.Context, cfg *config.Config, _ <-chan struct{}, logger *slog.Logger, out io.Writer) error {
		return run(ctx, cfg, logger, out)
	})
}

// reloadingService is a service that takes the operator's reload requests (Env.Reload: SIGHUP).
func reloadingService(name, summary string, run func(ctx context.Context, cfg *config.Config, reload <-chan struct{}, logger *slog.Logger, out io.Writer) error) *Command {
	return serviceCommand(name, summary, true, run)
}

func serviceCommand(name, summary string, reloads bool, run func(ctx context.Context, cfg *config.Config, reload <-chan struct{}, logger *slog.Logger, out io.Writer) error) *Command {
	var (
		cfg    *config.Config
		envErr error
	)
	return &Command{
		Name:     name,
		Summary:  summary,
		Synopsis: "[flags]",
		Help:     "Every flag has a VIGIL_* environment variable (\"vigil config\" lists them).",
		Flags:    func(fs *flag.FlagSet, getenv func(string) string) { cfg, envErr = config.Register(fs, getenv) },
		Run: func(ctx context.Context, e Env) error {
			if envErr != nil {
				return envErr
			}
			if err := cfg.Resolve(); err != nil {
				return err
			}
			logger, err := cfg.Logger(e.Stderr)
			if err != nil {
				return err
			}
			var reload <-chan struct{}
			if reloads && e.Reload != nil {
				reload = e.Reload()
			}
			return run(ctx, cfg, reload, logger, e.Stdout)
		},
	}
}

func node() *Command {
	return reloadingService("run", "run the single-node pipeline (the default)", func(ctx context.Context, cfg *config.Config, reload <-chan struct{}, logger *slog.Logger, out io.Writer) error {
		return (&app.Node{Config: cfg, Logger: logger, Out: out, Reload: reload}).Run(ctx)
	})
}

func mailhostService() *Command {
	c := service("mailhost", "run on the Postfix host: release and delete held mail as the console asks (postsuper)", app.RunMailhost)
	c.Help = "Consumes this host's release and delete commands (VIGIL_MAILHOST_NAME) from the NATS at VIGIL_NATS_URL, checks\n" +
		"each queue id and that the message is in the hold queue, runs postsuper -H or -d without a shell, and reports back.\n" +
		"postsuper runs only as root (or through VIGIL_MAILHOST_SUDO). See docs/quarantine.md. " + c.Help
	return c
}

func ingestService() *Command {
	return service("", "accept events over HTTP and store them in an external NATS JetStream", app.RunIngest)
}

func detectorService() *Command {
	return service("", "consume events from an external NATS JetStream and write rows and incidents to ClickHouse", app.RunDetector)
}

func authService() *Command {
	return reloadingService("", "run the admin panel's auth API against an external NATS and ClickHouse", app.RunAuthAPI)
}

// settings reads the configuration from the environment alone (the operator's commands take no setting flags) and
// builds its logger.
func settings(e Env) (*config.Config, *slog.Logger, error) {
	cfg, err := config.Load("vigil", nil, e.Getenv, e.Stderr)
	if err != nil {
		return nil, nil, err
	}
	logger, err := cfg.Logger(e.Stderr)
	return cfg, logger, err
}

// withSettings is a Run that reads the settings from the environment before it calls run.
func withSettings(run func(ctx context.Context, cfg *config.Config, e Env) error) func(context.Context, Env) error {
	return func(ctx context.Context, e Env) error {
		cfg, _, err := settings(e)
		if err != nil {
			return err
		}
		return run(ctx, cfg, e)
	}
}
