package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vigil-ids/vigil/internal/app"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// Options says what day the demo generates and how long it waits.
type Options struct {
	Users int           // users in the generated day
	Seed  uint64        // random seed: the same seed gives the same day
	Wait  time.Duration // longest wait for the detector to commit every event
}

// Demo feeds a generated day of events to a running node (ingest over HTTP, trusted networks in NATS KV), waits
// for the detector to commit everything to ClickHouse, and prints the incidents next to the day's ground truth.
func Demo(ctx context.Context, cfg *config.Config, o Options, stdout, stderr io.Writer) error {
	logger, err := cfg.Logger(stderr)
	if err != nil {
		return err
	}
	token := ""
	if len(cfg.IngestTokens) > 0 {
		token = cfg.IngestTokens[0]
	} else if b, err := os.ReadFile(filepath.Join(cfg.DataDir, "ingest-token")); err == nil {
		token = strings.TrimSpace(string(b))
	} else {
		return fmt.Errorf("no ingest token: set VIGIL_INGEST_TOKENS or VIGIL_DATA_DIR to the node's data directory: %w", err)
	}

	// 1. Generate the day from the networks of the GeoIP database the node uses.
	db, err := geo.Open(cfg.GeoIPDB)
	if err != nil {
		return err
	}
	defer db.Close()
	nets := gen.Networks(db.Networks())
	rules, err := cfg.Rules()
	if err != nil {
		return err
	}
	gopts := gen.Options{Users: o.Users, Seed: o.Seed, SendThreshold: rules.Global["send_volume"]}
	if err := travelOptions(&gopts, db, cfg, rules, stdout); err != nil {
		return err
	}
	day, err := gen.Generate(gopts, nets)
	if err != nil {
		return err
	}
	start := day.Events[0].Time
	fmt.Fprintf(stdout, "demo: generated %d events for %d users (seed %d): %s\n", len(day.Events), o.Users, o.Seed, profileSummary(day))

	// 2. Mark the travellers' networks as safe, as an admin would, and wait for the node to see them.
	nc, err := natsbus.Connect(cfg.NATSURL, "vigil-demo", logger)
	if err != nil {
		return fmt.Errorf("%w (is the node running? set VIGIL_NATS_URL)", err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	trust, err := trustkv.Open(ctx, js, trustkv.Options{Bucket: cfg.TrustedBucket})
	if err != nil {
		return err
	}
	for _, t := range day.Trusted {
		_, err := trust.Add(ctx, netset.Entry{Scope: netset.Scope(t.Scope), Subject: t.Subject, Prefix: t.Prefix, Description: t.Description, CreatedBy: "vigil demo"})
		if err != nil && !strings.Contains(err.Error(), "exists") {
			return fmt.Errorf("trust %s: %w", t.Prefix, err)
		}
	}
	base := "http://" + cfg.IngestAddr
	if err := waitMetric(ctx, base+"/metrics", "vigil_trusted_networks", float64(len(day.Trusted)), 10*time.Second); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "demo: %d trusted networks in NATS KV (1 domain VPN exit, %d per-user travel ranges)\n", len(day.Trusted), len(day.Trusted)-1)

	// 3. Post the day as NDJSON batches, as a log shipper would.
	t0 := time.Now()
	for chunk := range slices.Chunk(day.Events, 5000) {
		if err := postNDJSON(ctx, base+"/v1/events", token, chunk); err != nil {
			return err
		}
	}
	posted := time.Since(t0)
	fmt.Fprintf(stdout, "demo: ingest stored %d events in JetStream in %s (%.0f events/s)\n", len(day.Events), posted.Round(time.Millisecond), float64(len(day.Events))/posted.Seconds())

	// 4. Wait until ClickHouse holds every event.
	store, stop, err := app.OpenStore(ctx, cfg, logger, nil, stdout)
	if err != nil {
		return err
	}
	defer stop()
	defer store.Close()
	domains := map[string]bool{}
	for _, e := range day.Events {
		domains[e.Domain] = true
	}
	doms := slices.Sorted(maps.Keys(domains))
	deadline := time.Now().Add(o.Wait)
	for {
		n, err := store.CountEvents(ctx, start, doms)
		if err != nil {
			return err
		}
		if n >= uint64(len(day.Events)) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s ClickHouse holds %d of %d events", o.Wait, n, len(day.Events))
		}
		time.Sleep(250 * time.Millisecond)
	}
	fmt.Fprintf(stdout, "demo: detector committed every event to ClickHouse %s after the first post\n\n", time.Since(t0).Round(time.Millisecond))

	// 5. The incidents, as an admin would query them, against the ground truth. The last events' incidents can
	// land a moment after the events (a batch's events are written before its incidents, and address-keyed
	// incidents come from a consumer of their own), so wait for the truth until the same deadline.
	var incs []incident.Incident
	for {
		if incs, err = store.Incidents(ctx, start.Add(-time.Minute)); err != nil {
			return err
		}
		incs = slices.DeleteFunc(incs, func(i incident.Incident) bool { return !domains[i.Domain] && i.Addr == nil }) // address-keyed: across domains
		if checkTruth(io.Discard, incs, day) == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	printIncidents(stdout, incs, day)
	return checkTruth(stdout, incs, day)
}

func profileSummary(day *gen.Day) string {
	count := map[gen.Profile]int{}
	for _, p := range day.Profiles {
		count[p]++
	}
	var parts []string
	for _, p := range []gen.Profile{gen.Home, gen.Mobile, gen.Traveller, gen.Compromised, gen.BulkSender, gen.BruteForced, gen.StaleDevice, gen.NewCountry, gen.Familiar, gen.ImpossibleTraveller, gen.Flyer, gen.SprayVictim, gen.OfficeUser, gen.Sprayer, gen.BruteForcer} {
		parts = append(parts, fmt.Sprintf("%d %s", count[p], p))
	}
	return strings.Join(parts, ", ")
}

func printIncidents(w io.Writer, incs []incident.Incident, day *gen.Day) {
	slices.SortFunc(incs, func(a, b incident.Incident) int {
		return strings.Compare(a.Key()+string(a.Rule), b.Key()+string(b.Rule))
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tRULE\tCOUNTRIES\tIPS\tLOGINS\tMESSAGES 24H\tFIRST SEEN\tLAST SEEN\tGENERATED AS")
	for _, i := range incs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\n", i.Key(), i.Rule, strings.Join(i.Countries, ","), len(i.IPs),
			i.Logins, i.Messages24h, i.FirstSeen.Format("01-02 15:04"), i.LastSeen.Format("01-02 15:04"), day.Profiles[i.Key()])
	}
	tw.Flush()
	printTravel(w, incs)
}

// checkTruth compares the incidents with the generated ground truth and fails on any difference.
func checkTruth(w io.Writer, incs []incident.Incident, day *gen.Day) error {
	got := map[string][]incident.Rule{}
	for _, i := range incs {
		got[i.Key()] = append(got[i.Key()], i.Rule)
	}
	var problems []string
	for u, want := range day.Expected {
		g := slices.Sorted(slices.Values(got[u]))
		wt := slices.Sorted(slices.Values(want))
		if !slices.Equal(g, wt) {
			problems = append(problems, fmt.Sprintf("%s (%s): found %v, expected %v", u, day.Profiles[u], g, wt))
		}
	}
	for u, g := range got {
		if _, ok := day.Expected[u]; !ok {
			problems = append(problems, fmt.Sprintf("%s (%s): unexpected %v", u, day.Profiles[u], g))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return fmt.Errorf("incidents differ from the generated ground truth:\n  %s", strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(w, "\ndemo: %d incidents for exactly the %d accounts and attacking addresses generated as such; none for travellers behind trusted networks, stale-password devices or the shared office address\n", len(incs), len(day.Expected))
	return nil
}

func postNDJSON(ctx context.Context, url, token string, evs []event.Event) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			return err
		}
	}
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(buf.Bytes()))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return fmt.Errorf("post events: %w", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			var r struct {
				Accepted int `json:"accepted"`
			}
			if err := json.Unmarshal(body, &r); err != nil || r.Accepted != len(evs) {
				return fmt.Errorf("post events: %d of %d accepted: %s", r.Accepted, len(evs), body)
			}
			return nil
		case resp.StatusCode == http.StatusServiceUnavailable && attempt < 5:
			time.Sleep(time.Second)
		default:
			return fmt.Errorf("post events: %s: %s", resp.Status, body)
		}
	}
}

// waitMetric polls a Prometheus endpoint until an unlabelled gauge reaches want.
func waitMetric(ctx context.Context, url, name string, want float64, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, line := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(line, name+" "); ok {
					last = v
					var f float64
					if _, err := fmt.Sscan(v, &f); err == nil && f >= want {
						return nil
					}
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s at %s is %q after %s; want %v", name, url, last, timeout, want)
}
