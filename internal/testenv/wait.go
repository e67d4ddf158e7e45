package testenv

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Eventually polls cond every 20 ms until it holds, failing the test with what when it does not within d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %s", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitDrained waits until every durable consumer of stream whose name starts with prefix has nothing pending and
// nothing awaiting acknowledgement. It fails the test when no such consumer exists, since then nothing drains.
func WaitDrained(t testing.TB, js jetstream.JetStream, stream, prefix string) {
	t.Helper()
	ctx := context.Background()
	var last string
	Eventually(t, 30*time.Second, "consumers of "+stream+" drained", func() bool {
		s, err := js.Stream(ctx, stream)
		if err != nil {
			last = err.Error()
			return false
		}
		found, done := 0, true
		names := s.ConsumerNames(ctx)
		for name := range names.Name() {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			found++
			c, err := s.Consumer(ctx, name)
			if err != nil {
				done = false
				continue
			}
			ci, err := c.Info(ctx)
			if err != nil || ci.NumPending > 0 || ci.NumAckPending > 0 {
				done = false
			}
		}
		if found == 0 {
			last = "no consumer named " + prefix + "*"
		}
		return found > 0 && done
	})
	_ = last
}
