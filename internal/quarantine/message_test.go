package quarantine

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var at = time.Date(2026, 12, 2, 5, 0, 0, 0, time.UTC)

func TestDecodeCommand(t *testing.T) {
	good := Command{ID: "c1", Action: ActionRelease, Host: "mx1.example.org", QueueID: "E3F44D031A", By: "root", At: at}
	data, _ := json.Marshal(good)
	got, err := DecodeCommand(data)
	if err != nil || !cmp.Equal(got, good) {
		t.Fatalf("DecodeCommand(%s) = %+v, %v; want %+v", data, got, err, good)
	}
	for _, tt := range []struct{ name, in, want string }{
		{"unknown field", `{"id":"c1","action":"release","host":"mx1","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z","shell":"x"}`, "unknown field"},
		{"bad action", `{"id":"c1","action":"requeue","host":"mx1","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z"}`, "action"},
		{"bad queue id", `{"id":"c1","action":"delete","host":"mx1","queue_id":"ALL","by":"root","at":"2026-12-02T05:00:00Z"}`, "invalid queue id"},
		{"option as queue id", `{"id":"c1","action":"delete","host":"mx1","queue_id":"-d ALL","by":"root","at":"2026-12-02T05:00:00Z"}`, "invalid queue id"},
		{"bad host", `{"id":"c1","action":"delete","host":"mx1 mx2","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z"}`, "host name"},
		{"no actor", `{"id":"c1","action":"delete","host":"mx1","queue_id":"E3F44D031A","by":"","at":"2026-12-02T05:00:00Z"}`, "by is empty"},
		{"control character", `{"id":"c\n1","action":"delete","host":"mx1","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z"}`, "control"},
		{"no time", `{"id":"c1","action":"delete","host":"mx1","queue_id":"E3F44D031A","by":"root"}`, "years"},
		{"trailing data", `{"id":"c1","action":"delete","host":"mx1","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z"} {}`, "after"},
		{"too large", `{"id":"` + strings.Repeat("x", maxRecord) + `"}`, "bytes, at most"},
		{"not JSON", `release E3F44D031A`, "invalid character"},
	} {
		if _, err := DecodeCommand([]byte(tt.in)); !errors.Is(err, ErrRecord) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: DecodeCommand = %v; want an ErrRecord containing %q", tt.name, err, tt.want)
		}
	}
}

// FuzzDecodeCommand: a command the decoder accepts has a valid queue id and host, survives a round trip, and
// nothing else panics or is accepted.
func FuzzDecodeCommand(f *testing.F) {
	f.Add([]byte(`{"id":"c1","action":"release","host":"mx1","queue_id":"E3F44D031A","by":"root","at":"2026-12-02T05:00:00Z"}`))
	f.Add([]byte(`{"id":"c1","action":"delete","host":"mx1","queue_id":"3Pt2mN2VXxznjll","by":"root","at":"2026-12-02T05:00:00Z"}`))
	f.Add([]byte(`{"id":"c1","action":"delete","host":"mx1","queue_id":"ALL","by":"root","at":"2026-12-02T05:00:00Z"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("DecodeCommand(%q) = %v; want an ErrRecord", data, err)
			}
			return
		}
		if CheckQueueID(c.QueueID) != nil || CheckHost(c.Host) != nil || (c.Action != ActionRelease && c.Action != ActionDelete) {
			t.Fatalf("DecodeCommand(%q) accepted %+v", data, c)
		}
		again, _ := json.Marshal(c)
		if c2, err := DecodeCommand(again); err != nil || !c2.At.Equal(c.At) || c2.QueueID != c.QueueID || c2.ID != c.ID {
			t.Fatalf("round trip of %+v = %+v, %v", c, c2, err)
		}
	})
}

// FuzzDecodeHeld: the auth API's decoder of held records refuses what it cannot store.
func FuzzDecodeHeld(f *testing.F) {
	f.Add([]byte(`{"host":"mx1","queue_id":"E3F44D031A","sender":"bob@example.org","recipients":2,"size":300,"time":"2026-12-02T05:00:00Z"}`))
	f.Add([]byte(`{"host":"mx1","queue_id":"E3F44D031A","recipients":-1,"time":"2026-12-02T05:00:00Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeHeld(data)
		if err != nil {
			if !errors.Is(err, ErrRecord) {
				t.Fatalf("DecodeHeld(%q) = %v; want an ErrRecord", data, err)
			}
			return
		}
		if m.Recipients < 0 || m.Size < 0 || CheckQueueID(m.QueueID) != nil || CheckHost(m.Host) != nil {
			t.Fatalf("DecodeHeld(%q) accepted %+v", data, m)
		}
	})
}

func TestApplyResult(t *testing.T) {
	now := at.Add(time.Minute)
	for _, tt := range []struct {
		name          string
		r             Result
		status, audit string
	}{
		{"released", Result{Action: ActionRelease, Outcome: OutcomeReleased, Queue: "active"}, "released", "success"},
		{"deleted", Result{Action: ActionDelete, Outcome: OutcomeDeleted}, "deleted", "success"},
		{"release repeated", Result{Action: ActionRelease, Outcome: OutcomeNotHeld, Queue: "deferred"}, "released", "success"},
		{"delete repeated", Result{Action: ActionDelete, Outcome: OutcomeNotHeld}, "deleted", "success"},
		{"release of a vanished message", Result{Action: ActionRelease, Outcome: OutcomeNotHeld}, "failed", "failure"},
		{"delete of a released message", Result{Action: ActionDelete, Outcome: OutcomeNotHeld, Queue: "active"}, "failed", "failure"},
		{"postsuper failed", Result{Action: ActionDelete, Outcome: OutcomeFailed, Error: "postsuper: fatal"}, "failed", "failure"},
	} {
		tt.r.At, tt.r.Requested, tt.r.By = now, at, "root"
		row := heldRow(HeldMessage{Host: "mx1", QueueID: "E3F44D031A", User: "bob@Example.org", Time: at.Add(-time.Hour)})
		next, audit := applyResult(row, tt.r, now)
		if next.Status != tt.status || audit != tt.audit || next.Version <= row.Version || next.Domain != "example.org" || next.Actor != "root" {
			t.Errorf("%s: applyResult = %+v, %s; want status %s, audit %s, a newer version", tt.name, next, audit, tt.status, tt.audit)
		}
	}
}
