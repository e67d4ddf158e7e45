package respond

import (
	"sync"
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

// recent holds every incident of the last days by id and by user, fed from the whole incidents stream (feed.go),
// so every responder instance sees every incident whichever instance decides it.
type recent struct {
	mu     sync.Mutex
	byID   map[string]*seen
	byUser map[string][]*seen
}

func newRecent() *recent {
	return &recent{byID: map[string]*seen{}, byUser: map[string][]*seen{}}
}

// add records an incident version.
func (r *recent) add(inc *incident.Incident, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
}

// get returns a copy of an incident's entry.
func (r *recent) get(id string) (seen, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.byID[id]
	if !ok {
		return seen{}, false
	}
	return *s, true
}

// partners returns copies of the user's incidents of a rule whose newest evidence lies within w of t.
func (r *recent) partners(user, rule string, t time.Time, w time.Duration) []seen {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []seen
	for _, s := range r.byUser[user] {
		if s.rule == rule && s.lastSeen.Sub(t).Abs() <= w {
			out = append(out, *s)
		}
	}
	return out
}

// evict forgets incidents not updated since before.
func (r *recent) evict(before time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
}
