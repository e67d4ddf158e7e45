package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigil-ids/vigil/internal/decision"
)

// TestOpenedIsFirstVersionSeen: the version that opens an incident is the first one any sink sees, and stays so on
// redelivery; every other version is an update.
func TestOpenedIsFirstVersionSeen(t *testing.T) {
	b := newBus(t)
	kv, err := openBucket(context.Background(), b.js, OpenedBucket, "test", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	d := &decoder{opened: kv}
	for _, c := range []struct {
		version uint64
		want    Type
	}{{2, IncidentOpened}, {2, IncidentOpened}, {3, IncidentUpdated}, {1, IncidentUpdated}, {2, IncidentOpened}} {
		inc := sampleIncident("erin@example.org", c.version)
		data, _ := json.Marshal(inc)
		e, err := d.incident(context.Background(), data)
		if err != nil {
			t.Fatal(err)
		}
		if e.Type != c.want {
			t.Errorf("version %d: type %s; want %s", c.version, e.Type, c.want)
		}
	}
}

func TestDecisionAndReviewEvents(t *testing.T) {
	dec := decision.Decision{ID: "0123456789abcdef0123456789abcdef", Kind: decision.User, Subject: "a@example.org", Action: decision.Kick,
		Reason: "r", CreatedBy: "vigil", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Revision: 7}
	data, _ := json.Marshal(dec)
	e, err := decisionEvent(dec.ID, data)
	if err != nil || e.Type != DecisionAdded || e.ID != "decision."+dec.ID+".added" || !e.Time.Equal(t0) || e.Decision().Revision != 0 {
		t.Errorf("decisionEvent = %+v, %v; want decision.added at %s without the read revision", e, err, t0)
	}
	dec.LiftedAt, dec.LiftedBy = t0.Add(time.Minute), "root"
	data, _ = json.Marshal(dec)
	if e, err := decisionEvent(dec.ID, data); err != nil || e.Type != DecisionLifted || e.ID != "decision."+dec.ID+".lifted" || !e.Time.Equal(dec.LiftedAt) {
		t.Errorf("decisionEvent(lifted) = %+v, %v; want decision.lifted at %s", e, err, dec.LiftedAt)
	}
	if _, err := decisionEvent("ffffffffffffffffffffffffffffffff", data); !errors.Is(err, errPoison) {
		t.Errorf("decisionEvent with another key = %v; want a poison error", err)
	}
	if _, err := decisionEvent(dec.ID, []byte("{")); !errors.Is(err, errPoison) {
		t.Errorf("decisionEvent(bad JSON) = %v; want a poison error", err)
	}
	rev := []byte(`{"incident_id":"` + dec.ID + `","status":"resolved","action":"resolve","reason":"false_positive","by":"root","at":"2026-12-01T10:00:00Z","client_ip":"192.0.2.1","revision":0}`)
	e, err = reviewEvent(dec.ID, 42, rev)
	if err != nil || e.ID != "review."+dec.ID+".42" || e.Review().Revision != 42 || bytes.Contains(e.Payload, []byte("192.0.2.1")) {
		t.Errorf("reviewEvent = %+v, %v; want id review.<id>.42, revision 42, no client address", e, err)
	}
	if _, err := reviewEvent("../x", 1, rev); !errors.Is(err, errPoison) {
		t.Errorf("reviewEvent with a bad key = %v; want a poison error", err)
	}
}

// TestSchemaRejects keeps the schema from accepting anything: each broken envelope is refused.
func TestSchemaRejects(t *testing.T) {
	s := compileEventSchema(t)
	good := `{"id":"decision.0123456789abcdef0123456789abcdef.added","type":"decision.added","time":"2026-12-01T09:00:00Z","payload":` +
		`{"id":"0123456789abcdef0123456789abcdef","kind":"user","subject":"a@example.org","action":"kick","reason":"r","created_by":"vigil",` +
		`"created_at":"2026-12-01T09:00:00Z","expires_at":"2026-12-01T10:00:00Z"}}`
	for _, c := range []struct {
		name, doc string
		ok        bool
	}{
		{"valid", good, true},
		{"unknown type", `{"id":"x","type":"incident.deleted","time":"2026-12-01T09:00:00Z","payload":{}}`, false},
		{"extra envelope field", good[:len(good)-1] + `,"secret":"x"}`, false},
		{"lifted without lifted_at", regexp.MustCompile(`added`).ReplaceAllString(good, "lifted"), false},
		{"decision with an incident payload", `{"id":"decision.0123456789abcdef0123456789abcdef.added","type":"decision.added","time":"2026-12-01T09:00:00Z","payload":{"incident_id":"0123456789abcdef0123456789abcdef"}}`, false},
		{"incident id for a review", `{"id":"incident.0123456789abcdef0123456789abcdef.1","type":"incident.reviewed","time":"2026-12-01T09:00:00Z","payload":{"incident_id":"0123456789abcdef0123456789abcdef","status":"open","action":"reopen","by":"root","at":"2026-12-01T09:00:00Z","revision":1}}`, false},
		{"bad time", `{"id":"x","type":"decision.added","time":"yesterday","payload":{}}`, false},
	} {
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader([]byte(c.doc)))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(v); (err == nil) != c.ok {
			t.Errorf("%s: Validate = %v; want ok %v", c.name, err, c.ok)
		}
	}
}

var idRE = regexp.MustCompile(`^(review\.[0-9a-f]{32}\.[1-9][0-9]*|decision\.[0-9a-f]{32}\.(added|lifted))$`)

// FuzzSourceRecords: any KV record gives an event with a well-formed id or a poison error, never a panic; the
// digest's parser reads back whatever it stored.
func FuzzSourceRecords(f *testing.F) {
	f.Add("0123456789abcdef0123456789abcdef", []byte(`{"id":"0123456789abcdef0123456789abcdef","lifted_at":"2026-12-01T09:00:00Z"}`))
	f.Add("0123456789abcdef0123456789abcdef", []byte(`{"incident_id":"0123456789abcdef0123456789abcdef","status":"resolved"}`))
	f.Add("x", []byte(`[]`))
	f.Fuzz(func(t *testing.T, key string, data []byte) {
		for _, fn := range []func() (*Event, error){
			func() (*Event, error) { return decisionEvent(key, data) },
			func() (*Event, error) { return reviewEvent(key, 9, data) },
		} {
			e, err := fn()
			if err != nil {
				if !errors.Is(err, errPoison) {
					t.Fatalf("error %v is not a poison error", err)
				}
				continue
			}
			if !idRE.MatchString(e.ID) {
				t.Fatalf("event id %q is malformed", e.ID)
			}
			back, err := parseEvent(e.body())
			if err != nil || back.ID != e.ID || back.Type != e.Type {
				t.Fatalf("parseEvent(body of %s) = %+v, %v", e.ID, back, err)
			}
		}
		parseEvent(data) // the digest bucket's records: no panic
	})
}
