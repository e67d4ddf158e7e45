package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chserver"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/rule"
)

// Options says what Bench runs.
type Options struct {
	Users      int    // users in the generated events for the throughput runs
	MemUsers   int    // users for the memory-per-user measurement
	Clients    int    // concurrent HTTP clients posting to ingest
	Mail       bool   // only the mail-server paths (Dovecot policy endpoint, Postfix policy server, log parser)
	CPUProfile string // write a CPU profile of the end-to-end run to this file; "" = none
}

// Bench measures Vigil's paths against raw JetStream baselines on the same generated events in one run, and the
// detector's memory per tracked user.
func Bench(ctx context.Context, cfg *config.Config, o Options, stdout, stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	db, err := geo.Open(cfg.GeoIPDB)
	if err != nil {
		return err
	}
	defer db.Close()
	nets := gen.Networks(db.Networks())
	// Memory first, while the heap holds nothing else.
	perUser, err := benchMemory(o.MemUsers, nets, db)
	if err != nil {
		return err
	}
	day, err := gen.Generate(gen.Options{Users: o.Users, Seed: 42}, nets)
	if err != nil {
		return err
	}
	evs := day.Events
	payloads := make([][]byte, len(evs))
	for i := range evs {
		payloads[i], _ = event.Marshal(&evs[i])
	}
	fmt.Fprintf(stdout, "bench: %d generated events, %d users, GOMAXPROCS=%d\n\n", len(evs), o.Users, runtime.GOMAXPROCS(0))

	dir, err := os.MkdirTemp("", "vigil-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	emb, err := natsbus.StartEmbedded(dir+"/jetstream", "", logger)
	if err != nil {
		return err
	}
	defer emb.Shutdown()
	nc, err := emb.Connect("bench")
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		return err
	}
	bin, ok := chserver.Installed()
	if !ok {
		return fmt.Errorf("bench needs clickhouse-server (make setup installs it)")
	}
	chs, err := chserver.Start(ctx, chserver.Options{Dir: dir + "/clickhouse", Binary: bin, Logger: logger})
	if err != nil {
		return err
	}
	defer chs.Stop()

	if o.Mail {
		if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
			return err
		}
		return benchMail(ctx, js, stdout, logger)
	}
	w := newReport(stdout)
	// Baseline 1: raw async publish of the same payloads with Nats-Msg-Id.
	rawPub, err := benchRawPublish(ctx, js, evs, payloads)
	if err != nil {
		return err
	}
	w.row("raw JetStream async publish (baseline)", len(evs), rawPub, 0)
	// Baseline 2: raw fetch + ack of those messages.
	rawFetch, err := benchRawFetch(ctx, js, len(evs))
	if err != nil {
		return err
	}
	w.row("raw JetStream fetch + ack (baseline)", len(evs), rawFetch, 0)

	// Vigil ingest: POST /v1/events NDJSON → JetStream acknowledged.
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		return err
	}
	bodies := ndjsonBodies(evs, 1000)
	ingestD, err := benchIngest(ctx, js, bodies, o.Clients, logger)
	if err != nil {
		return err
	}
	w.row("ingest POST /v1/events (NDJSON, 1000/request)", len(evs), ingestD, rawPub)

	// Vigil detector: JetStream → windows → rules → ClickHouse committed → ack.
	store, err := chstore.Open(ctx, chstore.Options{Addr: chs.Addr(), Database: "vigil_bench"}, logger, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	detD, err := benchDetector(ctx, js, store, db, len(evs), logger)
	if err != nil {
		return err
	}
	w.row("detector JetStream → ClickHouse committed", len(evs), detD, rawFetch)

	// Restart: rebuild the windows from the stream.
	rebuildD, err := benchRebuild(ctx, js, store, db, logger)
	if err != nil {
		return err
	}
	w.row("detector restart: rebuild windows by replay", len(evs), rebuildD, rawFetch)

	// End to end: a fresh stream and database, ingest and detector running together.
	if err := js.DeleteStream(ctx, natsbus.DefaultStream); err != nil {
		return err
	}
	if err := resetAddr(ctx, js); err != nil {
		return err
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		return err
	}
	store2, err := chstore.Open(ctx, chstore.Options{Addr: chs.Addr(), Database: "vigil_bench_e2e"}, logger, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer store2.Close()
	if err := store2.Migrate(ctx); err != nil {
		return err
	}
	if o.CPUProfile != "" { // the profile covers the end-to-end run
		f, err := os.Create(o.CPUProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	e2eD, err := benchEndToEnd(ctx, js, store2, db, bodies, len(evs), o.Clients, logger)
	if o.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return err
	}
	w.row("single node end to end (HTTP → ClickHouse committed)", len(evs), e2eD, 0)

	store3, err := chstore.Open(ctx, chstore.Options{Addr: chs.Addr(), Database: "vigil_bench_latency"}, logger, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	defer store3.Close()
	if err := store3.Migrate(ctx); err != nil {
		return err
	}
	lat, err := benchLatency(ctx, js, store3, db, nets, evs, 10000, 10*time.Second, logger)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  %-55s p50 %s  p99 %s  max %s  (%d probes)\n", "accepted → incident queryable, at 10,000 events/s",
		lat[len(lat)/2].Round(time.Millisecond), lat[(len(lat)*99)/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond), len(lat))

	fmt.Fprintln(stdout)
	if err := benchMail(ctx, js, stdout, logger); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ndetector memory: %.0f bytes per tracked user at %d users (live heap growth after GC / users, measured first)\n", perUser, o.MemUsers)
	return nil
}

type report struct {
	w io.Writer
}

func newReport(w io.Writer) *report { return &report{w: w} }

func (r *report) row(name string, n int, d time.Duration, baseline time.Duration) {
	rate := float64(n) / d.Seconds()
	ratio := ""
	if baseline > 0 {
		ratio = fmt.Sprintf("%.0f%%", 100*baseline.Seconds()/d.Seconds())
	}
	fmt.Fprintf(r.w, "  %-55s %9.0f events/s  %10s  %s\n", name, rate, d.Round(time.Millisecond), ratio)
}

func benchRawPublish(ctx context.Context, js jetstream.JetStream, evs []event.Event, payloads [][]byte) (time.Duration, error) {
	if _, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "RAW", Subjects: []string{"raw.>"}, Storage: jetstream.FileStorage, Duplicates: time.Hour}); err != nil {
		return 0, err
	}
	start := time.Now()
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for i := range evs {
		f, err := js.PublishMsgAsync(&nats.Msg{Subject: "raw." + string(evs[i].Kind), Data: payloads[i]}, jetstream.WithMsgID(evs[i].ID))
		if err != nil {
			return 0, err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return 0, err
		}
	}
	return time.Since(start), nil
}

