package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/notify"
)

// newNotify builds the notifier (webhooks, Alertmanager, e-mail) when a sink is configured, tells the operator which
// ones run and returns its Run; it returns a Run that waits for the context when every sink is off. It runs in the
// auth API process and in the single node.
func newNotify(ctx context.Context, cfg *config.Config, js jetstream.JetStream, store *chstore.Store, name string,
	logger *slog.Logger, reg prometheus.Registerer, out io.Writer) (func(context.Context) error, error) {
	idle := func(ctx context.Context) error { <-ctx.Done(); return nil }
	o, err := cfg.Notify()
	if err != nil {
		return nil, err
	}
	if !o.Enabled() {
		fmt.Fprintf(out, "%s: notifications off: set VIGIL_NOTIFY_WEBHOOKS, VIGIL_ALERTMANAGER_URL or VIGIL_NOTIFY_SMTP to send them\n", name)
		return idle, nil
	}
	var logins notify.LoginSource
	if store != nil {
		logins = notify.StoreLogins{Store: store}
	}
	n, err := notify.New(ctx, js, o, logins, logger, reg)
	if err != nil {
		return nil, err
	}
	var sinks []string
	for _, w := range o.Webhooks {
		sinks = append(sinks, "webhook "+w.Name)
	}
	if o.Alertmanager != nil {
		sinks = append(sinks, "Alertmanager")
	}
	if o.Email != nil {
		sinks = append(sinks, "e-mail via "+o.Email.Relay)
	}
	fmt.Fprintf(out, "%s: notifications to %s\n", name, strings.Join(sinks, ", "))
	return n.Run, nil
}
