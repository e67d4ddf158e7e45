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
	// password_spray and brute_force by address: the evidence of an address-keyed incident, stored as its detail.
	Addr *Addr `json:"addr,omitempty"`
}

// Addr is the evidence of an incident keyed on a client address or its prefix (password_spray, brute_force by
// address). Such an incident leaves User empty and carries the key first in IPs; this is its detail.
type Addr struct {
	Key       string   `json:"key"`       // the address, or its /24 (IPv4) or /64 (IPv6) prefix
	Failures  int      `json:"failures"`  // failed logins from the key in the window
	Attempts  int      `json:"attempts"`  // distinct password attempts: distinct (user, pwhash); without a hash, per user and minute
	Hashes    int      `json:"hashes"`    // distinct (user, pwhash) pairs among the attempts
	Fast      int      `json:"fast"`      // distinct attempts first seen in the last 2 minutes of the window
	Targets   int      `json:"targets"`   // distinct users with a failure from the key
	Users     []string `json:"users"`     // the targeted users, sorted (at most MaxAddrUsers)
	Victims   []string `json:"victims"`   // users who then logged in successfully from the key, sorted
	Successes int      `json:"successes"` // distinct users with a successful login from the key
	Addresses int      `json:"addresses"` // distinct client addresses of the failures (more than one only for a prefix)
	Services  []string `json:"services"`  // services of the failures, sorted
}

// MaxAddrUsers bounds the targeted users listed on an address-keyed incident; Targets has the full count.
const MaxAddrUsers = 200

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

// Key is what the incident is about: its user, or for an address-keyed incident its address or prefix.
func (i *Incident) Key() string {
	if i.User == "" && i.Addr != nil {
		return i.Addr.Key
	}
	return i.User
}
