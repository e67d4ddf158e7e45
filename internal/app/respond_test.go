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

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
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
	done := runNode(t, node)
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

// TestAuthAPIResponderReadiness: the auth API process's /readyz names the responder; while its NATS server is
// stopped the responder is not ready, and it is ready again once the server is back on the same data.
func TestAuthAPIResponderReadiness(t *testing.T) {
	natsAddr, dir := freeAddr(t), t.TempDir()
	host, port, _ := net.SplitHostPort(natsAddr)
	p, _ := strconv.Atoi(port)
	startNATS := func() *server.Server {
		s, err := server.NewServer(&server.Options{Host: host, Port: p, NoLog: true, NoSigs: true, JetStream: true, StoreDir: dir})
		if err != nil {
			t.Fatal(err)
		}
		go s.Start()
		if !s.ReadyForConnections(10 * time.Second) {
			t.Fatal("nats server not ready after 10s")
		}
		return s
	}
	ns := startNATS()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	chAddr, db := testenv.ClickHouseDB(t)
	authAddr := freeAddr(t)
	env := map[string]string{"VIGIL_NATS_URL": "nats://" + natsAddr, "VIGIL_CLICKHOUSE_ADDR": chAddr, "VIGIL_CLICKHOUSE_DATABASE": db,
		"VIGIL_AUTH_KEY": strings.Repeat("ab", 32), "VIGIL_AUTH_ADDR": authAddr}
	cfg, err := config.Load("authapi", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunAuthAPI(ctx, cfg, nil, slog.New(slog.DiscardHandler), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunAuthAPI = %v; want nil after cancel", err)
		}
	})
	base := "http://" + authAddr
	ready := func() bool {
		select {
		case err := <-done:
			t.Fatalf("RunAuthAPI stopped: %v", err)
		default:
		}
		resp, err := http.Get(base + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	testenv.Eventually(t, 60*time.Second, "the auth API ready", ready)
	if code, report := readyz(t, base); code != 200 || report["responder"] != "ok" {
		t.Fatalf("/readyz = %d %v; want 200 with responder ok", code, report)
	}

	ns.Shutdown()
	ns.WaitForShutdown()
	var report map[string]string
	testenv.Eventually(t, 10*time.Second, "/readyz not ready for the responder without NATS", func() bool {
		var code int
		code, report = readyz(t, base)
		return code == http.StatusServiceUnavailable && report["responder"] != "ok"
	})
	t.Logf("/readyz without NATS: %v", report)
	ns = startNATS()
	testenv.Eventually(t, 30*time.Second, "/readyz ready again with NATS back", func() bool {
		code, report := readyz(t, base)
		return code == 200 && report["responder"] == "ok"
	})

	// Ready again means consuming again: an address-keyed incident becomes the recommended policy's observed tarpit.
	nc, err := nats.Connect(env["VIGIL_NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ws := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	inc := incident.Incident{ID: incident.ID(incident.Rule("brute_force"), "addr:198.51.100.0/24", ws), Rule: incident.Rule("brute_force"), Status: incident.StatusOpen,
		WindowStart: ws, FirstSeen: ws, LastSeen: ws.Add(time.Minute), IPs: []string{"198.51.100.7"}, Version: 1,
		Addr: &incident.Addr{Key: "198.51.100.0/24", Failures: 40, Targets: 1}}
	data, _ := json.Marshal(inc)
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: natsbus.IncidentSubject(string(inc.Rule)), Data: data},
		jetstream.WithMsgID(natsbus.IncidentMsgID(inc.ID, inc.Version))); err != nil {
		t.Fatal(err)
	}
	store, err := decision.Open(context.Background(), js, decisionOptions(cfg))
	if err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, "the incident after the outage decided", func() bool {
		ds, err := store.List(context.Background())
		return err == nil && len(ds) == 1 && ds[0].Subject == "198.51.100.0/24" && ds[0].Action == decision.Tarpit && ds[0].Observe
	})
}
