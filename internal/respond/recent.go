package respond

import (
	"time"

	"github.com/vigil-ids/vigil/internal/incident"
)

// seen is what the responder remembers of an incident: enough to match combinations and escalations.
type seen struct {
	id        string
	rule      string
	user      string
	lastSeen  time.Time // the newest version's evidence
	firstLast time.Time // the evidence of the first version the responder saw
	ips       []string
	at        time.Time // when the newest version arrived, for eviction
}

// recent holds the incidents of the last days by id and by user. It is used by the incidents loop only.
type recent struct {
	byID   map[string]*seen
	byUser map[string][]*seen
	made   map[string]time.Time // decision ids stored, until their expiry: a later version skips them
}

func newRecent() *recent {
	return &recent{byID: map[string]*seen{}, byUser: map[string][]*seen{}, made: map[string]time.Time{}}
}

// add records an incident version and returns its entry.
func (r *recent) add(inc *incident.Incident, now time.Time) *seen {
	s, ok := r.byID[inc.ID]
	if !ok {
		s = &seen{id: inc.ID, rule: string(inc.Rule), user: inc.User, firstLast: inc.LastSeen}
		r.byID[inc.ID] = s
		if inc.User != "" {
			r.byUser[inc.User] = append(r.byUser[inc.User], s)
		}
	}
	if inc.LastSeen.After(s.lastSeen) || s.lastSeen.IsZero() {
		s.lastSeen = inc.LastSeen
		s.ips = inc.IPs
	}
	if inc.LastSeen.Before(s.firstLast) {
		s.firstLast = inc.LastSeen
	}
	s.at = now
	return s
}

// partners returns the user's incidents of a rule whose newest evidence lies within w of t.
func (r *recent) partners(user, rule string, t time.Time, w time.Duration) []*seen {
	var out []*seen
	for _, s := range r.byUser[user] {
		if s.rule == rule && s.lastSeen.Sub(t).Abs() <= w {
			out = append(out, s)
		}
	}
	return out
}

// evict forgets incidents not updated since before and decisions expired before now.
func (r *recent) evict(before, now time.Time) {
	for id, s := range r.byID {
		if !s.at.Before(before) {
			continue
		}
		delete(r.byID, id)
		if s.user == "" {
			continue
		}
		list := r.byUser[s.user]
		for i, x := range list {
			if x == s {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(r.byUser, s.user)
		} else {
			r.byUser[s.user] = list
		}
	}
	for id, exp := range r.made {
		if exp.Before(now) {
			delete(r.made, id)
		}
	}
}
