package respond

import (
	"encoding/json"
	"time"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/decision"
)

// Audit actions of the responder.
const (
	AuditDecision = "decision_create"  // an enforced decision of the policy
	AuditObserve  = "decision_observe" // what the policy would have done in observe mode
	AuditLift     = "decision_lift"    // a decision lifted by a review or a trusted range
)

func (r *Responder) audit(rec authapi.AuditRecord) {
	if r.opts.Auditor != nil {
		r.opts.Auditor.Audit(rec)
	}
}

// decisionAudit is the record of a new decision. Its event id derives from the decision's, so a redelivery that
// audits again (the audit table replaces by event id) leaves one row.
func decisionAudit(d *decision.Decision, now time.Time) authapi.AuditRecord {
	action := AuditDecision
	if d.Observe {
		action = AuditObserve
	}
	return authapi.AuditRecord{EventID: "decision-" + d.ID + "-created", Time: now.UTC(), Action: action, Actor: d.CreatedBy,
		Target: d.ID, Result: "success", After: encode(d)}
}

func liftAudit(before, after *decision.Decision, by string) authapi.AuditRecord {
	return authapi.AuditRecord{EventID: "decision-" + before.ID + "-lifted", Time: after.LiftedAt, Action: AuditLift, Actor: by,
		Target: before.ID, Result: "success", Before: encode(before), After: encode(after)}
}

func encode(d *decision.Decision) string {
	c := *d
	c.Revision = 0
	b, _ := json.Marshal(c)
	return string(b)
}
