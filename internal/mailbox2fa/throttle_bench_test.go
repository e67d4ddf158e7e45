package mailbox2fa

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// BenchmarkLimiterAllow is the cost the shared attempt limit adds to a verification: one compare-and-set count in
// the NATS KV bucket (in-process server). "distinct" spreads attempts over addresses (the usual case), "one" puts
// every parallel attempt on one address (a brute force across replicas: compare-and-set conflicts and retries).
func BenchmarkLimiterAllow(b *testing.B) {
	js, err := natsbus.NewJetStream(testenv.Connect(b, testenv.NATS(b)))
	if err != nil {
		b.Fatal(err)
	}
	lim, err := openLimiter(b.Context(), js, 1, 1<<30, time.Now)
	if err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.Run("distinct", func(b *testing.B) {
		for b.Loop() {
			if ok, _, err := lim.allow(b.Context(), fmt.Sprintf("u%d@example.org", n.Add(1))); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("one-parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if ok, _, err := lim.allow(b.Context(), "mallory@example.org"); !ok || err != nil {
					b.Error(ok, err)
					return
				}
			}
		})
	})
}
