package decision

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/testenv"
)

func TestRelatedIncidents(t *testing.T) {
	now := time.Now()
	d := Decision{Kind: User, Subject: "a@example.org", Action: HoldMail, CreatedBy: System, IncidentID: "aa", Related: []string{"bb"}}
	if err := d.Normalise(now); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"aa": true, "bb": true, "cc": false, "": false} {
		if got := d.CausedBy(id); got != want {
			t.Errorf("CausedBy(%q) = %v; want %v", id, got, want)
		}
	}
	for name, rel := range map[string][]string{"not hex": {"xyz"}, "empty": {""}, "too many": strings.Fields(strings.Repeat("ab ", MaxRelated+1))} {
		bad := Decision{Kind: User, Subject: "a@example.org", Action: HoldMail, CreatedBy: System, Related: rel}
		if err := bad.Normalise(now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Normalise = %v; want ErrInvalid", name, err)
		}
	}
}

func TestIndexSelect(t *testing.T) {
	s := setup(t)
	ctx := context.Background()
	x := NewIndex(s, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go x.Run(cctx)
	<-x.Ready()
	for _, d := range []Decision{
		{Kind: User, Subject: "a@example.org", Action: BlockLogin, CreatedBy: System, IncidentID: "aa"},
		{Kind: User, Subject: "b@example.org", Action: HoldMail, CreatedBy: System, IncidentID: "bb", Related: []string{"aa"}},
		{Kind: Network, Subject: "192.0.2.0/24", Action: BlockLogin, CreatedBy: System, IncidentID: "cc"},
	} {
		if _, _, err := s.Put(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 5*time.Second, "the index holds three decisions", func() bool { return x.Active(time.Now()) == 3 })
	got := x.Select(func(d *Decision) bool { return d.CausedBy("aa") })
	if len(got) != 2 {
		t.Fatalf("Select(caused by aa) = %d decisions; want 2", len(got))
	}
}
