package app

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestEnforceSwitch: with a mail-server endpoint on, ingest holds a decisions index and its readiness check;
// VIGIL_ENFORCE=off leaves the endpoints without one (they only watch).
func TestEnforceSwitch(t *testing.T) {
	nc := testenv.Connect(t, testenv.NATS(t))
	for _, tt := range []struct {
		enforce string
		want    bool
	}{{"on", true}, {"off", false}} {
		cfg, err := config.Load("ingest", nil, func(k string) string {
			return map[string]string{"VIGIL_DOVECOT_TOKENS": "t", "VIGIL_ENFORCE": tt.enforce, "VIGIL_INGEST_TOKENS": "ingest-test-token-0123"}[k]
		}, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		p, err := newPipeline(context.Background(), cfg, nc, true, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		named := false
		for _, c := range p.checks(nil) {
			named = named || c.Name == "decisions"
		}
		if (p.decisions != nil) != tt.want || named != tt.want {
			t.Errorf("VIGIL_ENFORCE=%s: index %v, readiness check %v; want both %v", tt.enforce, p.decisions != nil, named, tt.want)
		}
		p.close()
	}
	if _, err := config.Load("ingest", nil, func(k string) string { return map[string]string{"VIGIL_ENFORCE": "maybe"}[k] }, io.Discard); err == nil {
		t.Error("VIGIL_ENFORCE=maybe accepted; want an error")
	}
}
