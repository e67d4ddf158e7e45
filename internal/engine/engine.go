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
	rules     *rule.Config
	geo       Geo
	trust     func() Trust
	users     map[string]*user
	watermark int64 // newest event time processed, Unix seconds
}

type user struct {
	window.User
	open *[2]openIncident // indexed by rule; allocated for the few users with an incident
}

type openIncident struct {
	start   time.Time // window start: event time of the evidence that opened it; zero when none
	version uint64
}

const (
	multiCountry = iota
	sendVolume
)

var ruleNames = [2]incident.Rule{incident.MultiCountry, incident.SendVolume}

// New returns an Engine. trust is called for every event, so a live-updated set applies at once.
func New(rules *rule.Config, geo Geo, trust func() Trust) *Engine {
	return &Engine{rules: rules, geo: geo, trust: trust, users: make(map[string]*user)}
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
	switch ev.Kind {
	case event.KindLogin:
		if !ev.Success || rec.Trusted || rec.Country == "" {
			return rec, incs
		}
		u := e.user(ev.User)
		if !u.AddLogin(ev.Time, ev.IP, rec.Country, window.HashID(ev.ID)) {
			return rec, incs
		}
		incs = e.evaluate(u, ev, multiCountry, incs)
	case event.KindSend:
		u := e.user(ev.User)
		if !u.AddSend(ev.Time, ev.Recipients, window.HashID(ev.ID)) {
			return rec, incs
		}
		incs = e.evaluate(u, ev, sendVolume, incs)
		// A send adds evidence (messages in 24 h) to an open multi_country incident.
		incs = e.evaluate(u, ev, multiCountry, incs)
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

// evaluate checks one rule for a user after ev and appends the incident it opens or updates.
func (e *Engine) evaluate(u *user, ev *event.Event, r int, incs []incident.Incident) []incident.Incident {
	th := e.rules.For(ev.Domain)
	var firing bool
	switch r {
	case multiCountry:
		firing = u.CountryCount() >= th.MultiCountry
	case sendVolume:
		msgs, _ := u.Sent()
		firing = msgs >= th.SendVolume
	default:
		return incs // not a rule of this engine
	}
	if !firing {
		return incs
	}
	if u.open == nil {
		u.open = new([2]openIncident)
	}
	o := &u.open[r]
	newest := u.Newest()
	if o.start.IsZero() || !newest.Before(o.start.Add(window.Span)) {
		if r == multiCountry && ev.Kind == event.KindSend {
			return incs // sends only add evidence; logins open multi_country incidents
		}
		*o = openIncident{start: ev.Time.Truncate(time.Second)}
	}
	o.version++
	return append(incs, e.incident(u, ev, r))
}

func (e *Engine) incident(u *user, ev *event.Event, r int) incident.Incident {
	o := u.open[r]
	inc := incident.Incident{
		ID:          incident.ID(ruleNames[r], ev.User, o.start),
		Rule:        ruleNames[r],
		User:        ev.User,
		Domain:      ev.Domain,
		Status:      incident.StatusOpen,
		WindowStart: o.start,
		LastSeen:    u.Newest(),
		Version:     o.version,
	}
	msgs, rcpts := u.Sent()
	inc.Messages24h, inc.Recipients24h = uint32(msgs), uint32(rcpts)
	for _, c := range u.Countries() {
		ips := make([]string, len(c.IPs))
		for i, ip := range c.IPs {
			ips[i] = ip.String()
		}
		inc.Countries = append(inc.Countries, c.Country)
		inc.IPs = append(inc.IPs, ips...)
		inc.Detail = append(inc.Detail, incident.Country{Country: c.Country, IPs: ips, FirstSeen: c.First, LastSeen: c.Last, Logins: c.Logins})
		inc.Logins += uint32(c.Logins)
		if inc.FirstSeen.IsZero() || c.First.Before(inc.FirstSeen) {
			inc.FirstSeen = c.First
		}
	}
	slices.SortFunc(inc.IPs, func(a, b string) int {
		return netip.MustParseAddr(a).Compare(netip.MustParseAddr(b))
	})
	if r == sendVolume {
		inc.FirstSeen = u.FirstSend()
	}
	if inc.FirstSeen.IsZero() {
		inc.FirstSeen = o.start
	}
	return inc
}

// Seed restores an incident committed before a restart, so a replay updates it rather than opening another.
func (e *Engine) Seed(inc incident.Incident) {
	r := multiCountry
	if inc.Rule == incident.SendVolume {
		r = sendVolume
	} else if inc.Rule != incident.MultiCountry {
		return
	}
	u := e.user(inc.User)
	if u.open == nil {
		u.open = new([2]openIncident)
	}
	o := &u.open[r]
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
		if u.open != nil && (active(u.open[0], now) || active(u.open[1], now)) {
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
