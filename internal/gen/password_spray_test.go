package gen

import (
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
)

// republish does what the detector does for the address partitions: an untrusted failure, or an untrusted
// success from an address new to the user, goes to the address engine.
func republish(addrs *engine.AddrEngine, rec *event.Enriched, known bool, incs []incident.Incident) []incident.Incident {
	slim, ok := event.ForAddr(&rec.Event, rec.Trusted, known)
	if !ok {
		return incs
	}
	return addrs.Process(&slim, incs)
}
