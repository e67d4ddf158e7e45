package event

import (
	"net/netip"
	"time"
)

// Kind is the type of an event.
type Kind string

// The event kinds of schema v1.
const (
	KindLogin Kind = "login"
	KindSend  Kind = "send"
)

// Services lists the accepted values of the service field; the first entry is the default.
var Services = []string{"other", "imap", "pop3", "smtp", "submission", "webmail", "activesync", "admin", "api"}

// Limits of schema v1, mirrored in schemas/events/v1/event.schema.json.
const (
	MaxIDLen         = 128
	MaxUserLen       = 320
	MaxDomainLen     = 253
	MaxMessageIDLen  = 998
	MaxSourceLen     = 255
	MaxSessionLen    = 128
	MaxPWHashLen     = 128
	MaxRecipients    = 100000
	MaxSize          = 1 << 40
	MaxFutureSkew    = 5 * time.Minute
	MaxEncodedLength = 16 << 10 // one event as JSON
)

// Event is a normalised, validated event: user and domain lower-cased, IP unmapped, time in UTC.
type Event struct {
	ID         string     `json:"id,omitempty"`
	Kind       Kind       `json:"kind"`
	Time       time.Time  `json:"time"`
	User       string     `json:"user"`
	Domain     string     `json:"domain,omitempty"`
	IP         netip.Addr `json:"ip"`
	Service    string     `json:"service,omitempty"`
	Success    bool       `json:"success,omitempty"`
	Recipients int        `json:"recipients,omitempty"`
	Size       int64      `json:"size,omitempty"`
	MessageID  string     `json:"message_id,omitempty"`
	Source     string     `json:"source,omitempty"`
	Session    string     `json:"session,omitempty"`
	PWHash     string     `json:"pwhash,omitempty"`
}

// Partition maps a user to a partition in [0, n) with a stable hash (32-bit FNV-1a).
func Partition(user string, n int) int {
	if n <= 1 {
		return 0
	}
	h := uint32(2166136261)
	for i := 0; i < len(user); i++ {
		h ^= uint32(user[i])
		h *= 16777619
	}
	return int(h % uint32(n))
}