func benchRawFetch(ctx context.Context, js jetstream.JetStream, n int) (time.Duration, error) {
	c, err := js.CreateConsumer(ctx, "RAW", jetstream.ConsumerConfig{Durable: "raw", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000})
	if err != nil {
		return 0, err
	}
	start := time.Now()
	got := 0
	for got < n {
		batch, err := c.Fetch(5000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return 0, err
		}
		for m := range batch.Messages() {
			m.Ack()
			got++
		}
		if batch.Error() != nil {
			return 0, batch.Error()
		}
	}
	return time.Since(start), nil
}

func benchIngest(ctx context.Context, js jetstream.JetStream, bodies [][]byte, clients int, logger *slog.Logger) (time.Duration, error) {
	const token = "bench-token-0123456789"
	reg := prometheus.NewRegistry()
	h, err := ingest.NewHandler(ingest.Options{Tokens: []string{token}}, natsbus.NewPublisher(js, 16, reg), logger, reg)
	if err != nil {
		return 0, err
	}
	mux := http.NewServeMux()
	h.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go httpapi.Serve(sctx, ln, mux, logger)
	url := "http://" + ln.Addr().String() + "/v1/events"
	start := time.Now()
	if err := postAll(ctx, url, token, bodies, clients); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func ndjsonBodies(evs []event.Event, per int) [][]byte {
	var out [][]byte
	for i := 0; i < len(evs); i += per {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		for j := i; j < min(i+per, len(evs)); j++ {
			enc.Encode(&evs[j])
		}
		out = append(out, b.Bytes())
	}
	return out
}

func postAll(ctx context.Context, url, token string, bodies [][]byte, clients int) error {
	work := make(chan []byte)
	errc := make(chan error, clients)
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/x-ndjson")
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					errc <- fmt.Errorf("ingest answered %s", resp.Status)
					return
				}
			}
		}()
	}
	for _, b := range bodies {
		select {
		case work <- b:
		case err := <-errc:
			close(work)
			return err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// noTrust is the trusted networks of the benchmarks: none, one set for every event, as the trust watcher hands the
// detector its current set.
var noTrust = func() func() engine.Trust {
	none := netset.NewSet(nil)
	return func() engine.Trust { return none }
}()

// runDetector runs a detector until its consumers have acknowledged n messages in total, then stops it.
func runDetector(ctx context.Context, js jetstream.JetStream, store detector.Store, g engine.Geo, n int, logger *slog.Logger) (time.Duration, time.Duration, error) {
	d, err := detector.New(js, store, g, noTrust, detector.Options{Rules: rule.Config{Global: rule.Defaults}}, logger, prometheus.NewRegistry())
	if err != nil {
		return 0, 0, err
	}
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- d.Run(dctx) }()
	select {
	case <-d.Ready():
	case err := <-errc:
		return 0, 0, err
	}
	ready := time.Since(start)
	for n > 0 {
		done, err := drained(ctx, js, n)
		if err != nil {
			return 0, 0, err
		}
		if done {
			break
		}
		select {
		case err := <-errc:
			return 0, 0, fmt.Errorf("detector stopped: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	total := time.Since(start)
	cancel()
	<-errc
	return ready, total, nil
}

// drained reports whether the stream holds at least n messages and every consumer has acknowledged all of them.
func drained(ctx context.Context, js jetstream.JetStream, n int) (bool, error) {
	s, err := js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		return false, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return false, err
	}
	if info.State.Msgs < uint64(n) {
		return false, nil
	}
	names := s.ConsumerNames(ctx)
	for name := range names.Name() {
		if !strings.HasPrefix(name, "vigil-detector-") {
			continue // replay's ephemeral ordered consumers
		}
		c, err := s.Consumer(ctx, name)
		if err != nil {
			return false, err
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return false, err
		}
		if ci.NumPending > 0 || ci.NumAckPending > 0 {
			return false, nil
		}
	}
	if err := names.Err(); err != nil {
		return false, err
	}
	return addrDrained(ctx, js)
}

func benchDetector(ctx context.Context, js jetstream.JetStream, store detector.Store, g engine.Geo, n int, logger *slog.Logger) (time.Duration, error) {
	_, total, err := runDetector(ctx, js, store, g, n, logger)
	return total, err
}

func benchRebuild(ctx context.Context, js jetstream.JetStream, store detector.Store, g engine.Geo, logger *slog.Logger) (time.Duration, error) {
	ready, _, err := runDetector(ctx, js, store, g, 0, logger)
	return ready, err
}

func benchEndToEnd(ctx context.Context, js jetstream.JetStream, store detector.Store, g engine.Geo, bodies [][]byte, n, clients int, logger *slog.Logger) (time.Duration, error) {
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		_, err := benchIngest(ctx, js, bodies, clients, logger)
		errc <- err
	}()
	if _, _, err := runDetector(ctx, js, store, g, n, logger); err != nil {
		return 0, err
	}
	if err := <-errc; err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// benchMemory loads a generated day for n users into an engine and returns the heap in use per tracked user.
func benchMemory(n int, nets []gen.Network, g engine.Geo) (float64, error) {
	day, err := gen.Generate(gen.Options{Users: n, Seed: 7, LoginsPerUser: 6, SendsPerUser: 4, Compromised: 1, BulkSenders: 1}, nets)
	if err != nil {
		return 0, err
	}
	var incs []incident.Incident
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&before)
	e := engine.New(&rule.Config{Global: rule.Defaults}, g, noTrust)
	var ev event.Event
	for i := range day.Events {
		// Through the wire format, as in the detector, so the engine keeps its own copies of the strings.
		data, _ := event.Marshal(&day.Events[i])
		if err := event.Unmarshal(data, &ev); err != nil {
			return 0, err
		}
		_, incs = e.Process(&ev, incs[:0])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	users := e.Users()
	runtime.KeepAlive(day)
	runtime.KeepAlive(e)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(users), nil
}
