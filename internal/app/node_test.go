package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// TestEndToEnd runs the single node as a user would and follows events from HTTP to incident rows.
func TestEndToEnd(t *testing.T) {
	cfg, dataDir := nodeConfig(t, map[string]string{"81.2.64.0/18": "GB", "8.8.8.0/24": "US", "2a00:1450::/32": "IE"}, map[string]string{"VIGIL_FLUSH_INTERVAL": "100ms", "VIGIL_RULE_DOMAINS": "bulk.example:send_volume=3"})
	var out bytes.Buffer
	base := startNode(t, cfg, &out)
	token := strings.TrimSpace(readFile(t, filepath.Join(dataDir, "ingest-token")))
	if !strings.Contains(out.String(), "ingest-token") || strings.Contains(out.String(), token) {
		t.Errorf("start-up output %q should name the token file and never print the token", out.String())
	}
	if !strings.Contains(out.String(), "impossible_travel off: VIGIL_GEOIP_DB is a GeoIP2-Country database") {
		t.Errorf("start-up output %q should say impossible_travel is off with only a Country database", out.String())
	}

	now := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339)
	body := strings.Join([]string{
		`{"kind":"login","time":"` + now + `","user":"Alice@Example.org","ip":"81.2.69.142","service":"imap","success":true}`,
		`{"kind":"login","time":"` + now + `","user":"alice@example.org","ip":"::ffff:8.8.8.8","service":"webmail","success":true}`,
		`{"kind":"send","time":"` + now + `","user":"news@bulk.example","ip":"2a00:1450:4001::1","recipients":2}`,
		`{"kind":"send","time":"` + now + `","user":"news@bulk.example","ip":"2a00:1450:4001::1","recipients":2,"message_id":"b"}`,
		`{"kind":"send","time":"` + now + `","user":"news@bulk.example","ip":"2a00:1450:4001::1","recipients":2,"message_id":"c"}`,
		`{"kind":"login","time":"` + now + `","user":"bob@example.org","ip":"not-an-ip","success":true}`,
	}, "\n")
	req, _ := http.NewRequest("POST", base+"/v1/events", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Accepted int
		Rejected []struct {
			Index int
			Field string
		}
	}
	json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || r.Accepted != 5 || len(r.Rejected) != 1 || r.Rejected[0].Index != 5 || r.Rejected[0].Field != "ip" {
		t.Fatalf("POST = %d %+v; want 200, 5 accepted, line 5 rejected for ip", resp.StatusCode, r)
	}

	store, err := chstore.Open(context.Background(), chstore.Options{Addr: cfg.ClickHouseAddr, Database: cfg.ClickHouseDatabase}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		incs, err := store.Incidents(context.Background(), time.Now().Add(-2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(incs) == 2 {
			for _, i := range incs {
				switch i.Rule {
				case "multi_country":
					if i.User != "alice@example.org" || strings.Join(i.Countries, ",") != "GB,US" || strings.Join(i.IPs, ",") != "8.8.8.8,81.2.69.142" {
						t.Errorf("multi_country incident = %+v; want alice, GB,US, unmapped IPs", i)
					}
				case "send_volume":
					if i.User != "news@bulk.example" || i.Messages24h != 3 {
						t.Errorf("send_volume incident = %+v; want news@bulk.example with 3 messages", i)
					}
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("incidents after 30s: %+v; want multi_country and send_volume", incs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The responder runs in the node: both incidents reach it through VIGIL_INCIDENTS (the recommended policy's
	// combination needs both rules on one account, so neither makes a decision).
	testenv.Eventually(t, 10*time.Second, "the responder handled both incidents", func() bool {
		return strings.Contains(get(t, base+"/metrics"), `vigil_responder_incidents_total{result="nothing"} 2`)
	})
	metrics := get(t, base+"/metrics")
	for _, m := range []string{`vigil_ingest_events_total{result="accepted"} 5`, `vigil_ingest_rejected_total{reason="ip"} 1`, `vigil_detector_incidents_total{rule="multi_country"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("/metrics lacks %q", m)
		}
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s/readyz not 200 after 30s: %s", base, get(t, base+"/readyz"))
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// nodeConfig is the configuration of a single node on a fresh data directory (returned) and a private ClickHouse
// database (cfg.ClickHouseAddr, cfg.ClickHouseDatabase), on free loopback ports, with a GeoIP database of the
// networks (CIDR: country) and the extra variables.
func nodeConfig(t *testing.T, networks, extra map[string]string) (*config.Config, string) {
	t.Helper()
	chAddr, db := testenv.ClickHouseDB(t)
	dir := t.TempDir()
	geoPath := filepath.Join(dir, "geo.mmdb")
	if err := testenv.WriteTestDB(geoPath, networks); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"VIGIL_DATA_DIR": filepath.Join(dir, "data"), "VIGIL_NATS_LISTEN": "127.0.0.1:0", "VIGIL_INGEST_ADDR": "127.0.0.1:0", "VIGIL_AUTH_ADDR": "127.0.0.1:0",
		"VIGIL_GEOIP_DB": geoPath, "VIGIL_CLICKHOUSE_ADDR": chAddr, "VIGIL_CLICKHOUSE_DATABASE": db, "VIGIL_CLICKHOUSE_START": "never",
	}
	maps.Copy(env, extra)
	cfg, err := config.Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, env["VIGIL_DATA_DIR"]
}

// runNode runs node until the test ends, when its Run must return nil, and returns a channel that receives Run's
// error should it return before.
func runNode(t *testing.T, node *Node) <-chan error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	early := make(chan error, 1)
	stopped := make(chan struct{})
	var err error
	go func() {
		err = node.Run(ctx)
		close(stopped)
		early <- err
	}()
	t.Cleanup(func() {
		cancel()
		<-stopped
		if err != nil {
			t.Errorf("node Run = %v; want nil after cancel", err)
		}
	})
	return early
}

// startNode runs a single node with cfg until the test ends and returns its ingest base URL once it is ready.
func startNode(t *testing.T, cfg *config.Config, out io.Writer) string {
	t.Helper()
	node := &Node{Config: cfg, Logger: slog.New(slog.DiscardHandler), Out: out, IngestAddr: make(chan net.Addr, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	var addr net.Addr
	select {
	case addr = <-node.IngestAddr:
	case err := <-done:
		t.Fatalf("node stopped: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("node did not start within 60s")
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node Run = %v; want nil after cancel", err)
		}
	})
	base := "http://" + addr.String()
	waitReady(t, base)
	return base
}
