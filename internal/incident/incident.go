// Package incident defines security incidents: what a rule found about a user in one 24-hour window.
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Rule names a detection rule.
type Rule string

// The detection rules.
const (
	MultiCountry Rule = "multi_country"
	SendVolume   Rule = "send_volume"
)

// Status of an incident. Vigil opens incidents; admins close them in ClickHouse or the admin panel.
const StatusOpen = "open"

// Country is the evidence kept for one country on a multi_country incident.
type Country struct {
	Country   string    `json:"country"`
	IPs       []string  `json:"ips"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Logins    int       `json:"logins"`
}

// Incident is one row per (user, rule, window), updated as evidence grows; Version orders the updates.
type Incident struct {
	ID            string
	Rule          Rule
	User          string
	Domain        string
	Status        string
	WindowStart   time.Time // event time of the evidence that opened the incident
	FirstSeen     time.Time // oldest evidence in the incident's 24-hour window
	LastSeen      time.Time // newest evidence
	Countries     []string  // ISO 3166-1 alpha-2 codes, sorted
	IPs           []string  // client addresses, sorted
	Detail        []Country // per-country evidence (multi_country)
	Logins        uint32    // successful untrusted logins in the window
	Messages24h   uint32
	Recipients24h uint32
	Version       uint64 // grows with every update; ReplacingMergeTree keeps the highest
}

// ID derives the deterministic incident id of (rule, user, window start), so a replay reproduces it.
func ID(rule Rule, user string, windowStart time.Time) string {
	h := sha256.New()
	h.Write([]byte(rule))
	h.Write([]byte{0})
	h.Write([]byte(user))
	h.Write([]byte{0})
	h.Write([]byte(strconv.FormatInt(windowStart.UnixNano(), 10)))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
