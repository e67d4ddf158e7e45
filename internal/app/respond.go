package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/audit"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// newResponder builds the containment responder of the auth API process (nil when VIGIL_RESPONDER=off): the policy
// from VIGIL_CONTAINMENT_POLICY, decisions in the decisions bucket, the trusted networks the console writes, audit
// records through the auth API's auditor, and kicks through doveadm when VIGIL_DOVEADM_URL is set. quarantine may
// be nil. Every receive on reload (SIGHUP; nil: none) re-reads the policy file, as does a change of its content.
func newResponder(ctx context.Context, cfg *config.Config, js jetstream.JetStream, aud *audit.Auditor, quarantine respond.Quarantine,
	reload <-chan struct{}, logger *slog.Logger, reg prometheus.Registerer) (*respond.Responder, *trustkv.Watcher, error) {
	if cfg.Responder == "off" {
		return nil, nil, nil
	}
	o := respond.Options{PolicyFile: cfg.ContainmentPolicy, PolicyCheck: cfg.PolicyCheck, Reload: reload,
		Replicas: cfg.StreamReplicas, Auditor: aud, Quarantine: quarantine}
	if cfg.DoveadmURL != "" {
		key, err := os.ReadFile(cfg.DoveadmKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("VIGIL_DOVEADM_KEY_FILE: %w", err)
		}
		k, err := respond.NewDoveadm(cfg.DoveadmURL, string(key))
		if err != nil {
			return nil, nil, fmt.Errorf("VIGIL_DOVEADM_URL: %w", err)
		}
		o.Kicker = k
	}
	store, err := decision.Open(ctx, js, decisionOptions(cfg))
	if err != nil {
		return nil, nil, err
	}
	ts, err := trustkv.Open(ctx, js, trustOptions(cfg))
	if err != nil {
		return nil, nil, err
	}
	// A watcher of its own: its metrics would collide with the detector's on the single node's registry.
	tw := trustkv.NewWatcher(ts, logger, prometheus.NewRegistry())
	r, err := respond.New(js, store, nil, ts, tw, o, logger.With("component", "responder"), reg)
	if err != nil {
		return nil, nil, fmt.Errorf("VIGIL_CONTAINMENT_POLICY: %w", err)
	}
	logger.Info("containment responder on", "policy", policyName(cfg.ContainmentPolicy), "kick", cfg.DoveadmURL != "")
	return r, tw, nil
}

func policyName(path string) string {
	if path == "" {
		return "recommended (observe only)"
	}
	return path
}

// responderCheck is the responder's part of /readyz: its consumers running, the decisions bucket reachable, a
// policy loaded. None when it is off.
func responderCheck(r *respond.Responder) []httpapi.Check {
	if r == nil {
		return nil
	}
	return []httpapi.Check{{Name: "responder", Check: r.Health}}
}

// runResponder returns the Run functions of the responder and its trusted-network watcher; none when it is off.
func runResponder(r *respond.Responder, tw *trustkv.Watcher) []func(context.Context) error {
	if r == nil {
		return nil
	}
	return []func(context.Context) error{r.Run, tw.Run}
}
