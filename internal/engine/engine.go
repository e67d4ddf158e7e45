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

// Locator is a Geo that also places addresses on the map (a City database). When the Geo given to New is one,
// successful untrusted logins are placed for impossible_travel; otherwise that rule never fires.
type Locator interface {
	Locate(ip netip.Addr) (window.Place, bool)
	CityName(ip netip.Addr) string // called only for the two ends of a suspicious hop
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
	loc       Locator // nil without a City database
	trust     func() Trust
	users     map[string]*user
	open      map[string]*[]openIncident // by user, for the few users with an incident; indexed by rule position
	watermark int64                      // newest event time processed, Unix seconds
	histFrom  int64                      // logins before this event time are already in the seeded histories (SeedHistory)
	learn     int                        // position of new_country in the table, or -1
}

// user is a tracked user's window. Its open incidents are in Engine.open, not here: a pointer more would move
// every user from the allocator's 64-byte size class to its 80-byte one.
type user struct {
	window.User
}

type openIncident struct {
	start   time.Time // window start: event time of the evidence that opened it; zero when none
	version uint64
}

// New returns an Engine running the rules of rule.All. trust is called for every event, so a live-updated set
// applies at once.
func New(rules *rule.Config, geo Geo, trust func() Trust) *Engine {
	e := &Engine{geo: geo, trust: trust, users: make(map[string]*user), open: map[string]*[]openIncident{}}
	e.setRules(rules.Compile(rule.All()))
	e.loc, _ = geo.(Locator)
	return e
}

func (e *Engine) setRules(t *rule.Table) {
	e.rules = t
	e.learn = slices.IndexFunc(t.Rules, func(r rule.Rule) bool { return r.Name() == (rule.NewCountry{}).Name() })
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
	kind := ev.Kind
	levels := e.rules.Levels(ev.Domain)
	switch {
	case ev.Kind == event.KindLogin && rec.Trusted:
		return rec, incs // a trusted network counts for nothing
	case ev.Kind == event.KindLogin && !ev.Success:
		u = e.user(ev.User)
		if !u.AddFailure(ev.Time, ev.IP, ev.PWHash, window.HashID(ev.ID)) {
			return rec, incs
		}
		kind = rule.FailedLogin
	case ev.Kind == event.KindLogin:
		if rec.Country == "" {
			return rec, incs
		}
		u = e.user(ev.User)
		if !u.AddLogin(ev.Time, ev.IP, rec.Country, window.HashID(ev.ID)) {
			return rec, incs
		}
		if ev.Time.Unix() >= e.histFrom {
			u.Learn(ev.Time, rec.Country, e.learnLogins(levels))
		}
		if e.loc != nil {
			u.PlaceLogin(ev.Time, ev.IP, e.loc.Locate, e.loc.CityName)
		}
	case ev.Kind == event.KindSend:
		u = e.user(ev.User)
		if !u.AddSend(ev.Time, ev.Recipients, window.HashID(ev.ID)) {
			return rec, incs
		}
	default:
		return rec, incs // no window counts it
	}
	for i, r := range e.rules.Rules {
		switch r.Key() {
		case rule.KeyUser:
			incs = e.evaluate(u, ev, kind, i, levels[i], incs)
		default:
			// Keyed on an address or a password hash: evaluated by the engine that owns that key's partition
			// (see the rule package doc), not on user windows.
		}
	}
	return rec, incs
}

// learnLogins is the learning period's logins for new_country in a domain; a domain that switched the rule off
// still learns, with the rule's default, so that switching it on finds the history ready.
func (e *Engine) learnLogins(levels []int) int {
	if e.learn < 0 || levels[e.learn] == rule.Off {
		return rule.NewCountry{}.Level().Default
	}
	return levels[e.learn]
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
func (e *Engine) evaluate(u *user, ev *event.Event, kind event.Kind, i, level int, incs []incident.Incident) []incident.Incident {
	r := e.rules.Rules[i]
	trig := r.On(kind)
	switch {
	case trig == rule.Ignore, level == rule.Off:
		return incs
	case !r.Fires(&u.User, level):
		return incs
	}
	o := e.opened(ev.User, i)
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
	return append(incs, e.incident(u, ev, i, *o))
}

// opened returns the user's open incident of rule i, allocating the user's table of rules on first use.
func (e *Engine) opened(name string, i int) *openIncident {
	s := e.open[name]
	if s == nil {
		t := make([]openIncident, len(e.rules.Rules))
		s = &t
		e.open[name] = s
	}
	return &(*s)[i]
}

func (e *Engine) incident(u *user, ev *event.Event, i int, o openIncident) incident.Incident {
	r := e.rules.Rules[i]
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
	e.user(inc.User) // tracked, so Evict keeps the user while the incident is open
	o := e.opened(inc.User, i)
	if inc.WindowStart.After(o.start) {
		*o = openIncident{start: inc.WindowStart, version: inc.Version}
	} else if inc.WindowStart.Equal(o.start) && inc.Version > o.version {
		o.version = inc.Version
	}
}

// Evict forgets users whose window is empty, whose country history has nothing left to remember and who have no
// incident open within the last 24 hours of event time.
// It returns the number of users still tracked.
func (e *Engine) Evict() int {
	now := time.Unix(e.watermark, 0)
	for name, u := range e.users {
		if !u.Idle(now) || u.Remembers(now) {
			continue
		}
		if o := e.open[name]; o != nil && slices.ContainsFunc(*o, func(o openIncident) bool { return active(o, now) }) {
			continue
		}
		delete(e.users, name)
		delete(e.open, name)
	}
	return len(e.users)
}

func active(o openIncident, now time.Time) bool {
	return !o.start.IsZero() && now.Before(o.start.Add(window.Span))
}

// Users returns the number of users tracked.
func (e *Engine) Users() int { return len(e.users) }

// SeedHistory restores a user's country history from durable storage (the logins before from, see the detector's
// rebuild). Logins before from no longer change any history, so a replay of the stream that overlaps what the
// history was built from does not count a login twice.
func (e *Engine) SeedHistory(user string, first time.Time, logins int, countries []window.HistoryCountry, from time.Time) {
	e.user(user).SeedHistory(first, logins, countries)
	e.histFrom = max(e.histFrom, from.Unix())
}

// LearnFrom sets the event time before which logins no longer change any history (SeedHistory does the same);
// the detector calls it with the zero time when the replay is over, so late events are learned again.
func (e *Engine) LearnFrom(t time.Time) {
	e.histFrom = 0
	if !t.IsZero() {
		e.histFrom = t.Unix()
	}
}
