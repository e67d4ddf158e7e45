package console_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/demo"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// demoGeoDB is the GeoIP database make geoip fetches and make demo uses.
const demoGeoDB = "../../.cache/geoip/country.mmdb"

// TestConsoleOnDemoDay feeds the node a generated day as make demo does (internal/demo over the real GeoIP
// database), then walks the console over it in headless chromium: the banner, the incident list and its count
// against the store's, each rule's filter, the pages, and an incident with its evidence and last logins.
func TestConsoleOnDemoDay(t *testing.T) {
	if _, err := os.Stat(demoGeoDB); err != nil {
		if os.Getenv("VIGIL_TEST_REQUIRE_DATA") != "" {
			t.Fatalf("%s: %v (make geoip fetches it)", demoGeoDB, err)
		}
		t.Skipf("%s: %v (make geoip fetches it)", demoGeoDB, err)
	}
	chromium(t)
	n := startNodeGeo(t, demoGeoDB)
	n.bootstrap(adminUser, adminPW, "admin")
	cfg := *n.cfg
	cfg.NATSURL, cfg.IngestAddr = n.natsURL, strings.TrimPrefix(n.ingest, "http://")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out strings.Builder
	if err := demo.Demo(ctx, &cfg, demo.Options{Users: 300, Seed: 9, Wait: 3 * time.Minute}, &out, io.Discard); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	t.Logf("%s", out.String())
	store, err := chstore.Open(ctx, chstore.Options{Addr: cfg.ClickHouseAddr, Database: cfg.ClickHouseDatabase}, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	// The console's list counts what the incidents table holds (its materialized view is written with it).
	var sum chstore.IncidentSummary
	testenv.Eventually(t, 30*time.Second, "the console's count equals the incidents stored", func() bool {
		var stored uint64
		if err := store.Conn().QueryRow(ctx, "SELECT count() FROM "+cfg.ClickHouseDatabase+".incidents FINAL").Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if sum, err = store.SummarizeIncidents(ctx, chstore.IncidentFilter{}); err != nil {
			t.Fatal(err)
		}
		return sum.Total == stored
	})
	t.Logf("summary: %+v", sum)
	if sum.Total == 0 || sum.ByStatus["open"] != sum.Total {
		t.Fatalf("the demo day's incidents = %+v; want some, all open", sum)
	}

	b := newBrowser(t, n.console)
	signIn(b, adminUser, adminPW)
	b.submit("form[action='/console/2fa/enroll'] button")
	auth := newAuthenticator(t, b.text("#totp-secret"))
	b.submit("form[action='/console/2fa/confirm'] button", "input[name=code]", auth.code(t))
	b.open("/")
	b.mustSee("New security incidents detected.")
	b.submit("#incident-banner")
	b.mustSee(count(sum.Total, "incident") + ", newest first.")
	b.screenshot("demo-incidents")
	const perPage = 25
	pages := (int(sum.Total) + perPage - 1) / perPage
	if rows := eval[int](b, `document.querySelectorAll("#incidents tbody tr").length`); rows != min(perPage, int(sum.Total)) {
		t.Errorf("the first page lists %d incidents; want %d", rows, min(perPage, int(sum.Total)))
	}
	b.mustSee(fmt.Sprintf("Page 1 of %d", pages))
	if pages > 1 {
		b.open("/console/incidents?page=" + fmt.Sprint(pages))
		if rows := eval[int](b, `document.querySelectorAll("#incidents tbody tr a.user").length`); rows != int(sum.Total)-(pages-1)*perPage {
			t.Errorf("the last page lists %d incidents; want %d", rows, int(sum.Total)-(pages-1)*perPage)
		}
	}
	for rule, want := range sum.ByRule {
		b.open("/console/incidents?rule=" + url.QueryEscape(rule))
		b.mustSee(count(want, "incident") + ", newest first.")
		if got := eval[[]string](b, `Array.from(document.querySelectorAll("#incidents tbody tr td:nth-child(2)")).map(function(c){return c.textContent})`); len(got) == 0 || strings.Count(strings.Join(got, " "), rule) != len(got) {
			t.Errorf("the %s filter lists rules %q", rule, got)
		}
	}

	// A user's incident: its evidence and the user's last logins.
	rule := "multi_country"
	if sum.ByRule[rule] == 0 {
		t.Fatalf("the demo day raised no multi_country incident: %+v", sum)
	}
	b.open("/console/incidents?rule=" + rule)
	user := b.text("#incidents a.user")
	b.submit("#incidents a.user")
	if !strings.HasPrefix(b.location(), "/console/incidents/") {
		t.Fatalf("the incident link led to %s", b.location())
	}
	b.mustSee(rule)
	b.mustSee("Last logins of " + user)
	if !b.has("table.evidence") {
		t.Error("the demo incident shows no evidence table")
	}
	if rows := eval[int](b, `document.querySelectorAll("#logins tbody tr code").length`); rows < 2 {
		t.Errorf("the demo incident lists %d logins of %s; want the two countries' at least", rows, user)
	}
	b.screenshot("demo-incident")
}

// count writes n with its noun as the console does.
func count(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
