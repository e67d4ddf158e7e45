package window

import (
	"slices"
	"strings"
	"time"
)

// The learning period of a user's country history (Entra ID's sign-in risk learning: the earlier of 14 days or
// 10 logins), how long an unused country stays familiar, and how many countries one user keeps.
const (
	LearnLogins    = 10
	MaxLearnLogins = 15 // the learning count has four bits
	LearnPeriod    = 14 * 24 * time.Hour
	HistoryTTL     = 90 * 24 * time.Hour
	MaxHistory     = 32
	learnSec       = int64(LearnPeriod / time.Second)
	historyTTLDay  = int64(HistoryTTL / (24 * time.Hour))
)

// The history is the last words of recs, kept across windows while the user logs in: a header of two words (the
// first login's time; the logins counted while learning, capped at LearnLogins, and a flag set when the newest
// counted login came from a new country), then one word per country: its code (10 bits, letters only), a flag set
// when it was first used after learning, and the day (since 1970) it was last used. 8 bytes plus 4 per country.
const (
	hCountMask = 0xf
	hLastNew   = 1 << 4
	cNew       = 1 << 10
)

// HistoryCountry is one country of a user's history.
type HistoryCountry struct {
	Country  string
	LastUsed time.Time // the day it was last used, at 00:00 UTC
	New      bool      // first used after the learning period
}

func encodeCC(country string) (uint32, bool) {
	if len(country) != 2 || country[0] < 'A' || country[0] > 'Z' || country[1] < 'A' || country[1] > 'Z' {
		return 0, false
	}
	return uint32(country[0]-'A')*26 + uint32(country[1]-'A'), true
}

func decodeCC(w uint32) string {
	c := w & 0x3ff
	return string([]byte{byte('A' + c/26), byte('A' + c%26)})
}

func day(ts int64) uint32 { return uint32(ts / 86400) }

// Learn adds a counted successful untrusted login to the user's country history and reports whether it came from
// a country not in the history after the learning period ended: a new country. Call it after AddLogin counted the
// login, with the logins of the learning period (at most MaxLearnLogins). Countries unused for HistoryTTL are forgotten; a user whose countries are all forgotten learns anew.
func (u *User) Learn(t time.Time, country string, learnLogins int) bool {
	cc, ok := encodeCC(country)
	if !ok {
		return false
	}
	ts := t.Unix()
	var buf [2 + MaxHistory + 1]uint32
	h := append(buf[:0], u.histRecs()...)
	if len(h) >= 2 {
		cs := h[2:]
		keep := cs[:0]
		for _, w := range cs {
			if int64(w>>16)+historyTTLDay >= int64(day(ts)) {
				keep = append(keep, w)
			}
		}
		h = h[:2+len(keep)]
		if len(keep) == 0 {
			h = h[:0]
		}
	}
	if len(h) == 0 {
		h = append(h, uint32(ts), 0)
	}
	first, count := int64(h[0]), h[1]&hCountMask
	learned := int(count) >= learnLogins || ts >= first+learnSec
	i := slices.IndexFunc(h[2:], func(w uint32) bool { return w&0x3ff == cc })
	isNew := learned && i < 0
	if ts < first {
		h[0] = uint32(ts)
	}
	if !learned && count < MaxLearnLogins {
		count++
	}
	h[1] = count
	if isNew {
		h[1] |= hLastNew
		for k := range h[2:] { // an older new country is familiar by now
			if w := h[2+k]; int64(w>>16) < int64(day(ts))-1 {
				h[2+k] = w &^ cNew
			}
		}
	}
	if i >= 0 {
		w := h[2+i]
		h[2+i] = w&0xffff | max(w>>16, day(ts))<<16
	} else {
		w := cc | day(ts)<<16
		if isNew {
			w |= cNew
		}
		h = append(h, w)
		if len(h) > 2+MaxHistory { // forget the least recently used country
			lru := 2
			for k := 3; k < len(h); k++ {
				if h[k]>>16 < h[lru]>>16 {
					lru = k
				}
			}
			h = slices.Delete(h, lru, lru+1)
		}
	}
	u.setTail(u.addrRecs(), h)
	return isNew
}

// NewCountry reports whether the newest login Learn was given came from a new country.
func (u *User) NewCountry() bool {
	h := u.histRecs()
	return len(h) >= 2 && h[1]&hLastNew != 0
}

// ClearNewCountry clears NewCountry; AddLogin calls it for every counted login, so that a login Learn is not given
// (one the history already holds) never reports the previous login's news.
func (u *User) clearNewCountry() {
	if h := u.histRecs(); len(h) >= 2 {
		h[1] &^= hLastNew
	}
}

// History returns the user's country history sorted by code, the first login's time, and whether the learning
// period is still running at t.
func (u *User) History(t time.Time) (countries []HistoryCountry, first time.Time, learning bool) {
	h := u.histRecs()
	if len(h) < 2 {
		return nil, time.Time{}, true
	}
	for _, w := range h[2:] {
		countries = append(countries, HistoryCountry{Country: decodeCC(w), LastUsed: time.Unix(int64(w>>16)*86400, 0).UTC(), New: w&cNew != 0})
	}
	slices.SortFunc(countries, func(a, b HistoryCountry) int { return strings.Compare(a.Country, b.Country) })
	first = time.Unix(int64(h[0]), 0).UTC()
	learning = h[1]&hCountMask < LearnLogins && t.Unix() < int64(h[0])+learnSec
	return countries, first, learning
}

// SeedHistory sets the user's history from durable storage: the first login's time, the logins counted while
// learning (capped at MaxLearnLogins) and the countries with the day each was last used. Countries beyond MaxHistory
// keep the most recently used; a country code that is not two capital letters is ignored.
func (u *User) SeedHistory(first time.Time, logins int, countries []HistoryCountry) {
	h := []uint32{uint32(first.Unix()), uint32(min(max(logins, 0), MaxLearnLogins))}
	cs := slices.Clone(countries)
	slices.SortStableFunc(cs, func(a, b HistoryCountry) int { return b.LastUsed.Compare(a.LastUsed) })
	for _, c := range cs {
		cc, ok := encodeCC(c.Country)
		if !ok || len(h) == 2+MaxHistory {
			continue
		}
		w := cc | day(c.LastUsed.Unix())<<16
		if c.New {
			w |= cNew
		}
		h = append(h, w)
	}
	u.setTail(u.addrRecs(), h)
}

// HasHistory reports whether the user has a country history, which outlives the window.
func (u *User) HasHistory() bool { return u.nh > 0 }

// Remembers reports whether the user's history still holds a country used within HistoryTTL of now, so the user
// must not be forgotten although the window is empty.
func (u *User) Remembers(now time.Time) bool {
	h := u.histRecs()
	if len(h) < 2 {
		return false
	}
	for _, w := range h[2:] {
		if int64(w>>16)+historyTTLDay >= int64(day(now.Unix())) {
			return true
		}
	}
	return false
}
