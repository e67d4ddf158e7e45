package event

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the wire encoding of a normalised event to b. It writes the same JSON as encoding/json would
// (success only on logins, last), without reflection.
func AppendJSON(b []byte, e *Event) []byte {
	b = append(b, '{')
	if e.ID != "" {
		b = append(b, `"id":`...)
		b = appendString(b, e.ID)
		b = append(b, ',')
	}
	b = append(b, `"kind":`...)
	b = appendString(b, string(e.Kind))
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","user":`...)
	b = appendString(b, e.User)
	if e.Domain != "" {
		b = append(b, `,"domain":`...)
		b = appendString(b, e.Domain)
	}
	b = append(b, `,"ip":"`...)
	b = e.IP.AppendTo(b)
	b = append(b, '"')
	if e.Service != "" {
		b = append(b, `,"service":`...)
		b = appendString(b, e.Service)
	}
	if e.Recipients != 0 {
		b = append(b, `,"recipients":`...)
		b = strconv.AppendInt(b, int64(e.Recipients), 10)
	}
	if e.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, e.Size, 10)
	}
	for _, f := range [...]struct{ name, v string }{{`,"message_id":`, e.MessageID}, {`,"source":`, e.Source}, {`,"session":`, e.Session}, {`,"pwhash":`, e.PWHash}} {
		if f.v != "" {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	if e.Kind == KindLogin { // last, where encoding/json puts it
		b = append(b, `,"success":`...)
		b = strconv.AppendBool(b, e.Success)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaping like encoding/json (HTML characters included).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// decodeFast decodes the wire encoding written by AppendJSON into the zeroed e. It reports false for anything it
// does not handle (escapes, unknown keys, other layouts), and the caller falls back to encoding/json. Only the kept
// strings are allocated: keys, the kind, the time and an IPv4 address are read in place.
func decodeFast(data []byte, e *Event) bool {
	p := parser{data: data}
	return p.fields(func(f field) bool {
		switch f {
		case fieldSuccess:
			v, ok := p.bool()
			e.Success = v
			return ok
		case fieldRecipients:
			n, ok := p.int()
			e.Recipients = int(n)
			return ok
		case fieldSize:
			n, ok := p.int()
			e.Size = n
			return ok
		}
		v, ok := p.bytes()
		if !ok {
			return false
		}
		switch f {
		case fieldKind:
			e.Kind = kindOf(v)
		case fieldTime:
			return e.Time.UnmarshalText(v) == nil // what encoding/json does for a time.Time
		case fieldIP:
			return parseAddr(v, &e.IP)
		default:
			*e.text(f) = string(v)
		}
		return true
	})
}

// A field numbers a key of the wire encoding, from 1; 0 is an unknown key.
type field uint8

const (
	fieldID field = iota + 1
	fieldKind
	fieldTime
	fieldUser
	fieldDomain
	fieldIP
	fieldService
	fieldMessageID
	fieldSource
	fieldSession
	fieldPWHash
	fieldSuccess
	fieldRecipients
	fieldSize
)

// fieldOf maps a key to its field without allocating.
func fieldOf(key []byte) field {
	switch string(key) {
	case "id":
		return fieldID
	case "kind":
		return fieldKind
	case "time":
		return fieldTime
	case "user":
		return fieldUser
	case "domain":
		return fieldDomain
	case "ip":
		return fieldIP
	case "service":
		return fieldService
	case "message_id":
		return fieldMessageID
	case "source":
		return fieldSource
	case "session":
		return fieldSession
	case "pwhash":
		return fieldPWHash
	case "success":
		return fieldSuccess
	case "recipients":
		return fieldRecipients
	case "size":
		return fieldSize
	}
	return 0
}

// text is the string field of e that f names (one of ID, User, Domain, Service, MessageID, Source, Session, PWHash).
func (e *Event) text(f field) *string {
	switch f {
	case fieldID:
		return &e.ID
	case fieldUser:
		return &e.User
	case fieldDomain:
		return &e.Domain
	case fieldService:
		return &e.Service
	case fieldMessageID:
		return &e.MessageID
	case fieldSource:
		return &e.Source
	case fieldSession:
		return &e.Session
	}
	return &e.PWHash
}

// kindOf returns the kind named by b, allocating only for a kind other than login and send.
func kindOf(b []byte) Kind {
	switch string(b) {
	case string(KindLogin):
		return KindLogin
	case string(KindSend):
		return KindSend
	}
	return Kind(b)
}

// parseAddr sets *a to the address b holds, as netip.Addr's UnmarshalText would; a dotted IPv4 address in canonical
// form (no leading zeros) is read without allocating.
func parseAddr(b []byte, a *netip.Addr) bool {
	var v4 [4]byte
	n, octet, digits := 0, 0, 0
	for i := 0; i <= len(b); i++ {
		if i == len(b) || b[i] == '.' {
			if digits == 0 || n == 4 {
				return a.UnmarshalText(b) == nil
			}
			v4[n] = byte(octet)
			n, octet, digits = n+1, 0, 0
			continue
		}
		c := b[i]
		if c < '0' || c > '9' || digits > 0 && octet == 0 || digits == 3 {
			return a.UnmarshalText(b) == nil
		}
		octet, digits = octet*10+int(c-'0'), digits+1
		if octet > 255 {
			return a.UnmarshalText(b) == nil
		}
	}
	if n != 4 {
		return a.UnmarshalText(b) == nil
	}
	*a = netip.AddrFrom4(v4)
	return true
}

type parser struct {
	data []byte
	i    int
}

func (p *parser) space() {
	for p.i < len(p.data) && (p.data[p.i] == ' ' || p.data[p.i] == '\n' || p.data[p.i] == '\t' || p.data[p.i] == '\r') {
		p.i++
	}
}

func (p *parser) peek() byte {
	if p.i < len(p.data) {
		return p.data[p.i]
	}
	return 0
}

func (p *parser) byte(c byte) bool {
	p.space()
	if p.peek() != c {
		return false
	}
	p.i++
	return true
}

// plain marks the bytes a JSON string holds as they are: not a quote, a backslash or a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// bytes reads a JSON string without escapes (control characters and backslashes make it fail) and returns its
// content, which aliases the input.
func (p *parser) bytes() ([]byte, bool) {
	p.space()
	if p.peek() != '"' {
		return nil, false
	}
	start := p.i + 1
	var high byte // the OR of the bytes: ASCII when below 0x80
	for j := start; j < len(p.data); j++ {
		c := p.data[j]
		if plain[c] {
			high |= c
			continue
		}
		if c != '"' {
			return nil, false
		}
		p.i = j + 1
		s := p.data[start:j]
		if high >= utf8.RuneSelf && !utf8.Valid(s) {
			return nil, false
		}
		return s, true
	}
	return nil, false
}

// str reads a JSON string as bytes does, into a new string.
func (p *parser) str() (string, bool) {
	b, ok := p.bytes()
	return string(b), ok
}

// bool reads a JSON true or false.
func (p *parser) bool() (bool, bool) {
	switch {
	case p.lit("true"):
		return true, true
	case p.lit("false"):
		return false, true
	}
	return false, false
}

// fields reads a flat JSON object of the event's keys with object, calling value once per key; an unknown or
// repeated key rejects the object.
func (p *parser) fields(value func(f field) bool) bool {
	var seen uint16
	return p.object(func(key []byte) bool {
		f := fieldOf(key)
		if f == 0 || seen&(1<<f) != 0 {
			return false
		}
		seen |= 1 << f
		return value(f)
	})
}

// object reads a flat JSON object and nothing after it but white space. For each key it calls value, which reads
// the key's value from p and reports false to reject the object.
func (p *parser) object(value func(key []byte) bool) bool {
	if !p.byte('{') {
		return false
	}
	for first := true; ; first = false {
		if p.byte('}') {
			p.space()
			return p.i == len(p.data)
		}
		if !first && !p.byte(',') {
			return false
		}
		key, ok := p.bytes()
		if !ok || !p.byte(':') {
			return false
		}
		p.space()
		if !value(key) {
			return false
		}
	}
}

func (p *parser) lit(s string) bool {
	if len(p.data)-p.i >= len(s) && string(p.data[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// int reads a JSON integer: an optional minus, then 0 or a digit string without a leading zero.
func (p *parser) int() (int64, bool) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || p.data[digits] == '0' && p.i-digits > 1 {
		return 0, false
	}
	if c := p.peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.data[start:p.i]), 10, 64)
	return n, err == nil
}

// unmarshalSlow is the reference decoder.
func unmarshalSlow(data []byte, e *Event) error {
	*e = Event{}
	if err := json.Unmarshal(data, e); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	return nil
}

// wireFast reads a flat JSON object of escape-free strings, booleans and integers into w. It reports false for
// anything else (escapes, nesting, floats, unknown keys, duplicates), and the caller uses encoding/json, which
// gives the precise error.
func wireFast(data []byte, w *wire) bool {
	p := parser{data: data}
	return p.fields(func(f field) bool {
		switch f {
		case fieldSuccess:
			v, ok := p.bool()
			w.Success = &v
			return ok
		case fieldRecipients, fieldSize:
			start := p.i
			if _, ok := p.int(); !ok {
				return false
			}
			raw := json.RawMessage(p.data[start:p.i])
			if f == fieldRecipients {
				w.Recipients = &raw
			} else {
				w.Size = &raw
			}
			return true
		}
		v, ok := p.str()
		*w.text(f) = &v
		return ok
	})
}

// text is the string field of w that f names.
func (w *wire) text(f field) **string {
	switch f {
	case fieldID:
		return &w.ID
	case fieldKind:
		return &w.Kind
	case fieldTime:
		return &w.Time
	case fieldUser:
		return &w.User
	case fieldDomain:
		return &w.Domain
	case fieldIP:
		return &w.IP
	case fieldService:
		return &w.Service
	case fieldMessageID:
		return &w.MessageID
	case fieldSource:
		return &w.Source
	case fieldSession:
		return &w.Session
	}
	return &w.PWHash
}
