package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/dovecot"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/maillog"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/postfix"
)

// benchMail measures the mail-server paths: the Dovecot policy endpoint's latency at a fixed request rate, the
// Postfix policy server's throughput over many connections, and the log parser's speed.
func benchMail(ctx context.Context, js jetstream.JetStream, stdout io.Writer, logger *slog.Logger) error {
	pub := natsbus.NewPublisher(js, 16, nil)

	// Dovecot: 5,000 requests/s (allow, allow, report per login) for 4 seconds over 32 keep-alive connections.
	h, err := dovecot.New(dovecot.Options{Tokens: []string{"bench-token"}, Buffer: 100000}, pub, logger, prometheus.NewRegistry())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	mux := http.NewServeMux()
	mux.Handle("/v1/dovecot/policy", h)
	go httpapi.Serve(sctx, ln, mux, logger)
	go h.Run(sctx)
	const rate, seconds, conns = 5000, 4, 32
	url := "http://" + ln.Addr().String() + "/v1/dovecot/policy?command="
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	var (
		mu  sync.Mutex
		lat []time.Duration
		wg  sync.WaitGroup
	)
	work := make(chan int, rate)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for i := range work {
				cmd := "allow"
				if i%3 == 2 {
					cmd = "report"
				}
				body := fmt.Sprintf(`{"login":"user%d@example.org","remote":"81.2.69.%d","protocol":"imap","session_id":"s%d","success":true}`, i/3%5000, i%250, i/3)
				req, _ := http.NewRequest("POST", url+cmd, bytes.NewBufferString(body))
				req.Header.Set("X-API-Key", "bench-token")
				t0 := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	start := time.Now()
	for i := range rate * seconds {
		if d := time.Until(start.Add(time.Duration(i) * time.Second / rate)); d > 0 {
			time.Sleep(d)
		}
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))] }
	fmt.Fprintf(stdout, "  %-55s %9.0f req/s     p50 %s  p99 %s  max %s\n", "Dovecot auth policy endpoint (paced at 5,000 req/s)",
		float64(len(lat))/elapsed.Seconds(), pct(0.5).Round(time.Microsecond), pct(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))

	// Postfix: 100 connections, each 400 END-OF-MESSAGE requests.
	ps := postfix.New(postfix.Options{Buffer: 100000}, pub, logger, prometheus.NewRegistry())
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go ps.Serve(sctx, pln)
	const pconns, per = 100, 400
	start = time.Now()
	var pwg sync.WaitGroup
	errs := make(chan error, pconns)
	for c := range pconns {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			conn, err := net.Dial("tcp", pln.Addr().String())
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close()
			r := bufio.NewReader(conn)
			for i := range per {
				fmt.Fprintf(conn, "request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nclient_address=81.2.69.%d\nrecipient_count=2\nsize=4000\n"+
					"queue_id=Q%dX%d\ninstance=%d.%d\nsasl_username=user%d@example.org\n\n", i%250, c, i, c, i, c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						errs <- err
						return
					}
					if line == "\n" {
						break
					}
				}
			}
		}()
	}
	pwg.Wait()
	elapsed = time.Since(start)
	select {
	case err := <-errs:
		return fmt.Errorf("postfix bench: %w", err)
	default:
	}
	fmt.Fprintf(stdout, "  %-55s %9.0f req/s     over %d connections\n", "Postfix policy server (END-OF-MESSAGE)", float64(pconns*per)/elapsed.Seconds(), pconns)

	// Log parser: Dovecot and Postfix lines.
	lines := []string{
		"Nov 23 19:26:28 mx1 dovecot: imap-login: Login: user=<alice@example.org>, method=PLAIN, rip=81.2.69.142, lip=10.0.0.1, mpid=19853, secured, session=<LT38k/Zgy8NRAkWO>",
		"Nov 23 19:26:31 mx1 postfix/submission/smtpd[20167]: E3F44D031A: client=host[81.2.69.142], sasl_method=PLAIN, sasl_username=alice@example.org",
		"Nov 23 19:26:31 mx1 postfix/qmgr[20106]: E3F44D031A: from=<alice@example.org>, size=345, nrcpt=1 (queue active)",
		"Nov 23 19:26:34 mx1 postfix/smtpd[20171]: connect from unknown[81.2.69.142]",
	}
	p := maillog.NewParser("auto")
	const n = 400000
	start = time.Now()
	for i := range n {
		p.Line(lines[i%len(lines)])
	}
	elapsed = time.Since(start)
	fmt.Fprintf(stdout, "  %-55s %9.0f lines/s\n", "log parser (Dovecot and Postfix lines)", n/elapsed.Seconds())
	return nil
}
