package postfix

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// Benchmark100Connections sends b.N END-OF-MESSAGE requests of authenticated users over 100 persistent
// connections, each waiting for its answer before the next request as smtpd does, and publishes the events to an
// in-process JetStream.
func Benchmark100Connections(b *testing.B) {
	const conns = 100
	js, err := natsbus.NewJetStream(testenv.Connect(b, testenv.NATS(b)))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	s := New(Options{Buffer: 1 << 20}, natsbus.NewPublisher(js, 16, prometheus.NewRegistry()), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	clients := make([]net.Conn, conns)
	for i := range clients {
		if clients[i], err = net.Dial("tcp", ln.Addr().String()); err != nil {
			b.Fatal(err)
		}
		defer clients[i].Close()
	}
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for c := range conns {
		n := b.N / conns
		if c < b.N%conns {
			n++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn := clients[c]
			r := bufio.NewReader(conn)
			for i := range n {
				req := request("END-OF-MESSAGE", fmt.Sprintf("user%d@example.org", (c*7919+i)%5000), fmt.Sprintf("Q%dX%d", c, i), 1+i%5)
				if got, err := exchange(conn, r, req); err != nil || got != "action=DUNNO\n" {
					b.Errorf("answer = %q, %v", got, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}

// BenchmarkReadRequest measures reading one request and making its event, without the network.
func BenchmarkReadRequest(b *testing.B) {
	req := request("END-OF-MESSAGE", "alice@example.org", "E3F44D031A", 3)
	r := bufio.NewReaderSize(&repeat{s: req}, MaxLine)
	now := time.Now()
	b.ReportAllocs()
	b.SetBytes(int64(len(req)))
	for b.Loop() {
		q, err := ReadRequest(r)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := q.Event(now, "smtp1"); err != nil {
			b.Fatal(err)
		}
	}
}

// repeat reads s over and over.
type repeat struct {
	s   string
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.off:])
		n += c
		r.off = (r.off + c) % len(r.s)
	}
	return n, nil
}
