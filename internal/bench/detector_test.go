package bench

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chserver"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// BenchmarkDetectorVsFetch is bin/vigil bench's detector row on its own: a generated day is published to a raw
// stream and fetched and acknowledged in batches of 5,000 (the baseline), then published to the events stream and
// run through the detector with every rule at its default (geo, trusted networks, windows, rules, the address
// partitions, ClickHouse committed, acknowledged), in one run on one embedded NATS server and a private ClickHouse.
// It reports both rates and the detector's as a percentage of the baseline's (target: at least 85%), and, since on
// a shared machine the wall-clock rates follow the other load, the CPU seconds per 1,000 events of each phase (this
// process, which holds the NATS server, plus clickhouse-server) and the rate ratio they imply on a machine where CPU
// is the limit.
// VIGIL_BENCH_USERS sets the users (default 20,000, as bin/vigil bench); VIGIL_BENCH_PROFILE=dir writes a CPU
// profile of each phase there (fetch.pprof, detector.pprof) and a heap profile at its end (fetch-heap.pprof, ...).
//
//	VIGIL_GEOIP_DB=$PWD/.cache/geoip/country.mmdb go test -run '^$' -bench DetectorVsFetch -benchtime 1x -timeout 30m ./internal/bench
func BenchmarkDetectorVsFetch(b *testing.B) {
	users := 20000
	if v := os.Getenv("VIGIL_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("VIGIL_BENCH_USERS=%q: want a number >= 100", v)
		}
		users = n
	}
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := geo.Open(geoDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	day, err := gen.Generate(gen.Options{Users: users, Seed: 42}, gen.Networks(db.Networks()))
	if err != nil {
		b.Fatal(err)
	}
	evs := day.Events
	payloads := make([][]byte, len(evs))
	for i := range evs {
		payloads[i], _ = event.Marshal(&evs[i])
	}
	dir := b.TempDir()
	emb, err := natsbus.StartEmbedded(dir+"/jetstream", "", logger)
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Shutdown()
	nc, err := emb.Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		b.Fatal(err)
	}
	bin, ok := chserver.Installed()
	if !ok {
		b.Fatal("no clickhouse-server (make setup installs it)")
	}
	chs, err := chserver.Start(ctx, chserver.Options{Dir: dir + "/clickhouse", Binary: bin, Logger: logger})
	if err != nil {
		b.Fatal(err)
	}
	defer chs.Stop()
	store, err := chstore.Open(ctx, chstore.Options{Addr: chs.Addr(), Database: "vigil_bench"}, logger, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		b.Fatal(err)
	}

	// The raw stream is filled in bounded rounds: its publish rate is not what is measured here, and on a loaded
	// machine one unbounded burst stalls the async publisher.
	for start := 0; start < len(evs); start += 2000 {
		end := min(len(evs), start+2000)
		if _, err := benchRawPublish(ctx, js, evs[start:end], payloads[start:end]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	pub := natsbus.NewPublisher(js, natsbus.DefaultPartitions, prometheus.NewRegistry())
	for chunk := range slices.Chunk(evs, 1000) {
		if err := pub.Publish(ctx, chunk); err != nil {
			b.Fatal(err)
		}
	}
	// The generated events are in the streams now; the process measured below no longer holds them (hundreds of
	// megabytes that every garbage collection of the detector phase would otherwise mark), as a detector would not.
	total := len(evs)
	day, evs, payloads = nil, nil, nil
	runtime.GC()
	chPID := pidOf(b, filepath.Join(dir, "clickhouse", "config.xml"))
	cpu := func() [2]float64 { return [2]float64{cpuSeconds(b, os.Getpid()), cpuSeconds(b, chPID)} }
	for b.Loop() {
		c0, gc0 := cpu(), gcSeconds()
		stopProfile := startProfile(b, "fetch")
		fetch, err := benchRawFetch(ctx, js, total)
		if err != nil {
			b.Fatal(err)
		}
		stopProfile()
		c1, gc1 := cpu(), gcSeconds()
		stopProfile = startProfile(b, "detector")
		det, err := benchDetector(ctx, js, store, db, total, logger)
		if err != nil {
			b.Fatal(err)
		}
		stopProfile()
		c2, gc2 := cpu(), gcSeconds()
		n := float64(total)
		fetchRate, detRate := n/fetch.Seconds(), n/det.Seconds()
		fetchCPU, detCPU := (c1[0]+c1[1]-c0[0]-c0[1])/n*1000, (c2[0]+c2[1]-c1[0]-c1[1])/n*1000
		b.ReportMetric(fetchRate, "fetch-events/s")
		b.ReportMetric(detRate, "detector-events/s")
		b.ReportMetric(100*detRate/fetchRate, "detector-%-of-fetch")
		b.ReportMetric(fetchCPU, "fetch-cpu-s/1k-events")
		b.ReportMetric(detCPU, "detector-cpu-s/1k-events")
		b.ReportMetric(100*fetchCPU/detCPU, "detector-%-of-fetch-by-cpu")
		b.Logf("%d users, %d events: raw fetch + ack %.0f events/s (%.3f CPU s per 1,000 events, %.3f of them clickhouse-server's, %.3f this process's garbage collector), detector %.0f events/s (%.3f CPU s per 1,000 events, %.3f clickhouse-server's, %.3f the collector's) = %.0f%% of raw fetch + ack by wall clock, %.0f%% by CPU",
			users, total, fetchRate, fetchCPU, (c1[1]-c0[1])/n*1000, (gc1-gc0)/n*1000, detRate, detCPU, (c2[1]-c1[1])/n*1000, (gc2-gc1)/n*1000, 100*detRate/fetchRate, 100*fetchCPU/detCPU)
	}
}

// startProfile writes a CPU profile of one phase to $VIGIL_BENCH_PROFILE/phase.pprof, when that is set, until the
// returned function is called.
func startProfile(b *testing.B, phase string) func() {
	dir := os.Getenv("VIGIL_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	f, err := os.Create(filepath.Join(dir, phase+".pprof"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		h, err := os.Create(filepath.Join(dir, phase+"-heap.pprof"))
		if err != nil {
			b.Fatal(err)
		}
		defer h.Close()
		if err := pprof.Lookup("heap").WriteTo(h, 0); err != nil {
			b.Fatal(err)
		}
	}
}

// gcSeconds is the CPU time this process's garbage collector has used (runtime/metrics, an estimate the runtime
// keeps).
func gcSeconds() float64 {
	sample := []metrics.Sample{{Name: "/cpu/classes/gc/total:cpu-seconds"}}
	metrics.Read(sample)
	return sample[0].Value.Float64()
}
