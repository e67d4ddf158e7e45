package detector

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
)

// Store commits enriched rows and incidents; Write returns only once they are durable.
type Store interface {
	Write(ctx context.Context, logins, sends []event.Enriched, incidents []incident.Incident) error
}

// IncidentSource lists incidents committed since a time, to continue them after a restart.
type IncidentSource interface {
	Incidents(ctx context.Context, since time.Time) ([]incident.Incident, error)
}

// Options configures a Detector.
type Options struct {
	Stream        string        // events stream; default natsbus.EventsStream (VIGIL_EVENTS)
	Partitions    int           // partition count of the deployment; default natsbus.DefaultPartitions (16)
	Owned         []int         // partitions this instance consumes; default all
	BatchSize     int           // rows per ClickHouse insert; default 20000
	FlushInterval time.Duration // longest wait before a partial batch is written; default 1s
	AckWait       time.Duration // JetStream redelivery timeout; default 2m
	Rules         rule.Config

	// Group mode: the detectors spread the partitions over the live members of the group and move a stopped
	// member's partitions to the survivors. Owned must be empty then.
	Group    bool
	Member   string        // this member's name in the group; default a random one (unique per process)
	GroupTTL time.Duration // a member that has not renewed its lease for this long has left; default 6s
}

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = natsbus.EventsStream
	}
	if o.Partitions == 0 {
		o.Partitions = natsbus.DefaultPartitions
	}
	if o.Group && o.Member == "" {
		o.Member = defaultMember()
	}
	if o.Group && o.GroupTTL == 0 {
		o.GroupTTL = 6 * time.Second
	}
	if len(o.Owned) == 0 && !o.Group {
		for p := range o.Partitions {
			o.Owned = append(o.Owned, p)
		}
	}
	if o.BatchSize == 0 {
		o.BatchSize = 20000
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = time.Second
	}
	if o.AckWait == 0 {
		o.AckWait = 2 * time.Minute
	}
	if len(o.Rules.Global) == 0 {
		o.Rules.Global = rule.Defaults
	}
}

// Validate reports every problem with the options.
func (o *Options) Validate() error {
	var errs []error
	if o.Partitions < 1 || o.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("partitions %d: must be 1-1024", o.Partitions))
	}
	seen := map[int]bool{}
	for _, p := range o.Owned {
		if p < 0 || p >= o.Partitions || seen[p] {
			errs = append(errs, fmt.Errorf("owned partition %d: must be distinct and in 0-%d", p, o.Partitions-1))
		}
		seen[p] = true
	}
	if o.Group && len(o.Owned) > 0 {
		errs = append(errs, errors.New("owned partitions and group mode exclude each other: a group member owns what the group assigns it"))
	}
	if o.Group && (o.GroupTTL < time.Second || o.GroupTTL > time.Minute) {
		errs = append(errs, fmt.Errorf("group TTL %s: must be 1s-1m", o.GroupTTL))
	}
	if o.Group && (len(o.Member) > 64 || o.Member == "" || strings.ContainsFunc(o.Member, badMemberRune)) {
		errs = append(errs, fmt.Errorf("group member %q: must be 1-64 letters, digits, '-' or '_'", o.Member))
	}
	if o.BatchSize < 1 || o.BatchSize > 1_000_000 {
		errs = append(errs, fmt.Errorf("batch size %d: must be 1-1000000", o.BatchSize))
	}
	if o.FlushInterval < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("flush interval %s: must be at least 10ms", o.FlushInterval))
	}
	if err := o.Rules.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// defaultMember names a member after its host, with a random suffix so that two processes on one host differ.
func defaultMember() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if badMemberRune(r) {
			return '_'
		}
		return r
	}, host)
	if len(host) > 40 {
		host = host[:40]
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}

func badMemberRune(r rune) bool {
	return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
}
