package detector

import (
	"context"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/window"
)

// HistorySource rebuilds new_country's per-user country histories from durable storage (ClickHouse logins).
type HistorySource interface {
	LoginHistory(ctx context.Context, since, before time.Time, fn func(user string, first time.Time, logins int, countries []window.HistoryCountry)) error
}

// seedHistories gives the engine the histories of the owned users' logins before cut, the event time the replay
// takes over from; the replay's logins before cut then change no history, so none is counted twice.
func (d *Detector) seedHistories(ctx context.Context, cut time.Time) error {
	src, ok := d.store.(HistorySource)
	if !ok {
		return nil
	}
	owned := map[int]bool{}
	for _, p := range d.opts.Owned {
		owned[p] = true
	}
	since := cut.Add(-window.HistoryTTL - window.LearnPeriod - 48*time.Hour) // all that can still be remembered at cut
	err := src.LoginHistory(ctx, since, cut, func(user string, first time.Time, logins int, countries []window.HistoryCountry) {
		if owned[event.Partition(user, d.opts.Partitions)] {
			d.eng.SeedHistory(user, first, logins, countries, cut)
		}
	})
	if err != nil {
		return fmt.Errorf("detector: load login history: %w", err)
	}
	d.eng.LearnFrom(cut)
	return nil
}
