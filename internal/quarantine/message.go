package quarantine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"
)

// HeldMessage is one message Postfix parked in its hold queue because a hold_mail decision was in force: what the
// END-OF-MESSAGE policy request carried, and why.
type HeldMessage struct {
	Host       string    `json:"host"`     // the mail host (its agent's name)
	QueueID    string    `json:"queue_id"` // Postfix's queue id
	Sender     string    `json:"sender"`
	User       string    `json:"user,omitempty"` // the SASL user
	Recipients int       `json:"recipients"`
	Size       int64     `json:"size"`
	Time       time.Time `json:"time"`
	DecisionID string    `json:"decision_id,omitempty"`
	IncidentID string    `json:"incident_id,omitempty"`
}

// Actions of a command.
const (
	ActionRelease = "release"
	ActionDelete  = "delete"
)

// Command asks a host's agent to release or delete one held message.
type Command struct {
	ID      string    `json:"id"` // unique; the JetStream message id
	Action  string    `json:"action"`
	Host    string    `json:"host"`
	QueueID string    `json:"queue_id"`
	By      string    `json:"by"`
	At      time.Time `json:"at"`
}

// Outcomes of a command.
const (
	OutcomeReleased = "released" // postsuper -H moved it out of the hold queue
	OutcomeDeleted  = "deleted"  // postsuper -d removed it
	OutcomeNotHeld  = "not_held" // it was not in the hold queue; Result.Queue says where it is ("" gone)
	OutcomeFailed   = "failed"   // the command could not be carried out; Result.Error says why
)

// Result is an agent's report on one command.
type Result struct {
	CommandID string    `json:"command_id"`
	Action    string    `json:"action"`
	Host      string    `json:"host"`
	QueueID   string    `json:"queue_id"`
	By        string    `json:"by"`
	Requested time.Time `json:"requested"` // the command's At
	Outcome   string    `json:"outcome"`
	Queue     string    `json:"queue,omitempty"` // the queue it is in after the command ("" when no longer queued)
	Error     string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// Limits of decoded records.
const (
	maxRecord  = 4096 // bytes of one JSON record
	maxText    = 512  // bytes of a sender, user, actor or error text
	maxIDLen   = 64   // bytes of a command, decision or incident id
	maxRcpts   = 1_000_000
	maxMsgSize = 1 << 40
)

// ErrRecord is the class of every record the decoders refuse.
var ErrRecord = errors.New("invalid quarantine record")

func decodeStrict(data []byte, v any) error {
	if len(data) > maxRecord {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrRecord, len(data), maxRecord)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if _, err := d.Token(); err != io.EOF {
		return fmt.Errorf("%w: data after the JSON object", ErrRecord)
	}
	return nil
}

func checkText(name, v string, max int, required bool) error {
	switch {
	case required && v == "":
		return fmt.Errorf("%w: %s is empty", ErrRecord, name)
	case len(v) > max:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrRecord, name, max)
	case !utf8.ValidString(v):
		return fmt.Errorf("%w: %s is not UTF-8", ErrRecord, name)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s holds a control character", ErrRecord, name)
		}
	}
	return nil
}

func checkTime(name string, t time.Time) error {
	if t.Year() < 2000 || t.Year() > 2200 {
		return fmt.Errorf("%w: %s %s outside the years 2000-2200", ErrRecord, name, t.Format(time.RFC3339))
	}
	return nil
}

// Validate reports the first problem of a held record.
func (m HeldMessage) Validate() error {
	if err := CheckHost(m.Host); err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if err := CheckQueueID(m.QueueID); err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"sender", m.Sender, maxText}, {"user", m.User, maxText}, {"decision_id", m.DecisionID, maxIDLen}, {"incident_id", m.IncidentID, maxIDLen}} {
		if err := checkText(f.name, f.v, f.max, false); err != nil {
			return err
		}
	}
	if m.Recipients < 0 || m.Recipients > maxRcpts || m.Size < 0 || m.Size > maxMsgSize {
		return fmt.Errorf("%w: recipients %d or size %d out of range", ErrRecord, m.Recipients, m.Size)
	}
	return checkTime("time", m.Time)
}

// DecodeHeld decodes and validates a held record.
func DecodeHeld(data []byte) (HeldMessage, error) {
	var m HeldMessage
	if err := decodeStrict(data, &m); err != nil {
		return m, err
	}
	return m, m.Validate()
}

// Validate reports the first problem of a command.
func (c Command) Validate() error {
	if err := checkText("id", c.ID, maxIDLen, true); err != nil {
		return err
	}
	if c.Action != ActionRelease && c.Action != ActionDelete {
		return fmt.Errorf("%w: action %q: want release or delete", ErrRecord, c.Action)
	}
	if err := CheckHost(c.Host); err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if err := CheckQueueID(c.QueueID); err != nil {
		return fmt.Errorf("%w: %v", ErrRecord, err)
	}
	if err := checkText("by", c.By, maxText, true); err != nil {
		return err
	}
	return checkTime("at", c.At)
}

// DecodeCommand decodes and validates a command: unknown fields, oversized records and invalid values are refused.
func DecodeCommand(data []byte) (Command, error) {
	var c Command
	if err := decodeStrict(data, &c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// Validate reports the first problem of a result.
func (r Result) Validate() error {
	if err := (Command{ID: r.CommandID, Action: r.Action, Host: r.Host, QueueID: r.QueueID, By: r.By, At: r.Requested}).Validate(); err != nil {
		return err
	}
	if err := checkTime("at", r.At); err != nil {
		return err
	}
	switch r.Outcome {
	case OutcomeReleased, OutcomeDeleted, OutcomeNotHeld, OutcomeFailed:
	default:
		return fmt.Errorf("%w: outcome %q", ErrRecord, r.Outcome)
	}
	if err := checkText("queue", r.Queue, 32, false); err != nil {
		return err
	}
	return checkText("error", r.Error, maxText, false)
}

// DecodeResult decodes and validates a result.
func DecodeResult(data []byte) (Result, error) {
	var r Result
	if err := decodeStrict(data, &r); err != nil {
		return r, err
	}
	return r, r.Validate()
}
