package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Source is a stream the notifiers consume.
type Source string

// The sources: incident versions, review records and decision records.
const (
	Incidents Source = "incidents"
	Reviews   Source = "reviews"
	Decisions Source = "decisions"
)

// Buckets and streams of the sources.
const (
	ReviewsBucket   = "vigil_incident_reviews" // the auth API's review records (internal/authapi)
	DecisionsBucket = decision.DefaultBucket
	// OpenedBucket remembers, per incident, the version announced as incident.opened, so every sink and every
	// redelivery agree on which version opened it even when version 1 never reached the stream.
	OpenedBucket = "vigil_notify_opened"
)

// stream returns the source's stream and subject filter.
func (s Source) stream() (name, filter string) {
	switch s {
	case Incidents:
		return natsbus.IncidentsStream, natsbus.IncidentSubjects
	case Reviews:
		return "KV_" + ReviewsBucket, "$KV." + ReviewsBucket + ".>"
	default:
		return "KV_" + DecisionsBucket, "$KV." + DecisionsBucket + ".>"
	}
}

// MaxMessage bounds a source message; larger ones are dead-lettered unread.
const MaxMessage = 1 << 20

// errPoison marks a message that can never be delivered: it is dead-lettered at once.
var errPoison = errors.New("undeliverable message")

func poison(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errPoison, fmt.Sprintf(format, args...))
}

// decoder turns source messages into events.
type decoder struct {
	opened jetstream.KeyValue
}

// decode returns the event of a message, nil for one that announces nothing (a KV delete or purge). Errors
// wrapping errPoison are final; others (the opened bucket unreachable) are worth a retry.
func (d *decoder) decode(ctx context.Context, src Source, msg jetstream.Msg) (*Event, error) {
	if len(msg.Data()) > MaxMessage {
		return nil, poison("%d bytes, more than %d", len(msg.Data()), MaxMessage)
	}
	switch src {
	case Incidents:
		return d.incident(ctx, msg.Data())
	case Reviews, Decisions:
		if op := msg.Headers().Get("KV-Operation"); op != "" { // DEL or PURGE: nothing to announce
			return nil, nil
		}
		_, key, _ := strings.Cut(strings.TrimPrefix(msg.Subject(), "$KV."), ".")
		meta, err := msg.Metadata()
		if err != nil {
			return nil, poison("no JetStream metadata: %v", err)
		}
		if src == Reviews {
			return reviewEvent(key, meta.Sequence.Stream, msg.Data())
		}
		return decisionEvent(key, msg.Data())
	}
	return nil, poison("unknown source %q", src)
}

func isID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (d *decoder) incident(ctx context.Context, data []byte) (*Event, error) {
	var inc incident.Incident
	if err := json.Unmarshal(data, &inc); err != nil {
		return nil, poison("incident JSON: %v", err)
	}
	if !isID(inc.ID) || inc.Version == 0 {
		return nil, poison("incident id %.40q version %d: want 32 hex digits and a version", inc.ID, inc.Version)
	}
	typ, err := d.claim(ctx, inc.ID, inc.Version)
	if err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(&inc)
	return &Event{ID: "incident." + natsbus.IncidentMsgID(inc.ID, inc.Version), Type: typ, Time: inc.LastSeen.UTC(), Payload: payload, incident: &inc}, nil
}

// claim records the version that opened an incident (the first one seen) and tells whether version is it.
func (d *decoder) claim(ctx context.Context, id string, version uint64) (Type, error) {
	v := []byte(strconv.FormatUint(version, 10))
	_, err := d.opened.Create(ctx, id, v)
	if err == nil {
		return IncidentOpened, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return "", fmt.Errorf("record opened version: %w", err)
	}
	e, err := d.opened.Get(ctx, id)
	if err != nil {
		return "", fmt.Errorf("read opened version: %w", err)
	}
	if string(e.Value()) == string(v) {
		return IncidentOpened, nil
	}
	return IncidentUpdated, nil
}

func reviewEvent(key string, seq uint64, data []byte) (*Event, error) {
	var r Review
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, poison("review JSON: %v", err)
	}
	if !isID(key) || r.IncidentID != key {
		return nil, poison("review key %.40q, incident id %.40q: want the same 32 hex digits", key, r.IncidentID)
	}
	r.Revision = seq // the KV revision is the stream sequence
	payload, _ := json.Marshal(&r)
	return &Event{ID: "review." + key + "." + strconv.FormatUint(seq, 10), Type: IncidentReviewed, Time: r.At.UTC(), Payload: payload, review: &r}, nil
}

func decisionEvent(key string, data []byte) (*Event, error) {
	var d decision.Decision
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, poison("decision JSON: %v", err)
	}
	if !isID(key) || d.ID != key {
		return nil, poison("decision key %.40q, id %.40q: want the same 32 hex digits", key, d.ID)
	}
	d.Revision = 0
	typ, at, suffix := DecisionAdded, d.CreatedAt, ".added"
	if !d.LiftedAt.IsZero() {
		typ, at, suffix = DecisionLifted, d.LiftedAt, ".lifted"
	}
	payload, _ := json.Marshal(&d)
	return &Event{ID: "decision." + key + suffix, Type: typ, Time: at.UTC(), Payload: payload, decision: &d}, nil
}

// openBucket opens (creating when missing) the bucket of opened versions. Its records live as long as incident
// versions stay in their stream, plus a day.
func openBucket(ctx context.Context, js jetstream.JetStream, name, desc string, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, name)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: name, Description: desc, TTL: ttl,
			Replicas: replicas, Storage: jetstream.FileStorage})
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return kv, nil
}
