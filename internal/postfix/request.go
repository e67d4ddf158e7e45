package postfix

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/mailid"
)

// Limits on one request; Postfix's own requests are far below them.
const (
	MaxLine       = 4096     // bytes in one name=value line
	MaxAttributes = 128      // lines in one request
	MaxRequest    = 64 << 10 // bytes in one request
)

// ErrMalformed reports a request that breaks the protocol or its limits.
var ErrMalformed = errors.New("malformed policy request")

// Request is one policy request's attributes.
type Request map[string]string

// ReadRequest reads one request (attribute lines up to an empty line) from r, whose buffer must be at least
// MaxLine bytes. It returns io.EOF at a clean end of the connection and an error wrapping ErrMalformed when a
// limit is exceeded or a line is not name=value.
func ReadRequest(r *bufio.Reader) (Request, error) {
	req := Request{}
	size, lines := 0, 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > MaxLine {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrMalformed, MaxLine)
		}
		if err != nil {
			if len(line) == 0 && len(req) == 0 {
				return nil, err // io.EOF between requests
			}
			return nil, fmt.Errorf("%w: the connection ended inside a request: %v", ErrMalformed, err)
		}
		size += len(line)
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		if len(line) == 0 {
			if len(req) == 0 {
				return nil, fmt.Errorf("%w: an empty request", ErrMalformed)
			}
			return req, nil
		}
		lines++
		if size > MaxRequest || lines > MaxAttributes {
			return nil, fmt.Errorf("%w: more than %d bytes or %d attributes", ErrMalformed, MaxRequest, MaxAttributes)
		}
		name, value, ok := bytes.Cut(line, []byte{'='})
		if !ok || len(name) == 0 {
			return nil, fmt.Errorf("%w: %.40q is not name=value", ErrMalformed, line)
		}
		req[string(name)] = string(value)
	}
}

// Event turns an END-OF-MESSAGE request of an authenticated client into a validated send event. ok is false for
// every other request; err explains why a message request cannot be an event.
func (req Request) Event(now time.Time, source string) (e event.Event, ok bool, err error) {
	if req["request"] != "smtpd_access_policy" || req["protocol_state"] != "END-OF-MESSAGE" || req["sasl_username"] == "" {
		return e, false, nil
	}
	rcpts, err := strconv.Atoi(req["recipient_count"])
	if err != nil {
		return e, true, fmt.Errorf("recipient_count %.20q is not a number", req["recipient_count"])
	}
	var size int64
	if s := req["size"]; s != "" {
		if size, err = strconv.ParseInt(s, 10, 64); err != nil {
			return e, true, fmt.Errorf("size %.20q is not a number", s)
		}
	}
	ip, err := event.ParseIP(req["client_address"])
	if err != nil {
		return e, true, fmt.Errorf("client_address: %w", err)
	}
	e = event.Event{
		ID:         mailid.Message(req["queue_id"], req["instance"]),
		Kind:       event.KindSend,
		Time:       now.UTC(),
		User:       req["sasl_username"],
		IP:         ip,
		Service:    service(req),
		Recipients: rcpts,
		Size:       size,
		MessageID:  req["queue_id"],
		Source:     source,
	}
	if e.MessageID == "" {
		e.MessageID = req["instance"]
	}
	e, err = event.New(e, now)
	return e, true, err
}

// service tells submission from smtp: a policy_context of "submission" (smtpd_policy_service_policy_context in
// master.cf) or the submission ports 587 and 465.
func service(req Request) string {
	switch {
	case req["policy_context"] == "submission", req["server_port"] == "587", req["server_port"] == "465":
		return "submission"
	}
	return "smtp"
}
