package chstore

import (
	"context"
	"testing"
	"time"
)

// Step-up outcomes are read back per incident, newest first; a retried insert of one attempt shows once.
func TestStepUpsPerIncident(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	a := StepUpRow{IncidentID: "i1", AttemptID: "a1", Time: now, User: "carol@example.org", Result: "failed", Method: "totp", ClientIP: "198.51.100.7", Actor: "apikey:webmail"}
	b := StepUpRow{IncidentID: "i1", AttemptID: "a2", Time: now.Add(time.Minute), User: "carol@example.org", Result: "passed", Method: "email", ClientIP: "198.51.100.7", Actor: "apikey:webmail"}
	other := StepUpRow{IncidentID: "i2", AttemptID: "a3", Time: now, User: "dave@example.org", Result: "denied"}
	for _, rows := range [][]StepUpRow{{a, b, other}, {a}} {
		if err := s.WriteStepUps(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.StepUps(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("StepUps(i1) = %+v; want [%+v %+v]", got, b, a)
	}
	if got, err := s.StepUps(ctx, "none"); err != nil || got == nil || len(got) != 0 {
		t.Errorf("StepUps(none) = %#v, %v; want an empty, non-nil list", got, err)
	}
}
