package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/schemas"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func testLogger() *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// bus is a real NATS server with JetStream for one test.
type bus struct {
	t   *testing.T
	js  jetstream.JetStream
	reg *prometheus.Registry // the latest notifier's metrics
}

func newBus(t *testing.T) *bus {
	t.Helper()
	nc := testenv.Connect(t, testenv.NATS(t))
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &bus{t: t, js: js}
}

// start builds a notifier and runs it; the returned stop cancels it and waits until Run returned.
func (b *bus) start(o Options, logins LoginSource) (stop func()) {
	b.t.Helper()
	b.reg = prometheus.NewRegistry()
	n, err := New(b.t.Context(), b.js, o, logins, testLogger(), b.reg)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				b.t.Errorf("Run = %v; want nil after cancel", err)
			}
		})
	}
	b.t.Cleanup(stop)
	return stop
}

// incident publishes one incident version into VIGIL_INCIDENTS the way the detector does.
func (b *bus) incident(inc incident.Incident) {
	b.t.Helper()
	data, _ := json.Marshal(inc)
	if _, err := b.js.Publish(context.Background(), natsbus.IncidentSubject(string(inc.Rule)), data,
		jetstream.WithMsgID(natsbus.IncidentMsgID(inc.ID, inc.Version))); err != nil {
		b.t.Fatal(err)
	}
}

// review stores a review record the way the auth API does (its JSON, keyed by incident id).
func (b *bus) review(id, status, action, reason string, at time.Time) {
	b.t.Helper()
	kv, err := b.js.KeyValue(context.Background(), ReviewsBucket)
	if err != nil {
		b.t.Fatal(err)
	}
	rec := map[string]any{"incident_id": id, "status": status, "action": action, "reason": reason, "by": "root", "at": at,
		"client_ip": "192.0.2.1", "revision": 0}
	data, _ := json.Marshal(rec)
	if _, err := kv.Put(context.Background(), id, data); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bus) decisions() *decision.Store {
	b.t.Helper()
	s, err := decision.Open(context.Background(), b.js, decision.Options{})
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// sampleIncident is a multi_country incident of user at version v.
func sampleIncident(user string, v uint64) incident.Incident {
	id := incident.ID(incident.MultiCountry, user, t0)
	return incident.Incident{ID: id, Rule: incident.MultiCountry, User: user, Domain: "example.org", Status: incident.StatusOpen,
		WindowStart: t0, FirstSeen: t0, LastSeen: t0.Add(time.Duration(v) * time.Minute), Countries: []string{"DE", "NG"},
		IPs: []string{"198.51.100.7", "203.0.113.9"}, Logins: uint32(1 + v), Version: v,
		Detail: []incident.Country{{Country: "DE", IPs: []string{"203.0.113.9"}, FirstSeen: t0, LastSeen: t0, Logins: 1},
			{Country: "NG", IPs: []string{"198.51.100.7"}, FirstSeen: t0.Add(time.Minute), LastSeen: t0.Add(time.Duration(v) * time.Minute), Logins: int(v)}}}
}

// compileEventSchema compiles schemas/notifications/v1/event.schema.json.
func compileEventSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	raw, err := fs.ReadFile(schemas.Notifications, "notifications/v1/event.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("event.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("event.schema.json")
	if err != nil {
		t.Fatalf("compile schema: %v", err)
	}
	return s
}

// receiver is a real HTTP webhook receiver on 127.0.0.1: it verifies every signature and the body against the
// schema, fails the first attempt of the ids in fail (500) and in hang (no answer until the client gives up),
// and counts the deliveries it accepted per id.
type receiver struct {
	t      *testing.T
	secret []byte
	schema *jsonschema.Schema
	srv    *httptest.Server

	mu       sync.Mutex
	fail     map[string]bool // ids whose first attempt gets 500
	hang     map[string]bool // ids whose first attempt hangs past the timeout
	always   bool            // answer 500 to everything
	attempts map[string]int
	accepted map[string]int
	events   map[string]Event
	bad      []string // signature or schema failures
}

func newReceiver(t *testing.T, secret []byte) *receiver {
	r := &receiver{t: t, secret: secret, schema: compileEventSchema(t), fail: map[string]bool{}, hang: map[string]bool{},
		attempts: map[string]int{}, accepted: map[string]int{}, events: map[string]Event{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	id := req.Header.Get(DeliveryHeader)
	r.mu.Lock()
	if err := Verify(r.secret, req.Header.Get(SignatureHeader), body, time.Now(), DefaultTolerance); err != nil {
		r.bad = append(r.bad, id+": "+err.Error())
		r.mu.Unlock()
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	if err := r.validate(body, id, req.Header.Get(EventHeader)); err != nil {
		r.bad = append(r.bad, id+": "+err.Error())
	}
	r.attempts[id]++
	first := r.attempts[id] == 1
	switch {
	case r.always || (first && r.fail[id]):
		r.mu.Unlock()
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	case first && r.hang[id]:
		r.mu.Unlock()
		<-req.Context().Done() // the notifier's timeout ends the request
		return
	}
	r.accepted[id]++
	var e Event
	json.Unmarshal(body, &e)
	r.events[id] = e
	r.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) validate(body []byte, id, typ string) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	if err := r.schema.Validate(v); err != nil {
		return err
	}
	var e Event
	json.Unmarshal(body, &e)
	if e.ID != id || string(e.Type) != typ {
		return errors.New("headers " + id + " " + typ + " differ from the body's id and type")
	}
	return nil
}

func (r *receiver) acceptedIDs() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.accepted)
}

// metric returns the value of a counter or gauge with the given labels in the latest notifier's registry.
func (b *bus) metric(name string, labels ...string) float64 {
	b.t.Helper()
	return metricValue(b.t, b.reg, name, labels...)
}

// metricValue returns the value of a counter or gauge with the given labels (name, value pairs) in reg; 0 when absent.
func metricValue(t testing.TB, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
