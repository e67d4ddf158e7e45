package app

import (
	"time"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/dovecot"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/postfix"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// Each component's Options are built here, in one place, from the validated configuration; the wiring in
// node.go, services.go, auth.go and clickhouse.go only calls these.

func streamOptions(cfg *config.Config) natsbus.StreamOptions {
	return natsbus.StreamOptions{Replicas: cfg.StreamReplicas, MaxAge: cfg.StreamMaxAge, Duplicates: cfg.Duplicates}
}

func ingestOptions(cfg *config.Config) ingest.Options {
	return ingest.Options{Tokens: cfg.IngestTokens, MaxBody: cfg.IngestMaxBody}
}

// dovecotOptions: decisions is the index the allow command answers from (nil: observe only).
func dovecotOptions(cfg *config.Config, decisions *decision.Index) dovecot.Options {
	return dovecot.Options{Header: cfg.DovecotHeader, Tokens: cfg.DovecotTokens, Decisions: decisions, BlockMessage: cfg.BlockMessage}
}

// postfixOptions: decisions is the index END-OF-MESSAGE answers from (nil: observe only). newPipeline adds the
// quarantine's recorder of held messages (postfix.Options.Held).
func postfixOptions(_ *config.Config, decisions *decision.Index) postfix.Options {
	return postfix.Options{Decisions: decisions}
}

func decisionOptions(cfg *config.Config) decision.Options {
	return decision.Options{Bucket: cfg.DecisionsBucket, Replicas: cfg.StreamReplicas}
}

func trustOptions(cfg *config.Config) trustkv.Options {
	return trustkv.Options{Bucket: cfg.TrustedBucket, Replicas: cfg.StreamReplicas}
}

// detectorOptions fails when the rule thresholds or the owned partitions in cfg do not parse.
func detectorOptions(cfg *config.Config) (detector.Options, error) {
	rules, err := cfg.Rules()
	if err != nil {
		return detector.Options{}, err
	}
	owned, err := cfg.OwnedPartitions()
	if err != nil {
		return detector.Options{}, err
	}
	return detector.Options{
		Partitions:    cfg.Partitions,
		Owned:         owned,
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		Rules:         rules,
		Group:         cfg.DetectorGroup == "on",
		GroupTTL:      cfg.DetectorGroupTTL,
	}, nil
}

func storeOptions(cfg *config.Config) chstore.Options {
	return chstore.Options{
		Addr:        cfg.ClickHouseAddr,
		Database:    cfg.ClickHouseDatabase,
		Username:    cfg.ClickHouseUser,
		Password:    cfg.ClickHousePassword,
		DialTimeout: 3 * time.Second,
		Cluster:     cfg.ClickHouseCluster,
	}
}

func authOptions(cfg *config.Config) authapi.Options {
	return authapi.Options{Issuer: cfg.AuthIssuer, SessionTTL: cfg.AuthSessionTTL, IdleTimeout: cfg.AuthIdleTimeout,
		Require2FA: cfg.AuthRequire2FA, TrustedProxies: cfg.TrustedProxies, Replicas: cfg.StreamReplicas}
}
