package event

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// wire is the JSON shape accepted from clients; pointers tell absent fields from zero values.
type wire struct {
	ID         *string          `json:"id"`
	Kind       *string          `json:"kind"`
	Time       *string          `json:"time"`
	User       *string          `json:"user"`
	Domain     *string          `json:"domain"`
	IP         *string          `json:"ip"`
	Service    *string          `json:"service"`
	Success    *bool            `json:"success"`
	Recipients *json.RawMessage `json:"recipients"`
	Size       *json.RawMessage `json:"size"`
	MessageID  *string          `json:"message_id"`
	Source     *string          `json:"source"`
	Session    *string          `json:"session"`
	PWHash     *string          `json:"pwhash"`
}

// Parse decodes, validates and normalises one event given as a JSON object.
// now bounds the event time: times more than MaxFutureSkew after now are rejected.
func Parse(data []byte, now time.Time) (Event, error) {
	if len(data) > MaxEncodedLength {
		return Event{}, fieldErr("", "event is %d bytes; the limit is %d", len(data), MaxEncodedLength)
	}
	var w wire
	if wireFast(data, &w) {
		return w.normalise(now)
	}
	if err := checkStrict(data); err != nil {
		return Event{}, err
	}
	w = wire{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Event{}, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Event{}, fieldErr("", "unexpected data after the event object")
	}
	return w.normalise(now)
}

// jsonError turns an encoding/json error into a FieldError naming the field where possible.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return fieldErr("", "an event must be a JSON object, not %s", typeErr.Value)
		}
		return fieldErr(field, "must be %s, not %s", jsonTypeName(typeErr.Type.String()), typeErr.Value)
	case errors.As(err, &syntaxErr):
		return fieldErr("", "invalid JSON at byte %d: %s", syntaxErr.Offset, syntaxErr.Error())
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fieldErr("", "invalid JSON: unexpected end of input")
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return fieldErr(strings.Trim(name, `"`), "unknown field")
	}
	return fieldErr("", "invalid JSON: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonTypeName(goType string) string {
	switch strings.TrimPrefix(goType, "*") {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "event.wire":
		return "an object"
	}
	return "a " + goType
}

func (w *wire) normalise(now time.Time) (Event, error) {
	var e Event

	// kind
	if w.Kind == nil {
		return e, fieldErr("kind", "required")
	}
	switch Kind(*w.Kind) {
	case KindLogin, KindSend:
		e.Kind = Kind(*w.Kind)
	default:
		return e, fieldErr("kind", "must be \"login\" or \"send\", not %q", truncate(*w.Kind))
	}

	// time
	if w.Time == nil {
		return e, fieldErr("time", "required")
	}
	t, err := time.Parse(time.RFC3339Nano, *w.Time)
	if err != nil || !strings.ContainsAny((*w.Time)[min(len(*w.Time), 19):], "Z+-") {
		return e, fieldErr("time", "must be an RFC 3339 timestamp with a time zone, like 2026-11-24T09:30:00Z, not %q", truncate(*w.Time))
	}
	t = t.UTC()
	if t.Year() < 2000 || t.Year() > 2100 {
		return e, fieldErr("time", "year %d is out of range (2000-2100)", t.Year())
	}
	if !now.IsZero() && t.After(now.Add(MaxFutureSkew)) {
		return e, fieldErr("time", "%s is more than %s in the future", t.Format(time.RFC3339), MaxFutureSkew)
	}
	e.Time = t

	// user and domain
	if w.User == nil {
		return e, fieldErr("user", "required")
	}
	user := strings.ToLower(strings.TrimSpace(*w.User))
	if err := checkText("user", user, MaxUserLen, true); err != nil {
		return e, err
	}
	if strings.ContainsFunc(user, unicode.IsSpace) {
		return e, fieldErr("user", "must not contain spaces")
	}
	e.User = user
	if w.Domain != nil {
		d := strings.ToLower(strings.TrimSpace(*w.Domain))
		if err := checkDomain(d); err != nil {
			return e, err
		}
		e.Domain = d
	} else if i := strings.LastIndexByte(user, '@'); i >= 0 {
		d := user[i+1:]
		if err := checkDomain(d); err != nil {
			return e, fieldErr("user", "domain part: %s", err.(*FieldError).Reason)
		}
		e.Domain = d
	}

	// ip
	if w.IP == nil {
		return e, fieldErr("ip", "required")
	}
	ip, err := ParseIP(*w.IP)
	if err != nil {
		return e, fieldErr("ip", "%v", err)
	}
	e.IP = ip

	// service
	e.Service = Services[0]
	if w.Service != nil {
		s := strings.ToLower(*w.Service)
		if !slices.Contains(Services, s) {
			return e, fieldErr("service", "must be one of %s, not %q", strings.Join(Services, ", "), truncate(*w.Service))
		}
		e.Service = s
	}

	// kind-specific fields
	switch e.Kind {
	case KindLogin:
		if w.Success == nil {
			return e, fieldErr("success", "required for login events")
		}
		e.Success = *w.Success
		if w.Recipients != nil {
			return e, fieldErr("recipients", "only allowed on send events")
		}
		if w.Size != nil {
			return e, fieldErr("size", "only allowed on send events")
		}
		if w.MessageID != nil {
			return e, fieldErr("message_id", "only allowed on send events")
		}
	case KindSend:
		if w.Success != nil {
			return e, fieldErr("success", "only allowed on login events")
		}
		if w.PWHash != nil {
			return e, fieldErr("pwhash", "only allowed on login events")
		}
		if w.Recipients == nil {
			return e, fieldErr("recipients", "required for send events")
		}
		n, err := parseInt(*w.Recipients, 1, MaxRecipients)
		if err != nil {
			return e, fieldErr("recipients", "%v", err)
		}
		e.Recipients = int(n)
		if w.Size != nil {
			n, err := parseInt(*w.Size, 0, MaxSize)
			if err != nil {
				return e, fieldErr("size", "%v", err)
			}
			e.Size = n
		}
		if w.MessageID != nil {
			if err := checkText("message_id", *w.MessageID, MaxMessageIDLen, false); err != nil {
				return e, err
			}
			e.MessageID = *w.MessageID
		}
	}

	// optional text fields
	for _, f := range []struct {
		name string
		in   *string
		max  int
		out  *string
	}{
		{"source", w.Source, MaxSourceLen, &e.Source},
		{"session", w.Session, MaxSessionLen, &e.Session},
		{"pwhash", w.PWHash, MaxPWHashLen, &e.PWHash},
	} {
		if f.in == nil {
			continue
		}
		if err := checkText(f.name, *f.in, f.max, false); err != nil {
			return e, err
		}
		*f.out = *f.in
	}
	if e.PWHash != "" {
		if _, err := hex.DecodeString(padEven(e.PWHash)); err != nil {
			return e, fieldErr("pwhash", "must be hexadecimal")
		}
		e.PWHash = strings.ToLower(e.PWHash)
	}

	// id
	if w.ID != nil {
		if *w.ID == "" {
			return e, fieldErr("id", "must not be empty (omit it to derive one from the content)")
		}
		if err := checkText("id", *w.ID, MaxIDLen, true); err != nil {
			return e, err
		}
		if strings.ContainsFunc(*w.ID, func(r rune) bool { return r < '!' || r > '~' }) {
			return e, fieldErr("id", "must be printable ASCII without spaces (it becomes the Nats-Msg-Id header)")
		}
		e.ID = *w.ID
	} else {
		e.ID = ContentID(&e)
	}
	return e, nil
}

