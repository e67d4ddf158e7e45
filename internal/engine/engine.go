// Package engine turns events into enriched rows and incidents: geolocation, trusted networks, windows and rules.
package engine

import (
	"net/netip"
	"slices"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// Geo locates a client address; "" means unknown.
type Geo interface {
	Country(ip netip.Addr) string
}

// Trust tells whether an address is a trusted network for a user.
type Trust interface {
	Trusted(user, domain string, ip netip.Addr) bool
}

// Engine holds the windows of the users of one or more partitions. It is not safe for concurrent use: each
// partition consumer owns one.
type Engine struct {
	rules     *rule.Table
	geo       Geo
	trust     func() Trust
	users     map[string]*user
	watermark int64 // newest event time processed, Unix seconds
}

type user struct {
	window.User
	open *[]openIncident // indexed by rule position; allocated for the few users with an incident
}

type openIncident struct {
	start   time.Time // window start: event time of the evidence that opened it; zero when none
	version uint64
}

// New returns an Engine running the rules of rule.All. trust is called for every event, so a live-updated set
// applies at once.
func New(rules *rule.Config, geo Geo, trust func() Trust) *Engine {
	return &Engine{rules: rules.Compile(rule.All()), geo: geo, trust: trust, users: make(map[string]*user)}
}

// Process enriches one event, updates its user's window and appends any incident it opened or updated to incs.
func (e *Engine) Process(ev *event.Event, incs []incident.Incident) (event.Enriched, []incident.Incident) {
	rec := event.Enriched{Event: *ev}
	if e.geo != nil {
		rec.Country = e.geo.Country(ev.IP)
	}
	if t := e.trust(); t != nil {
		rec.Trusted = t.Trusted(ev.User, ev.Domain, ev.IP)
	}
	if ts := ev.Time.Unix(); ts > e.watermark {
		e.watermark = ts
	}
	var u *user
	switch ev.Kind {
	case event.KindLogin:
		if !ev.Success || rec.Trusted || rec.Country == "" {
			return rec, incs
		}
		u = e.user(ev.User)
		if !u.AddLogin(ev.Time, ev.IP, rec.Country, window.HashID(ev.ID)) {
			return rec, incs
		}
	case event.KindSend:
		u = e.user(ev.User)
		if !u.AddSend(ev.Time, ev.Recipients, window.HashID(ev.ID)) {
			return rec, incs
		}
	default:
		return rec, incs // no window counts it
	}
	levels := e.rules.Levels(ev.Domain)
	for i, r := range e.rules.Rules {
		switch r.Key() {
		case rule.KeyUser:
			incs = e.evaluate(u, ev, i, levels[i], incs)
		default:
			// Keyed on an address or a password hash: evaluated by the engine that owns that key's partition
			// (see the rule package doc), not on user windows.
		}
	}
	return rec, incs
}

func (e *Engine) user(name string) *user {
	u := e.users[name]
	if u == nil {
		u = &user{}
		e.users[name] = u
	}
	return u
}

// evaluate checks rule i for a user after ev and appends the incident it opens or updates.
func (e *Engine) evaluate(u *user, ev *event.Event, i, level int, incs []incident.Incident) []incident.Incident {
	r := e.rules.Rules[i]
	trig := r.On(ev.Kind)
	switch {
	case trig == rule.Ignore, level == rule.Off:
		return incs
	case !r.Fires(&u.User, level):
		return incs
	}
	o := u.opened(i, len(e.rules.Rules))
	newest := u.Newest()
	if o.start.IsZero() || !newest.Before(o.start.Add(window.Span)) {
		switch trig {
		case rule.Open:
			*o = openIncident{start: ev.Time.Truncate(time.Second)}
		default:
			return incs // this event only adds evidence to an open incident
		}
	}
	o.version++
	return append(incs, e.incident(u, ev, i))
}

// opened returns the open incident of rule i, allocating the user's table of n rules on first use.
func (u *user) opened(i, n int) *openIncident {
	if u.open == nil {
		s := make([]openIncident, n)
		u.open = &s
	}
	return &(*u.open)[i]
}

func (e *Engine) incident(u *user, ev *event.Event, i int) incident.Incident {
	r := e.rules.Rules[i]
	o := (*u.open)[i]
	inc := incident.Incident{
		ID:          incident.ID(r.Name(), ev.User, o.start),
		Rule:        r.Name(),
		User:        ev.User,
		Domain:      ev.Domain,
		Status:      incident.StatusOpen,
		WindowStart: o.start,
		LastSeen:    u.Newest(),
		Version:     o.version,
	}
	inc = r.Evidence(inc, &u.User)
	if inc.FirstSeen.IsZero() {
		inc.FirstSeen = o.start
	}
	return inc
}

// Seed restores an incident committed before a restart, so a replay updates it rather than opening another.
// Incidents of rules this engine does not run are ignored.
func (e *Engine) Seed(inc incident.Incident) {
	i := slices.IndexFunc(e.rules.Rules, func(r rule.Rule) bool { return r.Name() == inc.Rule })
	if i < 0 || e.rules.Rules[i].Key() != rule.KeyUser || inc.Addr != nil { // brute_force by address shares the name
		return
	}
	o := e.user(inc.User).opened(i, len(e.rules.Rules))
	if inc.WindowStart.After(o.start) {
		*o = openIncident{start: inc.WindowStart, version: inc.Version}
	} else if inc.WindowStart.Equal(o.start) && inc.Version > o.version {
		o.version = inc.Version
	}
}

// Evict forgets users whose window is empty and who have no incident open within the last 24 hours of event time.
// It returns the number of users still tracked.
func (e *Engine) Evict() int {
	now := time.Unix(e.watermark, 0)
	for name, u := range e.users {
		if !u.Idle(now) {
			continue
		}
		if u.open != nil && slices.ContainsFunc(*u.open, func(o openIncident) bool { return active(o, now) }) {
			continue
		}
		delete(e.users, name)
	}
	return len(e.users)
}

func active(o openIncident, now time.Time) bool {
	return !o.start.IsZero() && now.Before(o.start.Add(window.Span))
}

// Users returns the number of users tracked.
func (e *Engine) Users() int { return len(e.users) }
