package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/respond"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// readyz returns the status and the report of base's /readyz.
func readyz(t *testing.T, base string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var report map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&report); err != nil {
		t.Fatalf("/readyz body: %v", err)
	}
	return resp.StatusCode, report
}

// loadedAt is vigil_containment_policy_loaded_timestamp_seconds on base's /metrics.
func loadedAt(t *testing.T, base string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^vigil_containment_policy_loaded_timestamp_seconds (\S+)$`).FindStringSubmatch(get(t, base+"/metrics"))
	if m == nil {
		t.Fatal("/metrics lacks vigil_containment_policy_loaded_timestamp_seconds")
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestNodeResponderReadinessAndReload: the node's /readyz names the responder; deleting its durable consumer on
// VIGIL_INCIDENTS makes the node not ready until the responder has created it again. A reload request re-reads
// the containment policy file, and an invalid one is counted and keeps the policy.
func TestNodeResponderReadinessAndReload(t *testing.T) {
	policy := filepath.Join(t.TempDir(), "containment.json")
	testenv.WriteFile(t, policy, `{"entries": [{"name": "brute", "rules": ["brute_force"], "actions": ["block_login"]}]}`)
	cfg, _ := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB"}, map[string]string{"VIGIL_CONTAINMENT_POLICY": policy,
		"VIGIL_CONTAINMENT_POLICY_CHECK": "1h"}) // only the reload request reads the file here
	reload := make(chan struct{})
	node := &Node{Config: cfg, Logger: slog.New(slog.DiscardHandler), Out: io.Discard, Reload: reload,
		IngestAddr: make(chan net.Addr, 1), NATSURL: make(chan string, 1), AuthAddr: make(chan net.Addr, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node Run = %v; want nil after cancel", err)
		}
	})
	var base string
	select {
	case addr := <-node.IngestAddr:
		base = "http://" + addr.String()
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("node did not start within 60s")
	}
	authBase := "http://" + (<-node.AuthAddr).String()
	waitReady(t, base)
	for _, b := range []string{base, authBase} {
		if code, report := readyz(t, b); code != 200 || report["responder"] != "ok" {
			t.Fatalf("%s/readyz = %d %v; want 200 with responder ok", b, code, report)
		}
	}

	nc, err := nats.Connect(<-node.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteConsumer(context.Background(), natsbus.IncidentsStream, respond.DefaultConsumer); err != nil {
		t.Fatal(err)
	}
	var failure string
	testenv.Eventually(t, 10*time.Second, "/readyz not ready for the responder", func() bool {
		code, report := readyz(t, base)
		failure = report["responder"]
		return code == http.StatusServiceUnavailable && failure != "ok"
	})
	if !strings.Contains(failure, "incidents consumer "+respond.DefaultConsumer) {
		t.Errorf("/readyz responder = %q; want it to name the incidents consumer", failure)
	}
	testenv.Eventually(t, 20*time.Second, "/readyz ready again", func() bool {
		code, report := readyz(t, base)
		return code == 200 && report["responder"] == "ok"
	})

	before := loadedAt(t, base)
	testenv.WriteFile(t, policy, `{"mode": "enforce", "entries": [{"name": "brute", "rules": ["brute_force"], "actions": ["block_login"]}]}`)
	reload <- struct{}{}
	testenv.Eventually(t, 10*time.Second, "the policy reloaded on request", func() bool { return loadedAt(t, base) > before })
	testenv.WriteFile(t, policy, `{"entries": [{"name": "brute"}]}`)
	reload <- struct{}{}
	testenv.Eventually(t, 10*time.Second, "the invalid policy counted", func() bool {
		return strings.Contains(get(t, base+"/metrics"), "vigil_containment_policy_reload_errors_total 1")
	})
	if code, report := readyz(t, base); code != 200 || report["responder"] != "ok" {
		t.Errorf("/readyz after an invalid policy file = %d %v; want ready (the previous policy stays in force)", code, report)
	}
}