// New validates and normalises an event built in code (by a protocol adapter) through the same rules as Parse.
// An empty ID is derived from the content.
func New(e Event, now time.Time) (Event, error) {
	var buf [512]byte
	return Parse(AppendJSON(buf[:0], &e), now)
}

// ContentID derives a stable event id from the normalised content of an event (its id field excluded).
func ContentID(e *Event) string {
	c := *e
	c.ID = ""
	var buf [512]byte
	sum := sha256.Sum256(AppendJSON(buf[:0], &c))
	return hex.EncodeToString(sum[:16])
}

// ParseIP parses an IPv4 or IPv6 address in canonical or common forms and unmaps IPv4-mapped IPv6 addresses.
func ParseIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("must not be empty")
	}
	if len(s) > 64 {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", truncate(s))
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IPv4 or IPv6 address", s)
	}
	if a.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("%q has a zone; zones are not allowed", s)
	}
	return a.Unmap(), nil
}

func parseInt(raw json.RawMessage, lo, hi int64) (int64, error) {
	if len(raw) == 0 || raw[0] == '"' {
		return 0, fmt.Errorf("must be an integer, not the string %s", truncate(string(raw)))
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err != nil {
		return 0, fmt.Errorf("must be an integer, not %s", truncate(string(raw)))
	}
	v, err := n.Int64()
	if err != nil {
		return 0, fmt.Errorf("must be an integer, not %s", truncate(string(raw)))
	}
	if v < lo || v > hi {
		return 0, fmt.Errorf("%d is out of range (%d-%d)", v, lo, hi)
	}
	return v, nil
}

func checkText(field, s string, max int, required bool) error {
	if required && s == "" {
		return fieldErr(field, "must not be empty")
	}
	if len(s) > max {
		return fieldErr(field, "is %d bytes long; the limit is %d", len(s), max)
	}
	if !utf8.ValidString(s) {
		return fieldErr(field, "is not valid UTF-8")
	}
	if strings.ContainsFunc(s, unicode.IsControl) {
		return fieldErr(field, "must not contain control characters")
	}
	return nil
}

func checkDomain(d string) error {
	if err := checkText("domain", d, MaxDomainLen, true); err != nil {
		return err
	}
	if strings.ContainsFunc(d, func(r rune) bool { return unicode.IsSpace(r) || r == '@' || r == '/' }) {
		return fieldErr("domain", "%q is not a domain name", truncate(d))
	}
	return nil
}

func padEven(s string) string {
	if len(s)%2 == 1 {
		return "0" + s
	}
	return s
}

func truncate(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
