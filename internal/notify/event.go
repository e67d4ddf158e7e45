package notify

import (
	"encoding/json"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/incident"
)

// Type names what changed. It is the envelope's "type" and the Vigil-Event header of a webhook delivery.
type Type string

// The event types (schemas/notifications/v1/event.schema.json).
const (
	IncidentOpened   Type = "incident.opened"   // the first version of an incident the notifiers see (normally version 1)
	IncidentUpdated  Type = "incident.updated"  // a later version: more evidence
	IncidentReviewed Type = "incident.reviewed" // an admin acknowledged, resolved or reopened it
	DecisionAdded    Type = "decision.added"    // a containment decision was stored
	DecisionLifted   Type = "decision.lifted"   // a decision was lifted before it expired
)

// Event is the envelope of every notification. ID is the delivery id: derived from the source record alone
// (incident.<id>.<version>, review.<incident id>.<revision>, decision.<id>.added|lifted), so a redelivery, a retry
// or a restarted notifier sends the same id and a receiver can drop duplicates by it.
type Event struct {
	ID      string          `json:"id"`
	Type    Type            `json:"type"`
	Time    time.Time       `json:"time"` // when the change happened: newest evidence, review or decision time
	Payload json.RawMessage `json:"payload"`

	// The decoded payload, for the sinks; exactly one is set.
	incident *incident.Incident
	review   *Review
	decision *decision.Decision
}

// Review is the payload of incident.reviewed: the review record of the auth API (internal/authapi), without the
// reviewer's client address.
type Review struct {
	IncidentID string    `json:"incident_id"`
	Status     string    `json:"status"` // open (reopened), acknowledged or resolved
	Action     string    `json:"action"` // acknowledge, resolve or reopen
	Reason     string    `json:"reason,omitempty"`
	Note       string    `json:"note,omitempty"`
	By         string    `json:"by"`
	At         time.Time `json:"at"`
	Revision   uint64    `json:"revision"` // the review's revision in its KV bucket
}

// Incident returns the payload of an incident.opened or incident.updated event, nil otherwise.
func (e *Event) Incident() *incident.Incident { return e.incident }

// Review returns the payload of an incident.reviewed event, nil otherwise.
func (e *Event) Review() *Review { return e.review }

// Decision returns the payload of a decision event, nil otherwise.
func (e *Event) Decision() *decision.Decision { return e.decision }

// IncidentID is the incident an event is about: its own, the reviewed one or the decision's cause ("" for an
// admin's own decision).
func (e *Event) IncidentID() string {
	switch {
	case e.incident != nil:
		return e.incident.ID
	case e.review != nil:
		return e.review.IncidentID
	case e.decision != nil:
		return e.decision.IncidentID
	}
	return ""
}

// body is the JSON a webhook receives and the digest keeps.
func (e *Event) body() []byte {
	b, _ := json.Marshal(e) // only JSON-safe fields
	return b
}
