package dovecot

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/mailid"
)

// Report is the body of a report request. Template values arrive as JSON strings, flags as booleans; a nil
// pointer is an attribute Dovecot did not send.
type Report struct {
	Login     *string `json:"login"`
	Remote    *string `json:"remote"`
	Protocol  string  `json:"protocol"`
	SessionID string  `json:"session_id"`
	PWHash    string  `json:"pwhash"`
	Success   *bool   `json:"success"`
}

// Errors of ParseReport.
var (
	// ErrBody is a body that is not a JSON object of the report's shape.
	ErrBody = errors.New("report body is not a JSON object of strings and booleans")
	// ErrMissing is a report without an attribute Vigil needs: auth_policy_request_attributes lacks it.
	ErrMissing = errors.New("report lacks a required attribute")
)

// ParseReport decodes a report body. Attributes Vigil does not use are ignored (operators add their own); login,
// remote and success are required, though they may be empty.
func ParseReport(body []byte) (Report, error) {
	var rep Report
	if err := json.Unmarshal(body, &rep); err != nil {
		return Report{}, fmt.Errorf("%w: %w", ErrBody, err)
	}
	switch {
	case rep.Login == nil:
		return rep, fmt.Errorf("%w: login (add login=%%{requested_username} to auth_policy_request_attributes)", ErrMissing)
	case rep.Remote == nil:
		return rep, fmt.Errorf("%w: remote (add remote=%%{rip} to auth_policy_request_attributes)", ErrMissing)
	case rep.Success == nil:
		return rep, fmt.Errorf("%w: success (is this a command=report request?)", ErrMissing)
	}
	return rep, nil
}

// Event turns a parsed report into a validated login event. attempt numbers a failure within its session (see
// package mailid); source names the reporting server. The error explains why the report cannot be an event,
// typically a user name that breaks the event schema or a remote address that is not an IP address.
func (rep Report) Event(now time.Time, source string, attempt int) (event.Event, error) {
	ip, err := event.ParseIP(*rep.Remote)
	if err != nil {
		return event.Event{}, fmt.Errorf("remote: %w", err)
	}
	e := event.Event{
		Kind:    event.KindLogin,
		Time:    now.UTC(),
		User:    *rep.Login,
		IP:      ip,
		Service: Service(rep.Protocol),
		Success: *rep.Success,
		Source:  source,
		Session: rep.SessionID,
		PWHash:  rep.PWHash,
	}
	e.ID = mailid.Login(rep.SessionID, e.Success, attempt)
	return event.New(e, now)
}

// Service maps Dovecot's protocol names (%s) to event services; anything else is "other".
func Service(protocol string) string {
	switch p := strings.ToLower(protocol); p {
	case "imap", "pop3", "smtp", "submission":
		return p
	}
	return "other"
}
