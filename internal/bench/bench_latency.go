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
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/httpapi"
	"github.com/vigil-ids/vigil/internal/ingest"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
)

// benchLatency feeds the single-node path at a paced rate and measures, for probe users who log in from two
// countries, the time from ingest's answer to the incident row being queryable in ClickHouse.
func benchLatency(ctx context.Context, js jetstream.JetStream, store *chstore.Store, g engine.Geo, nets []gen.Network, evs []event.Event, rate int, d time.Duration, logger *slog.Logger) ([]time.Duration, error) {
	if err := js.DeleteStream(ctx, natsbus.DefaultStream); err != nil {
		return nil, err
	}
	if _, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{}); err != nil {
		return nil, err
	}
	const token = "bench-token-0123456789"
	reg := prometheus.NewRegistry()
	h, err := ingest.NewHandler(ingest.Options{Tokens: []string{token}}, natsbus.NewPublisher(js, 16, reg), logger, reg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	h.Register(mux)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go httpapi.Serve(sctx, ln, mux, logger)
	det, err := detector.New(js, store, g, noTrust, detector.Options{Rules: rule.Config{Global: rule.Defaults}}, logger, prometheus.NewRegistry())
	if err != nil {
		return nil, err
	}
	go det.Run(sctx)
	<-det.Ready()

	url := "http://" + ln.Addr().String() + "/v1/events"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	post := func(body []byte) error {
		req, _ := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("ingest answered %s", resp.Status)
		}
		return nil
	}
	// Two addresses in different countries for the probes.
	var a, b netip.Addr
	for _, n := range nets {
		if n.Prefix.Addr().Is4() && !a.IsValid() {
			a = n.Prefix.Addr().Next()
			continue
		}
		if a.IsValid() && n.Prefix.Addr().Is4() && g.Country(n.Prefix.Addr().Next()) != g.Country(a) && g.Country(n.Prefix.Addr().Next()) != "" {
			b = n.Prefix.Addr().Next()
			break
		}
	}

	var (
		mu       sync.Mutex
		accepted = map[string]time.Time{}
		seen     = map[string]time.Duration{}
	)
	pollDone := make(chan struct{})
	go func() { // poll ClickHouse for the probes' incidents
		defer close(pollDone)
		for sctx.Err() == nil {
			rows, err := store.Conn().Query(sctx, "SELECT user FROM "+store.Database()+".incidents FINAL WHERE domain = 'latency.test'")
			if err == nil {
				now := time.Now()
				for rows.Next() {
					var u string
					rows.Scan(&u)
					mu.Lock()
					if t, ok := accepted[u]; ok {
						if _, done := seen[u]; !done {
							seen[u] = now.Sub(t)
						}
					}
					mu.Unlock()
				}
				rows.Close()
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()

	// Background load: batches of 100 every 100/rate seconds; a probe every 250 ms.
	batch := 100
	interval := time.Duration(float64(time.Second) * float64(batch) / float64(rate))
	start := time.Now()
	next, probe, i := start, start, 0
	for time.Since(start) < d {
		if time.Now().After(probe) {
			u := fmt.Sprintf("probe%04d@latency.test", len(accepted))
			var body bytes.Buffer
			for _, ip := range []netip.Addr{a, b} {
				e := event.Event{Kind: event.KindLogin, Time: time.Now().UTC(), User: u, IP: ip, Service: "imap", Success: true}
				json.NewEncoder(&body).Encode(&e)
			}
			if err := post(body.Bytes()); err != nil {
				return nil, err
			}
			mu.Lock()
			accepted[u] = time.Now()
			mu.Unlock()
			probe = probe.Add(250 * time.Millisecond)
		}
		var body bytes.Buffer
		enc := json.NewEncoder(&body)
		for range batch {
			enc.Encode(&evs[i%len(evs)])
			i++
		}
		if err := post(body.Bytes()); err != nil {
			return nil, err
		}
		next = next.Add(interval)
		time.Sleep(time.Until(next))
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n, want := len(seen), len(accepted)
		mu.Unlock()
		if n == want || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-pollDone
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < len(accepted) {
		return nil, fmt.Errorf("%d of %d probe incidents never appeared", len(accepted)-len(seen), len(accepted))
	}
	var out []time.Duration
	for _, v := range seen {
		out = append(out, v)
	}
	slices.Sort(out)
	return out, nil
}
