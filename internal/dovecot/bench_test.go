package dovecot

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// benchBody is the report of login i: 5,000 users, 250 addresses, a session per login.
func benchBody(i int) string {
	return fmt.Sprintf(`{"device_id":"","login":"user%d@example.org","protocol":"imap","pwhash":"0abc","remote":"81.2.69.%d","session_id":"sess%dAAAB","success":true,"policy_reject":false,"tls":true}`, i%5000, i%250, i)
}

// benchCommand is Dovecot's sequence for a successful login: allow, allow, report.
func benchCommand(i int) string {
	if i%3 == 2 {
		return "report"
	}
	return "allow"
}

// BenchmarkServeHTTP measures the endpoint over real HTTP keep-alive connections, publishing to an in-process
// JetStream, as fast as 2×GOMAXPROCS×4 concurrent clients go.
func BenchmarkServeHTTP(b *testing.B) {
	js, _ := jetStream(b, true)
	_, srv := serve(b, Options{Buffer: 1 << 20}, natsbus.NewPublisher(js, 16, prometheus.NewRegistry()), true)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var mu sync.Mutex
	n := 0
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			i := n
			n++
			mu.Unlock()
			if err := call(client, srv.URL+"/v1/dovecot/policy?command="+benchCommand(i), benchBody(i/3)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPaced5k sends b.N requests paced at 5,000 per second (allow, allow, report per login) over 32
// keep-alive connections and reports the latency percentiles, measured from each request's scheduled time so that
// queueing is not hidden. Run it long enough: go test -bench Paced5k -benchtime 20000x.
func BenchmarkPaced5k(b *testing.B) {
	const rate, conns = 5000, 32
	js, _ := jetStream(b, true)
	_, srv := serve(b, Options{Buffer: 1 << 20}, natsbus.NewPublisher(js, 16, prometheus.NewRegistry()), true)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	type job struct {
		i   int
		due time.Time
	}
	work := make(chan job, rate)
	lat := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range work {
				if err := call(client, srv.URL+"/v1/dovecot/policy?command="+benchCommand(j.i), benchBody(j.i/3)); err != nil {
					b.Error(err)
				}
				lat[j.i] = time.Since(j.due)
			}
		}()
	}
	for i := range b.N {
		due := start.Add(time.Duration(i) * time.Second / rate)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		work <- job{i, due}
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1), "max-ms")
}

func call(c *http.Client, url, body string) error {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", token)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// BenchmarkReport measures decoding a report into a validated event, without HTTP.
func BenchmarkReport(b *testing.B) {
	body := []byte(success)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		rep, err := ParseReport(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := rep.Event(now, "imap1", 0); err != nil {
			b.Fatal(err)
		}
	}
}
