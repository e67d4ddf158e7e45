package detector

import (
	"context"
	"errors"
	"fmt"
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
	BatchSize     int           // rows per ClickHouse insert; default 5000
	FlushInterval time.Duration // longest wait before a partial batch is written; default 1s
	AckWait       time.Duration // JetStream redelivery timeout; default 2m
	Rules         rule.Config
}

func (o *Options) setDefaults() {
	if o.Stream == "" {
		o.Stream = natsbus.EventsStream
	}
	if o.Partitions == 0 {
		o.Partitions = natsbus.DefaultPartitions
	}
	if len(o.Owned) == 0 {
		for p := range o.Partitions {
			o.Owned = append(o.Owned, p)
		}
	}
	if o.BatchSize == 0 {
		o.BatchSize = 5000
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
