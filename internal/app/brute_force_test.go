package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// TestRealDovecotBruteForce drives a real Dovecot, whose auth-policy client reports every attempt with its pwhash:
// an attacker guessing many passwords against bob raises brute_force; alice's phone retrying one stale password
// from her address (while her laptop keeps logging in from there) raises nothing.
func TestRealDovecotBruteForce(t *testing.T) {
	chAddr, db := testenv.ClickHouseDB(t)
	dir := t.TempDir()
	geoPath := filepath.Join(dir, "geo.mmdb")
	if err := testenv.WriteTestDB(geoPath, map[string]string{"81.2.64.0/18": "GB", "8.8.8.0/24": "US"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("vigil", nil, func(k string) string {
		return map[string]string{
			"VIGIL_DATA_DIR": filepath.Join(dir, "data"), "VIGIL_NATS_LISTEN": "127.0.0.1:0", "VIGIL_INGEST_ADDR": "127.0.0.1:0", "VIGIL_AUTH_ADDR": "127.0.0.1:0",
			"VIGIL_GEOIP_DB": geoPath, "VIGIL_CLICKHOUSE_ADDR": chAddr, "VIGIL_CLICKHOUSE_DATABASE": db, "VIGIL_CLICKHOUSE_START": "never",
			"VIGIL_FLUSH_INTERVAL": "100ms", "VIGIL_DOVECOT_TOKENS": "dovecot-test-token",
		}[k]
	}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	base := startNode(t, cfg, io.Discard)
	dovecot := testenv.StartDovecot(t, testenv.DovecotOptions{
		Users:        map[string]string{"alice": "alice-pw", "bob": "bob-pw"},
		PolicyURL:    base + "/v1/dovecot/policy",
		PolicyHeader: "X-API-Key: dovecot-test-token",
	})

	// The stale device: ten tries of one old password from alice's address, her laptop logging in between (which
	// also clears Dovecot's penalty for the address).
	for i := range 10 {
		if err := testenv.IMAPLogin(dovecot.IMAPAddr, "81.2.69.142", "alice", "old-pw"); err == nil {
			t.Fatal("IMAP login with the stale password succeeded")
		}
		if err := testenv.IMAPLogin(dovecot.IMAPAddr, "81.2.69.142", "alice", "alice-pw"); err != nil {
			t.Fatalf("laptop login %d: %v", i, err)
		}
	}
	// The attacker: twelve guesses, each from another address (so Dovecot's per-address penalty does not slow it).
	var wg sync.WaitGroup
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := testenv.IMAPLogin(dovecot.IMAPAddr, fmt.Sprintf("8.8.8.%d", 10+i), "bob", fmt.Sprintf("guess-%d", i)); err == nil {
				t.Errorf("guess %d succeeded", i)
			}
		}()
	}
	wg.Wait()

	store, err := chstore.Open(context.Background(), chstore.Options{Addr: chAddr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count := func(q string) uint64 {
		var n uint64
		if err := store.Conn().QueryRow(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	testenv.Eventually(t, 30*time.Second, "a brute_force incident for bob with 12 distinct passwords", func() bool {
		return count("SELECT count() FROM incidents FINAL WHERE rule = 'brute_force' AND user = 'bob' AND distinct_passwords = 12 AND failures = 12") == 1
	})
	// Everything alice did is stored (the stale failures with one pwhash) and raised nothing.
	testenv.Eventually(t, 30*time.Second, "alice's 10 failures stored", func() bool {
		return count("SELECT count() FROM logins FINAL WHERE user = 'alice' AND success = 0") == 10
	})
	if n := count("SELECT uniqExact(pwhash) FROM logins FINAL WHERE user = 'alice' AND success = 0"); n != 1 {
		t.Errorf("alice's stale failures carry %d distinct pwhash values; want 1", n)
	}
	if n := count("SELECT count() FROM incidents FINAL WHERE user = 'alice'"); n != 0 {
		t.Errorf("%d incidents for alice's stale device; want 0", n)
	}
}
