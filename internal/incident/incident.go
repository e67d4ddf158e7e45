// Package incident defines security incidents: what a rule found about a user in one 24-hour window.
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Rule names a detection rule. The rules themselves live in internal/rule, one file each; a new rule names itself
// there and needs no constant here.
type Rule string

// The names of the first rules, used across the tree (generator, tests).
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
	ID            string    `json:"incident_id"`
	Rule          Rule      `json:"rule"`
	User          string    `json:"user"`
	Domain        string    `json:"domain"`
	Status        string    `json:"status"`
	WindowStart   time.Time `json:"window_start"` // event time of the evidence that opened the incident
	FirstSeen     time.Time `json:"first_seen"`   // oldest evidence in the incident's 24-hour window
	LastSeen      time.Time `json:"last_seen"`    // newest evidence
	Countries     []string  `json:"countries"`    // ISO 3166-1 alpha-2 codes, sorted
	IPs           []string  `json:"ips"`          // client addresses, sorted
	Detail        []Country `json:"detail"`       // per-country evidence (multi_country)
	Logins        uint32    `json:"logins"`       // successful untrusted logins in the window
	Messages24h   uint32    `json:"messages_24h"`
	Recipients24h uint32    `json:"recipients_24h"`
	Version       uint64    `json:"version"` // grows with every update; ReplacingMergeTree keeps the highest

	// brute_force
	Failures          uint32 `json:"failures"`           // failed untrusted logins in the window
	DistinctPasswords uint32 `json:"distinct_passwords"` // distinct password hashes among them
	// impossible_travel
	Travel *Travel `json:"travel,omitempty"` // the two logins and the speed between them; stored in detail
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
