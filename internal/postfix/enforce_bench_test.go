package postfix

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/gctune"
	"github.com/vigil-ids/vigil/internal/loadgen"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// BenchmarkEndOfMessage100kDecisions answers b.N END-OF-MESSAGE requests of authenticated senders paced at 5,000 per
// second over 50 persistent policy connections on loopback (each waits for its answer, as smtpd does), from an index
// holding 100,000 active decisions (hold_mail and defer_mail on users); one request in four is from a held user, one
// in four from a deferred one, the rest get DUNNO; every answer is checked. The decisions and the send events are
// stored by a nats-server process of its own. The requests come from a separate process (loadgen.Spawn); p50/p99 are
// from each request's scheduled time, less the load generator's own lateness in waking up for it (loadgen.Result).
// The sub-benchmark empty sends the same requests to a server with an empty index in the same run (the baseline),
// inmemory computes the answers without a network. The process runs with the garbage collector target
// gctune.ForPolicy sets (GOGC=400 unless GOGC is set), as the node and ingest do. The target (issue 12) is p99 < 1 ms
// at 5,000/s. Run:
//
//	go test -run XXX -bench EndOfMessage100kDecisions -benchtime 20000x ./internal/postfix/
func BenchmarkEndOfMessage100kDecisions(b *testing.B) {
	const rate, conns, active = 5000, 50, 100_000
	defer gctune.ForPolicy(nil)() // the collector target of a process serving policy answers, as the node and ingest set it
	js, err := natsbus.NewJetStream(testenv.ConnectURL(b, testenv.NATSProcess(b)))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{}); err != nil {
		b.Fatal(err)
	}
	ds, err := decision.Open(context.Background(), js, decision.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := decision.NewIndex(ds, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	go x.Run(ctx)
	<-x.Ready()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < active; i += 16 {
				a := decision.HoldMail
				if i%2 == 1 {
					a = decision.DeferMail
				}
				if _, _, err := ds.Put(ctx, decision.Decision{Kind: decision.User, Subject: fmt.Sprintf("user%d@example.org", i), Action: a, Reason: "benchmark", CreatedBy: decision.System}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for x.Active(time.Now()) < active {
		time.Sleep(10 * time.Millisecond)
	}
	emptyStore, err := decision.Open(ctx, js, decision.Options{Bucket: "vigil_decisions_empty"})
	if err != nil {
		b.Fatal(err)
	}
	empty := decision.NewIndex(emptyStore, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	go empty.Run(ctx)
	<-empty.Ready()
	const n = 4096
	reqs, want := make([]string, n), make([]string, n)
	for i := range reqs {
		user, answer := fmt.Sprintf("free%d@example.org", i), "action=DUNNO\n"
		switch i % 4 {
		case 0:
			user, answer = fmt.Sprintf("user%d@example.org", (i*2)%active), "action=HOLD benchmark\n"
		case 1:
			user, answer = fmt.Sprintf("user%d@example.org", (i*2+1)%active), "action="+DeferCode+" benchmark\n"
		}
		reqs[i], want[i] = request("END-OF-MESSAGE", user, fmt.Sprintf("Q%dX", i), 1+i%5), answer
	}
	var servers sync.WaitGroup
	defer servers.Wait()
	defer cancel()
	for _, bb := range []struct {
		name string
		x    *decision.Index
	}{{"empty", empty}, {"100k", x}} {
		s := New(Options{Buffer: 1 << 20, Decisions: bb.x}, natsbus.NewPublisher(js, 16, prometheus.NewRegistry()), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		servers.Add(1)
		go func() { defer servers.Done(); s.Serve(ctx, ln) }()
		b.Run(bb.name, func(b *testing.B) {
			want := want
			if bb.x == empty {
				want = []string{"action=DUNNO\n"}
			}
			res, err := loadgen.Spawn("TestLoadgenChild", loadgen.Spec{
				Protocol: "postfix", Addr: ln.Addr().String(), Requests: reqs, Answers: want, Calls: b.N,
				Options: loadgen.Options{Rate: rate, Workers: conns, Warmup: rate},
			})
			if err != nil {
				b.Fatal(err)
			}
			res.Report(b)
		})
	}
	b.Run("inmemory", func(b *testing.B) {
		s := New(Options{Buffer: 1 << 20, Decisions: x}, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		parsed := make([]Request, n)
		for i := range reqs {
			if parsed[i], err = ReadRequest(bufio.NewReaderSize(strings.NewReader(reqs[i]), MaxLine)); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if got, _ := s.verdict(parsed[i%n]); string(got) != want[i%n]+"\n" {
				b.Fatalf("verdict = %q; want %q", got, want[i%n])
			}
			i++
		}
	})
}

// TestLoadgenChild is the load generator process of the policy benchmarks (loadgen.Spawn): outside them it is skipped.
func TestLoadgenChild(t *testing.T) {
	if !loadgen.IsChild() {
		t.Skip("the policy benchmarks' load generator process")
	}
	if err := loadgen.ChildMain(); err != nil {
		t.Fatal(err)
	}
}
