package quarantine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Streams and subjects.
const (
	// Stream keeps held records and the agents' results until the auth API stored them in ClickHouse.
	Stream = "VIGIL_QUARANTINE"
	// HeldPrefix + host is the subject of a held message's record.
	HeldPrefix = "vigil.quarantine.held."
	// ResultPrefix + host is the subject of an agent's result.
	ResultPrefix = "vigil.quarantine.result."
	// CommandStream holds release and delete commands until the host's agent carried them out (work queue).
	CommandStream = "VIGIL_MAILHOST"
	// ManagerConsumer is the auth API's durable consumer on Stream.
	ManagerConsumer = "vigil_quarantine"
	// StreamMaxAge is how long an unconsumed record or command is kept: an agent or auth API down for longer
	// loses them (the held message itself stays in Postfix's hold queue).
	StreamMaxAge = 7 * 24 * time.Hour
	// MaxHostLen bounds a mail host's name.
	MaxHostLen = 64
)

// CheckHost returns nil when host can name a mail host: 1-64 letters, digits, '.', '-' and '_', starting with a
// letter or digit. It becomes one subject token (see token).
func CheckHost(host string) error {
	if host == "" || len(host) > MaxHostLen {
		return fmt.Errorf("invalid mail host name %q: want 1-%d bytes", host, MaxHostLen)
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '.' || c == '-' || c == '_')
		if !ok {
			return fmt.Errorf("invalid mail host name %q: byte %d; want letters, digits, '.', '-' and '_', starting with a letter or digit", host, i)
		}
	}
	return nil
}

// token is host as one subject token.
func token(host string) string { return tokenEscaper.Replace(host) }

// tokenEscaper makes a host name one subject token, injectively: "_" becomes "__" and "." becomes "_d", so
// mx1.example.net and mx1_example_net stay two hosts.
var tokenEscaper = strings.NewReplacer("_", "__", ".", "_d")

// HeldSubject is the subject of a held record from host.
func HeldSubject(host string) string { return HeldPrefix + token(host) }

// ResultSubject is the subject of host's agent's results.
func ResultSubject(host string) string { return ResultPrefix + token(host) }

// CommandSubject is the subject of the commands for host's agent.
func CommandSubject(host string) string { return "vigil.mailhost." + token(host) + ".cmd" }

// AgentConsumer is the durable name of host's agent's consumer.
func AgentConsumer(host string) string { return "mailhost_" + token(host) }

// AgentInbox is the reply-subject prefix of host's agent (instead of _INBOX), so that its NATS user may subscribe
// to its own replies only and not read other clients' (docs/quarantine.md).
func AgentInbox(host string) string { return "_INBOX_mailhost_" + token(host) }

// heldMsgID is the message id of a held record: one per host and queue id.
func heldMsgID(host, queueID string) string { return "held." + host + "." + queueID }

// EnsureStreams creates (or updates) the quarantine and command streams.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, replicas int) error {
	if replicas < 1 {
		replicas = 1
	}
	for _, c := range []jetstream.StreamConfig{
		{Name: Stream, Description: "Vigil held messages and mail-host results, until stored in ClickHouse",
			Subjects: []string{HeldPrefix + "*", ResultPrefix + "*"}, Retention: jetstream.LimitsPolicy},
		{Name: CommandStream, Description: "Vigil release and delete commands for the mail-host agents",
			Subjects: []string{"vigil.mailhost.*.cmd"}, Retention: jetstream.WorkQueuePolicy},
	} {
		c.Storage, c.MaxAge, c.MaxBytes, c.Replicas, c.Discard, c.Duplicates = jetstream.FileStorage, StreamMaxAge, -1, replicas, jetstream.DiscardOld, time.Hour
		if _, err := js.CreateOrUpdateStream(ctx, c); err != nil {
			return fmt.Errorf("ensure stream %s: %w", c.Name, err)
		}
	}
	return nil
}
