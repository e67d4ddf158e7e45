package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxBatch is the largest number of events accepted in one request body.
const MaxBatch = 10000

// Item is the outcome of decoding one event of a batch: an event, or the reason it was rejected.
type Item struct {
	Index int // position in the array, or line number - 1 for NDJSON
	Event Event
	Err   error
}

// ErrBadBody reports a body that cannot be split into events at all.
var ErrBadBody = errors.New("bad body")

// DecodeBatch splits a request body into events. A body is one JSON object, a JSON array of objects, or (when
// ndjson is true) newline-delimited JSON objects. Each event is validated on its own, so one bad event does not
// reject the others; only a body that cannot be split at all returns an error.
func DecodeBatch(body []byte, ndjson bool, now time.Time) ([]Item, error) {
	if ndjson {
		return decodeLines(body, now)
	}
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return nil, fmt.Errorf("%w: empty body", ErrBadBody)
	case trimmed[0] == '{':
		ev, err := Parse(trimmed, now)
		return []Item{{Index: 0, Event: ev, Err: err}}, nil
	case trimmed[0] == '[':
		var raws []json.RawMessage
		if err := json.Unmarshal(trimmed, &raws); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadBody, jsonError(err))
		}
		if len(raws) == 0 {
			return nil, fmt.Errorf("%w: no events in body", ErrBadBody)
		}
		if len(raws) > MaxBatch {
			return nil, fmt.Errorf("%w: %d events; the limit is %d per request", ErrBadBody, len(raws), MaxBatch)
		}
		items := make([]Item, len(raws))
		for i, raw := range raws {
			ev, err := Parse(raw, now)
			items[i] = Item{Index: i, Event: ev, Err: err}
		}
		return items, nil
	}
	return nil, fmt.Errorf("%w: expected a JSON object, a JSON array or NDJSON (Content-Type: application/x-ndjson)", ErrBadBody)
}

func decodeLines(body []byte, now time.Time) ([]Item, error) {
	items := make([]Item, 0, bytes.Count(body, []byte{'\n'})+1)
	line := 0
	for len(body) > 0 {
		var l []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			l, body = body[:i], body[i+1:]
		} else {
			l, body = body, nil
		}
		idx := line
		line++
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if len(items) == MaxBatch {
			return nil, fmt.Errorf("%w: more than %d events; the limit is %d per request", ErrBadBody, MaxBatch, MaxBatch)
		}
		ev, err := Parse(l, now)
		items = append(items, Item{Index: idx, Event: ev, Err: err})
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("%w: no events in body", ErrBadBody)
	}
	return items, nil
}

// Unmarshal decodes an event that ingest has already validated (the JetStream message payload).
// It checks what the detector relies on but not the clock, so replays of old events succeed.
func Unmarshal(data []byte, e *Event) error {
	*e = Event{}
	if !decodeFast(data, e) {
		if err := unmarshalSlow(data, e); err != nil {
			return err
		}
	}
	switch {
	case e.Kind != KindLogin && e.Kind != KindSend:
		return fmt.Errorf("decode event: unknown kind %q", truncate(string(e.Kind)))
	case e.User == "":
		return errors.New("decode event: empty user")
	case !e.IP.IsValid():
		return errors.New("decode event: no ip")
	case e.Time.IsZero():
		return errors.New("decode event: no time")
	case e.ID == "":
		return errors.New("decode event: no id")
	}
	return nil
}

// Marshal encodes a normalised event for the JetStream message payload.
func Marshal(e *Event) ([]byte, error) {
	return AppendJSON(make([]byte, 0, 256), e), nil
}

// MarshalJSON writes success on login events even when false, and never on send events.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // no methods: avoids recursion
	out := struct {
		plain
		Success *bool `json:"success,omitempty"`
	}{plain: plain(e)}
	if e.Kind == KindLogin {
		out.Success = &e.Success
	}
	return json.Marshal(out)
}
