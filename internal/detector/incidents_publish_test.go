package detector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

// streamIncidents reads every message of the incidents stream: message id -> incident version.
func streamIncidents(t *testing.T, js jetstream.JetStream) map[string]incident.Incident {
	t.Helper()
	ctx := context.Background()
	s, err := js.Stream(ctx, natsbus.IncidentsStream)
	if err != nil {
		t.Fatalf("incidents stream: %v", err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]incident.Incident{}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("incidents stream message %d: %v", seq, err)
		}
		var inc incident.Incident
		if err := json.Unmarshal(m.Data, &inc); err != nil {
			t.Fatalf("incidents stream message %d: %v", seq, err)
		}
		id := m.Header.Get(jetstream.MsgIDHeader)
		if want := natsbus.IncidentMsgID(inc.ID, inc.Version); id != want {
			t.Errorf("message %d has id %q; want %q", seq, id, want)
		}
		if m.Subject != natsbus.IncidentSubject(string(inc.Rule)) {
			t.Errorf("message %d on %s; want %s", seq, m.Subject, natsbus.IncidentSubject(string(inc.Rule)))
		}
		if _, dup := out[id]; dup {
			t.Errorf("incident version %s stored twice in the stream", id)
		}
		out[id] = inc
	}
	return out
}

// TestCommittedIncidentsStoredOnceInTheStream commits incidents (a user's and an address's), then redelivers the
// whole batch to a detector with an empty store (the durable consumers are deleted): the detector commits and
// publishes the same incident versions again, and the stream still holds each version exactly once.
func TestCommittedIncidentsStoredOnceInTheStream(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	evs := sprayAndTravel()
	e.publish(evs...)
	stop := e.run(nil, defaults())
	waitDrained(t, e.js)
	testenv.WaitDrained(t, e.js, natsbus.AddrStream, "")
	var first map[string]incident.Incident
	testenv.Eventually(t, 20*time.Second, "a user and an address incident in the incidents stream", func() bool {
		first = streamIncidents(t, e.js)
		user, addr := false, false
		for _, inc := range first {
			user = user || inc.User != ""
			addr = addr || (inc.User == "" && inc.Addr != nil)
		}
		return user && addr
	})
	stop()
	committed := e.count("SELECT uniqExact(incident_id, version) FROM incidents")
	if got := uint64(len(first)); got != committed {
		t.Errorf("%d incident versions in the stream; want the %d committed", got, committed)
	}

	// Redeliver everything to a detector that commits into a fresh database: it must publish the same versions.
	for _, name := range []string{natsbus.EventsStream, natsbus.AddrStream} {
		s, err := e.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for c := range s.ConsumerNames(ctx).Name() {
			if err := s.DeleteConsumer(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
	}
	addr, db := testenv.ClickHouseDB(t)
	fresh, err := chstore.Open(ctx, chstore.Options{Addr: addr, Database: db}, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fresh.Close() })
	if err := fresh.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e.store = fresh
	stop = e.run(fresh, defaults())
	waitDrained(t, e.js)
	testenv.WaitDrained(t, e.js, natsbus.AddrStream, "")
	e.waitCount(committed, "SELECT uniqExact(incident_id, version) FROM incidents")
	stop()
	again := streamIncidents(t, e.js)
	if !slices.Equal(slices.Sorted(maps.Keys(again)), slices.Sorted(maps.Keys(first))) {
		t.Errorf("stream after the redelivery holds %v; want exactly the first delivery's %v", slices.Sorted(maps.Keys(again)), slices.Sorted(maps.Keys(first)))
	}
}

// sprayAndTravel is a password spray from one address over 30 accounts and a user logging in from two countries.
func sprayAndTravel() []event.Event {
	var evs []event.Event
	for i := range 30 {
		ev := login(fmt.Sprintf("target%02d@example.org", i), ipAU, time.Duration(i)*time.Minute, false)
		ev.PWHash = fmt.Sprintf("%03x", i)
		ev.ID = event.ContentID(&ev)
		evs = append(evs, ev)
	}
	return append(evs, login("alice@example.org", ipGB, 0, true), login("alice@example.org", ipUS, time.Hour, true))
}

// TestIncidentsStreamOutageHoldsAcks: while the incidents stream cannot store an incident, the detector commits it
// to ClickHouse but acknowledges nothing and reports itself unhealthy; once the stream is back, the incident is
// stored and the batch acknowledged.
func TestIncidentsStreamOutageHoldsAcks(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	d := e.start(nil, defaults())
	if err := e.js.DeleteStream(ctx, natsbus.IncidentsStream); err != nil {
		t.Fatal(err)
	}
	e.publish(login("alice@example.org", ipGB, 0, true), login("alice@example.org", ipUS, time.Hour, true))
	e.waitCount(1, "SELECT count() FROM incidents FINAL")
	testenv.Eventually(t, 10*time.Second, "the detector unhealthy for the incidents stream", func() bool {
		err := d.Health()
		return err != nil && strings.Contains(err.Error(), natsbus.IncidentsStream)
	})
	s, err := e.js.Stream(ctx, natsbus.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	for name := range s.ConsumerNames(ctx).Name() {
		c, err := s.Consumer(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if ci, err := c.Info(ctx); err != nil || ci.AckFloor.Stream != 0 {
			t.Fatalf("consumer %s acknowledged up to %d (%v) while the incident was not in the incidents stream", name, ci.AckFloor.Stream, err)
		}
	}
	if _, err := natsbus.EnsureIncidentsStream(ctx, e.js, 1); err != nil {
		t.Fatal(err)
	}
	waitDrained(t, e.js)
	if got := streamIncidents(t, e.js); len(got) != 1 {
		t.Errorf("incidents stream holds %d versions after the outage; want alice's 1", len(got))
	}
	testenv.Eventually(t, 10*time.Second, "the detector healthy again", func() bool { return d.Health() == nil })
}
