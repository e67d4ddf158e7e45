package app

import (
	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/engine"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/netset"
	"github.com/vigil-ids/vigil/internal/postfix"
	"github.com/vigil-ids/vigil/internal/quarantine"
	"github.com/vigil-ids/vigil/internal/respond"
)

// The adapters this package wires together implement the domain's interfaces by design; the compiler checks it.
var (
	_ detector.Store          = (*chstore.Store)(nil)
	_ detector.IncidentSource = (*chstore.Store)(nil) // the detector continues committed incidents after a restart
	_ engine.Geo              = (*geo.DB)(nil)
	_ engine.Trust            = (*netset.Set)(nil)
	_ event.Sink              = (*natsbus.Publisher)(nil)
	_ respond.Quarantine      = (*authapi.Server)(nil) // the responder releases an incident's held mail through it
	_ postfix.HoldRecorder    = quarantine.PostfixHook{}
)
