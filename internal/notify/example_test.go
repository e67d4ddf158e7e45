package notify

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigil-ids/vigil/internal/decision"
)

var update = flag.Bool("update", false, "rewrite the example events under schemas/notifications/v1")

// TestExamples keeps schemas/notifications/v1/*.example.json equal to what the notifier sends for fixed records,
// and valid against the schema (go test ./internal/notify -run TestExamples -update rewrites them).
func TestExamples(t *testing.T) {
	schema := compileEventSchema(t)
	inc := sampleIncident("alice@example.org", 1)
	kv, err := openBucket(t.Context(), newBus(t).js, OpenedBucket, "test", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	incData, _ := json.Marshal(inc)
	opened, err := (&decoder{opened: kv}).incident(t.Context(), incData)
	if err != nil {
		t.Fatal(err)
	}
	review, err := reviewEvent(inc.ID, 17, []byte(`{"incident_id":"`+inc.ID+`","status":"resolved","action":"resolve","reason":"user_travelling",`+
		`"note":"on a conference in Lagos","by":"root","at":"2026-12-01T10:15:00Z","client_ip":"192.0.2.1","revision":0}`))
	if err != nil {
		t.Fatal(err)
	}
	d := decision.Decision{Kind: decision.User, Subject: inc.User, Domain: "example.org", Action: decision.HoldMail, IncidentID: inc.ID,
		Rule: "multi_country", IPs: inc.IPs, Reason: "logins from two countries", CreatedBy: decision.System,
		CreatedAt: t0.Add(2 * time.Minute), ExpiresAt: t0.Add(26 * time.Hour)}
	d.ID = decision.ID(d.Kind, d.Subject, d.Action, inc.ID)
	data, _ := json.Marshal(d)
	added, err := decisionEvent(d.ID, data)
	if err != nil {
		t.Fatal(err)
	}
	d.LiftedAt, d.LiftedBy, d.LiftReason = t0.Add(75*time.Minute), "root", "incident resolved: user_travelling"
	data, _ = json.Marshal(d)
	lifted, err := decisionEvent(d.ID, data)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*Event{"incident.opened": opened, "incident.reviewed": review, "decision.added": added, "decision.lifted": lifted} {
		var buf bytes.Buffer
		if err := json.Indent(&buf, e.body(), "", "  "); err != nil {
			t.Fatal(err)
		}
		buf.WriteByte('\n')
		path := filepath.Join("..", "..", "schemas", "notifications", "v1", name+".example.json")
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		have, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update)", err)
		}
		if !bytes.Equal(have, buf.Bytes()) {
			t.Errorf("%s differs from what the notifier sends; run go test ./internal/notify -run TestExamples -update", path)
		}
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(have))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(v); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
