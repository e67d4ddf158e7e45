package app

import (
	"context"
	"log/slog"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/audit"
	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/mailbox2fa"
)

// mountMailbox2FA adds mailbox-user 2FA to the auth API when VIGIL_MAILBOX_2FA_URL is set: step-up from the
// ClickHouse incidents with its outcomes recorded on them, second-factor results as webmail login events through the auditor.
func mountMailbox2FA(ctx context.Context, cfg *config.Config, js jetstream.JetStream, key []byte, s *authapi.Server, store *chstore.Store,
	aud *audit.Auditor, logger *slog.Logger, reg prometheus.Registerer) error {
	o, on, err := cfg.Mailbox2FA()
	if err != nil || !on {
		return err
	}
	d := mailbox2fa.Deps{Gate: s, Events: aud}
	if store != nil {
		d.Suspicion, d.Outcomes = store, store
	}
	_, err = mailbox2fa.New(ctx, js, key, o, d, logger, reg)
	return err
}
