package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/audit"
	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/mailbox2fa"
)

// mountMailbox2FA adds mailbox-user 2FA to the auth API when VIGIL_MAILBOX_2FA_URL is set: step-up from the
// ClickHouse incidents with its outcomes recorded on them and from the block_login decisions in blocks (nil: none),
// second-factor results as webmail login events through the auditor.
func mountMailbox2FA(ctx context.Context, cfg *config.Config, js jetstream.JetStream, key []byte, s *authapi.Server, store *chstore.Store,
	blocks *decision.Index, aud *audit.Auditor, logger *slog.Logger, reg prometheus.Registerer) error {
	o, on, err := cfg.Mailbox2FA()
	if err != nil || !on {
		return err
	}
	d := mailbox2fa.Deps{Gate: s, Events: aud}
	if store != nil {
		d.Suspicion, d.Outcomes = store, store
	}
	if blocks != nil {
		d.Decisions = pendingBlocks{blocks}
	}
	_, err = mailbox2fa.New(ctx, js, key, o, d, logger, reg)
	return err
}

// pendingBlocks tells mailbox 2FA that a block_login is being considered for a user: a block_login decision on the
// user that is neither lifted nor expired, enforced or only recorded in observe mode.
type pendingBlocks struct{ idx *decision.Index }

var errDecisionsLoading = errors.New("the decisions are not loaded yet")

// BlockLoginPending answers from memory; before the index has loaded it errs, and mailbox 2FA then asks for the
// second factor.
func (p pendingBlocks) BlockLoginPending(_ context.Context, user string) (bool, error) {
	select {
	case <-p.idx.Ready():
	default:
		return false, errDecisionsLoading
	}
	now := time.Now()
	for _, d := range p.idx.ForSubject(decision.User, user) {
		if d.Action == decision.BlockLogin && !d.Lifted() && now.Before(d.ExpiresAt) {
			return true, nil
		}
	}
	return false, nil
}
