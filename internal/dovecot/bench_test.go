package dovecot

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/loadgen"
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
	b.ReportAllocs()
	b.ResetTimer()
	res, err := loadgen.Run(b.N, loadgen.Options{Rate: rate, Workers: conns}, func(_, i int) error {
		return call(client, srv.URL+"/v1/dovecot/policy?command="+benchCommand(i), benchBody(i/3))
	})
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	res.Report(b)
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
