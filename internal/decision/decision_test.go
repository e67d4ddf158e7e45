package decision

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/testenv"
)

func setup(t *testing.T) *Store {
	t.Helper()
	js, err := jetstream.New(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), js, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNormaliseRejects(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	cases := map[string]Decision{
		"kind":          {Kind: "host", Subject: "a", Action: BlockLogin, CreatedBy: System},
		"user action":   {Kind: User, Subject: "alice", Action: Tarpit, Delay: 2, CreatedBy: System},
		"net action":    {Kind: Network, Subject: "192.0.2.1", Action: HoldMail, CreatedBy: System},
		"wide net":      {Kind: Network, Subject: "10.0.0.0/8", Action: BlockLogin, CreatedBy: System},
		"no delay":      {Kind: Network, Subject: "192.0.2.1", Action: Tarpit, CreatedBy: System},
		"long delay":    {Kind: Network, Subject: "192.0.2.1", Action: Tarpit, Delay: MaxDelay + 1, CreatedBy: System},
		"line break":    {Kind: User, Subject: "alice", Action: HoldMail, Reason: "spam\naction=OK", CreatedBy: System},
		"long reason":   {Kind: User, Subject: "alice", Action: HoldMail, Reason: strings.Repeat("x", MaxReasonLen+1), CreatedBy: System},
		"no creator":    {Kind: User, Subject: "alice", Action: HoldMail},
		"space in user": {Kind: User, Subject: "al ice", Action: HoldMail, CreatedBy: System},
		"too long":      {Kind: User, Subject: "alice", Action: HoldMail, CreatedBy: System, ExpiresAt: now.Add(MaxDuration + time.Hour)},
		"past expiry":   {Kind: User, Subject: "alice", Action: HoldMail, CreatedBy: System, CreatedAt: now, ExpiresAt: now},
		"bad incident":  {Kind: User, Subject: "alice", Action: HoldMail, CreatedBy: System, IncidentID: "ZZ"},
	}
	for name, d := range cases {
		if err := d.Normalise(now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Normalise = %v; want ErrInvalid", name, err)
		}
	}
	d := Decision{Kind: Network, Subject: "192.0.2.77/24", Action: Tarpit, Delay: 3, CreatedBy: System}
	if err := d.Normalise(now); err != nil || d.Subject != "192.0.2.0/24" || !d.ExpiresAt.Equal(now.Add(DefaultExpiry)) || len(d.ID) != 32 {
		t.Errorf("Normalise = %v, %+v; want a canonical /24 expiring after the default and an id", err, d)
	}
}

func TestStoreAndIndex(t *testing.T) {
	s := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	x := NewIndex(s, slog.Default(), prometheus.NewRegistry())
	go x.Run(ctx)
	<-x.Ready()
	const inc = "00112233445566778899aabbccddeeff"
	hold, created, err := s.Put(ctx, Decision{Kind: User, Subject: "Alice@Example.org", Action: HoldMail, IncidentID: inc, Rule: "send_volume", Reason: "sending spam", CreatedBy: System})
	if err != nil || !created || hold.Domain != "example.org" {
		t.Fatalf("Put = %+v, %v, %v", hold, created, err)
	}
	if again, created, err := s.Put(ctx, Decision{Kind: User, Subject: "alice@example.org", Action: HoldMail, IncidentID: inc, Reason: "other", CreatedBy: System}); err != nil || created || again.Reason != "sending spam" {
		t.Errorf("second Put of the same cause = %+v, %v, %v; want the first, not created", again, created, err)
	}
	tarpit, _, err := s.Put(ctx, Decision{Kind: Network, Subject: "198.51.100.0/24", Action: Tarpit, Delay: 5, CreatedBy: "root"})
	if err != nil {
		t.Fatal(err)
	}
	block, _, err := s.Put(ctx, Decision{Kind: Network, Subject: "198.51.100.7", Action: BlockLogin, CreatedBy: "root"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Put(ctx, Decision{Kind: Network, Subject: "198.51.100.9", Action: BlockLogin, Observe: true, CreatedBy: System}); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("198.51.100.7")
	waitFor(t, func() bool { _, ok := x.Match("", ip, time.Now(), BlockLogin); return ok })
	if d, ok := x.Match("ALICE@example.org", netip.Addr{}, time.Now(), HoldMail, DeferMail); !ok || d.ID != hold.ID {
		t.Errorf("Match(user) = %+v, %v; want the hold", d, ok)
	}
	if d, ok := x.Match("bob", ip, time.Now(), BlockLogin, Tarpit); !ok || d.ID != block.ID {
		t.Errorf("Match(ip, block first) = %+v, %v; want the block", d, ok)
	}
	if d, ok := x.Match("bob", netip.MustParseAddr("198.51.100.8"), time.Now(), BlockLogin, Tarpit); !ok || d.ID != tarpit.ID {
		t.Errorf("Match(neighbour) = %+v, %v; want the /24 tarpit", d, ok)
	}
	if d, _ := x.Match("bob", netip.MustParseAddr("198.51.100.9"), time.Now(), BlockLogin, Tarpit); d.ID != tarpit.ID {
		t.Errorf("Match(observed block) = %+v; want the tarpit (an observe-mode decision is never enforced)", d)
	}
	if _, ok := x.Match("bob", netip.MustParseAddr("198.51.101.7"), time.Now(), BlockLogin, Tarpit); ok {
		t.Error("an address outside every decision matched")
	}
	if _, ok := x.Match("alice@example.org", netip.Addr{}, hold.ExpiresAt, HoldMail); ok {
		t.Error("an expired decision matched")
	}
	if _, err := s.Lift(ctx, block.ID, "root", "false alarm"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Lift(ctx, block.ID, "root", "again"); !errors.Is(err, ErrLifted) {
		t.Errorf("second Lift = %v; want ErrLifted", err)
	}
	waitFor(t, func() bool { d, _ := x.Match("", ip, time.Now(), BlockLogin, Tarpit); return d.ID == tarpit.ID })
	if all, err := s.List(ctx); err != nil || len(all) != 4 {
		t.Errorf("List = %d decisions, %v; want 4 (a lifted one stays listed)", len(all), err)
	}
	s.now = func() time.Time { return time.Now().Add(8 * 24 * time.Hour) }
	if n, err := s.Purge(ctx); err != nil || n != 4 {
		t.Errorf("Purge a week later = %d, %v; want 4", n, err)
	}
	waitFor(t, func() bool { return x.Active(time.Now()) == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
