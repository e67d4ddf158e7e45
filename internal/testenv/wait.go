package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
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

// StoredEvents waits until stream s holds exactly want messages and returns them decoded, in stream order.
func StoredEvents(t testing.TB, s jetstream.Stream, want uint64) []event.Event {
	t.Helper()
	ctx := context.Background()
	Eventually(t, 10*time.Second, fmt.Sprintf("stream holds %d events", want), func() bool {
		info, err := s.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info.State.Msgs == want
	})
	evs := make([]event.Event, 0, want)
	for seq := uint64(1); seq <= want; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		var e event.Event
		if err := event.Unmarshal(msg.Data, &e); err != nil {
			t.Fatalf("stream message %d: %v", seq, err)
		}
		evs = append(evs, e)
	}
	return evs
}
