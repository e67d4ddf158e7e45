package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/chserver"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// BenchmarkCapacity measures what the README's capacity table is computed from: ingest, detector, nats-server and
// clickhouse-server run as separate processes (the cmd/ binaries and nats-server built from the module), a generated
// day is posted to ingest as fast as four clients can, and once the detector has acknowledged every event it reports
// each process's CPU seconds per 1,000 events (= cores per 1,000 events/s), the JetStream bytes per stored event,
// and ClickHouse's compressed bytes per row after merging. VIGIL_CAPACITY_USERS sets the users (default 20,000, the size of bin/vigil bench).
//
//	VIGIL_GEOIP_DB=$PWD/.cache/geoip/country.mmdb go test -run '^$' -bench Capacity -benchtime 1x -timeout 30m ./internal/bench
func BenchmarkCapacity(b *testing.B) {
	users := 20000
	if v := os.Getenv("VIGIL_CAPACITY_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 {
			b.Fatalf("VIGIL_CAPACITY_USERS=%q: want a number >= 100", v)
		}
		users = n
	}
	geoPath := geoDB(b)
	dir := b.TempDir()
	bin := filepath.Join(dir, "bin")
	build := exec.Command("go", "build", "-o", bin+"/", "../../cmd/ingest", "../../cmd/detector", "github.com/nats-io/nats-server/v2")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	ctx := context.Background()

	natsPort := port(b)
	natsProc := start(b, dir, "nats", filepath.Join(bin, "nats-server"), nil, "-js", "-sd", filepath.Join(dir, "jetstream"), "-a", "127.0.0.1", "-p", strconv.Itoa(natsPort))
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	waitTCP(b, fmt.Sprintf("127.0.0.1:%d", natsPort))
	chs, err := chserver.Start(ctx, chserver.Options{Dir: filepath.Join(dir, "clickhouse")})
	if err != nil {
		b.Fatal(err)
	}
	defer chs.Stop()
	chPID := pidOf(b, filepath.Join(dir, "clickhouse", "config.xml"))

	const token = "capacity-token-0123456789"
	ingestAddr := fmt.Sprintf("127.0.0.1:%d", port(b))
	detectorAddr := fmt.Sprintf("127.0.0.1:%d", port(b))
	env := []string{"VIGIL_NATS_URL=" + natsURL, "VIGIL_LOG_LEVEL=warn", "VIGIL_GEOIP_DB=" + geoPath, "VIGIL_CLICKHOUSE_ADDR=" + chs.Addr(), "VIGIL_CLICKHOUSE_DATABASE=vigil_capacity"}
	ingestProc := start(b, dir, "ingest", filepath.Join(bin, "ingest"), append(env, "VIGIL_INGEST_ADDR="+ingestAddr, "VIGIL_INGEST_TOKENS="+token))
	waitReady(b, "http://"+ingestAddr+"/readyz")
	detectorProc := start(b, dir, "detector", filepath.Join(bin, "detector"), append(env, "VIGIL_DETECTOR_ADDR="+detectorAddr))
	waitReady(b, "http://"+detectorAddr+"/readyz")

	db, err := geo.Open(geoPath)
	if err != nil {
		b.Fatal(err)
	}
	day, err := gen.Generate(gen.Options{Users: users, Seed: 42}, gen.Networks(db.Networks()))
	db.Close()
	if err != nil {
		b.Fatal(err)
	}
	n := len(day.Events)
	bodies := ndjsonBodies(day.Events, 1000)
	nc, err := nats.Connect(natsURL)
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}

	procs := []struct {
		name string
		pid  int
	}{{"ingest", ingestProc.Process.Pid}, {"detector", detectorProc.Process.Pid}, {"nats-server", natsProc.Process.Pid}, {"clickhouse-server", chPID}}
	before := make([]float64, len(procs))
	for i, p := range procs {
		before[i] = cpuSeconds(b, p.pid)
	}
	b.ResetTimer()
	t0 := time.Now()
	retries, err := postRetrying(ctx, "http://"+ingestAddr+"/v1/events", token, bodies, 4)
	if err != nil {
		b.Fatal(err)
	}
	posted := time.Since(t0)
	deadline := time.Now().Add(20 * time.Minute)
	for {
		done, err := drained(ctx, js, n)
		if err != nil {
			b.Fatal(err)
		}
		if done {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("detector did not acknowledge every event within 20 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	wall := time.Since(t0)
	b.StopTimer()
	b.Logf("%d users, %d events (%.1f per user per day): posted in %s (%d requests retried after 503), all committed to ClickHouse and acknowledged after %s (%.0f events/s)",
		users, n, float64(n)/float64(users), posted.Round(time.Millisecond), retries, wall.Round(time.Millisecond), float64(n)/wall.Seconds())
	for i, p := range procs {
		cpu := cpuSeconds(b, p.pid) - before[i]
		per := cpu / float64(n) * 1000
		b.Logf("  %-18s %7.2f CPU s  %.4f CPU s per 1,000 events = %.3f cores per 1,000 events/s", p.name, cpu, per, per)
		b.ReportMetric(per, p.name+"-cores/1k-events/s")
	}

	s, err := js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		b.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		b.Fatal(err)
	}
	jsPer := float64(info.State.Bytes) / float64(info.State.Msgs)
	b.Logf("  JetStream: %d messages, %d bytes = %.0f bytes per event (one replica, file store)", info.State.Msgs, info.State.Bytes, jsPer)
	b.ReportMetric(jsPer, "jetstream-bytes/event")

	ch := clickhouseQuery(b, chs.Addr())
	for _, t := range []string{"logins", "sends", "incidents"} {
		ch("OPTIMIZE TABLE vigil_capacity." + t + " FINAL")
	}
	out := ch("SELECT table, sum(rows), sum(data_compressed_bytes), sum(data_uncompressed_bytes) FROM system.parts WHERE active AND database = 'vigil_capacity' AND table IN ('logins', 'sends') GROUP BY table ORDER BY table FORMAT TSV")
	var rows, comp float64
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			b.Fatalf("system.parts: %q", line)
		}
		r, _ := strconv.ParseFloat(f[1], 64)
		c, _ := strconv.ParseFloat(f[2], 64)
		u, _ := strconv.ParseFloat(f[3], 64)
		rows, comp = rows+r, comp+c
		b.Logf("  ClickHouse %-8s %9.0f rows  %6.1f bytes per row compressed (%.1f uncompressed)", f[0], r, c/r, u/r)
	}
	b.ReportMetric(comp/rows, "clickhouse-bytes/event")
	if int(rows) != n {
		b.Errorf("ClickHouse holds %.0f logins and sends; want %d", rows, n)
	}
}

