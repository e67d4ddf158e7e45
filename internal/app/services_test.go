package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestSeparateBinaries runs ingest and two detectors splitting the partitions against one external NATS server,
// as cmd/ingest and cmd/detector do, and follows events to ClickHouse.
func TestSeparateBinaries(t *testing.T) {
	ns := testenv.NATS(t)
	chAddr, db := testenv.ClickHouseDB(t)
	geoPath := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := testenv.WriteTestDB(geoPath, map[string]string{"81.2.64.0/18": "GB", "8.8.8.0/24": "US"}); err != nil {
		t.Fatal(err)
	}
	ingestAddr, detA, detB := freeAddr(t), freeAddr(t), freeAddr(t)
	load := func(extra map[string]string) *config.Config {
		base := map[string]string{
			"VIGIL_NATS_URL": ns.ClientURL(), "VIGIL_GEOIP_DB": geoPath, "VIGIL_CLICKHOUSE_ADDR": chAddr, "VIGIL_CLICKHOUSE_DATABASE": db,
			"VIGIL_INGEST_TOKENS": "separate-binaries-token", "VIGIL_FLUSH_INTERVAL": "100ms", "VIGIL_PARTITIONS": "4",
		}
		for k, v := range extra {
			base[k] = v
		}
		cfg, err := config.Load("test", nil, func(k string) string { return base[k] }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 3)
	logger := slog.New(slog.DiscardHandler)
	go func() {
		errs <- RunIngest(ctx, load(map[string]string{"VIGIL_INGEST_ADDR": ingestAddr}), logger, io.Discard)
	}()
	go func() {
		errs <- RunDetector(ctx, load(map[string]string{"VIGIL_DETECTOR_ADDR": detA, "VIGIL_DETECTOR_PARTITIONS": "0-1"}), logger, io.Discard)
	}()
	go func() {
		errs <- RunDetector(ctx, load(map[string]string{"VIGIL_DETECTOR_ADDR": detB, "VIGIL_DETECTOR_PARTITIONS": "2-3"}), logger, io.Discard)
	}()
	t.Cleanup(func() {
		cancel()
		for range 3 {
			if err := <-errs; err != nil {
				t.Errorf("service returned %v", err)
			}
		}
	})
	for _, a := range []string{ingestAddr, detA, detB} {
		waitReady(t, "http://"+a)
	}
	now := time.Now().UTC().Add(-time.Minute).Format(time.RFC3339)
	var body bytes.Buffer
	users := []string{"a@x.org", "b@x.org", "c@x.org", "d@x.org", "e@x.org", "f@x.org"}
	for _, u := range users {
		for _, ip := range []string{"81.2.69.142", "8.8.8.8"} {
			body.WriteString(`{"kind":"login","time":"` + now + `","user":"` + u + `","ip":"` + ip + `","success":true}` + "\n")
		}
	}
	req, _ := http.NewRequest("POST", "http://"+ingestAddr+"/v1/events", &body)
	req.Header.Set("Authorization", "Bearer separate-binaries-token")
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("post: %v %v", resp, err)
	}
	resp.Body.Close()
	store, err := chstore.Open(context.Background(), chstore.Options{Addr: chAddr, Database: db}, logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n uint64
		store.Conn().QueryRow(context.Background(), "SELECT count() FROM incidents FINAL WHERE rule = 'multi_country'").Scan(&n)
		if n == uint64(len(users)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d multi_country incidents after 30s; want %d (one per user, whichever detector owns it)", n, len(users))
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := get(t, "http://"+detA+"/metrics")
	if !strings.Contains(m, `vigil_detector_consumer_pending{partition="0"}`) || strings.Contains(m, `partition="2"`) {
		t.Errorf("detector A metrics do not show exactly its partitions 0-1")
	}
}