// BenchmarkDetectorMemory1M is the detector's memory per tracked user at one million users, the same load as
// bin/vigil bench's smaller run (a generated day, through the wire format into one engine).
//
//	VIGIL_GEOIP_DB=$PWD/.cache/geoip/country.mmdb go test -run '^$' -bench DetectorMemory1M -benchtime 1x -timeout 60m ./internal/bench
func BenchmarkDetectorMemory1M(b *testing.B) {
	db, err := geo.Open(geoDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	nets := gen.Networks(db.Networks())
	for b.Loop() {
		per, err := benchMemory(1_000_000, nets, db)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(per, "bytes/user")
		b.Logf("detector memory at 1,000,000 users: %.0f bytes per tracked user (%.0f MB)", per, per*1e6/1e6)
	}
}

// postRetrying posts every body with clients concurrent clients, retrying a request ingest answered 503 (JetStream
// did not acknowledge in time on the loaded machine; events are deduplicated by id) up to 20 times.
func postRetrying(ctx context.Context, url, token string, bodies [][]byte, clients int) (int, error) {
	work := make(chan []byte)
	errc := make(chan error, clients)
	var retries atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				for attempt := 0; ; attempt++ {
					req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/x-ndjson")
					req.Header.Set("Authorization", "Bearer "+token)
					resp, err := client.Do(req)
					if err != nil {
						errc <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						break
					}
					if resp.StatusCode != http.StatusServiceUnavailable || attempt == 20 {
						errc <- fmt.Errorf("ingest answered %s", resp.Status)
						return
					}
					retries.Add(1)
					time.Sleep(100 * time.Millisecond)
				}
			}
		}()
	}
	for _, body := range bodies {
		select {
		case work <- body:
		case err := <-errc:
			close(work)
			return 0, err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errc:
		return 0, err
	default:
		return int(retries.Load()), nil
	}
}

func geoDB(b *testing.B) string {
	p := os.Getenv("VIGIL_GEOIP_DB")
	if p == "" {
		p = "../../.cache/geoip/country.mmdb"
	}
	p, _ = filepath.Abs(p)
	if _, err := os.Stat(p); err != nil {
		b.Skipf("no GeoIP database (%v); make geoip writes one", err)
	}
	return p
}

func port(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// start runs a child process with its output in dir/<name>.log and stops it when the benchmark ends.
func start(b *testing.B, dir, name, path string, env []string, args ...string) *exec.Cmd {
	log, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		log.Close()
		if b.Failed() {
			out, _ := os.ReadFile(log.Name())
			b.Logf("%s log:\n%s", name, tail(string(out), 3000))
		}
	})
	return cmd
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func waitTCP(b *testing.B, addr string) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Fatalf("nothing listens on %s after 30s", addr)
}

func waitReady(b *testing.B, url string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("%s is not ready after 60s", url)
}

// pidOf finds the process whose command line holds s.
func pidOf(b *testing.B, s string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if bytes.Contains(cmdline, []byte(s)) {
			return pid
		}
	}
	b.Fatalf("no process runs with %s", s)
	return 0
}

// cpuSeconds is a process's user + system CPU time from /proc/<pid>/stat (clock ticks of 1/100 s on Linux).
func cpuSeconds(b *testing.B, pid int) float64 {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
	f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (ut + stime) / 100
}

// clickhouseQuery returns a function running one statement through clickhouse-client against the server at addr.
func clickhouseQuery(b *testing.B, addr string) func(string) string {
	return func(q string) string {
		_, p, _ := net.SplitHostPort(addr)
		out, err := exec.Command("clickhouse-client", "--port", p, "--query", q).CombinedOutput()
		if err != nil {
			b.Fatalf("%s: %v\n%s", q, err, out)
		}
		return string(out)
	}
}
