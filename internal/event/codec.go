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

// decodeFast decodes the wire encoding written by AppendJSON. It reports false for anything it does not handle
// (escapes, unknown keys, other layouts), and the caller falls back to encoding/json.
func decodeFast(data []byte, e *Event) bool {
	var w wire
	if !wireFast(data, &w) {
		return false
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	num := func(p *json.RawMessage) (int64, bool) {
		if p == nil {
			return 0, true
		}
		n, err := strconv.ParseInt(string(*p), 10, 64)
		return n, err == nil
	}
	*e = Event{ID: str(w.ID), Kind: Kind(str(w.Kind)), User: str(w.User), Domain: str(w.Domain), Service: str(w.Service),
		MessageID: str(w.MessageID), Source: str(w.Source), Session: str(w.Session), PWHash: str(w.PWHash)}
	if w.Time != nil {
		t, err := time.Parse(time.RFC3339Nano, *w.Time)
		if err != nil {
			return false
		}
		e.Time = t
	}
	if w.IP != nil {
		a, err := netip.ParseAddr(*w.IP)
		if err != nil {
			return false
		}
		e.IP = a
	}
	if w.Success != nil {
		e.Success = *w.Success
	}
	rcpts, ok1 := num(w.Recipients)
	size, ok2 := num(w.Size)
	e.Recipients, e.Size = int(rcpts), size
	return ok1 && ok2
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

// str reads a JSON string without escapes (control characters and backslashes make it fail).
func (p *parser) str() (string, bool) {
	p.space()
	if p.peek() != '"' {
		return "", false
	}
	start := p.i + 1
	for j := start; j < len(p.data); j++ {
		switch c := p.data[j]; {
		case c == '"':
			p.i = j + 1
			s := p.data[start:j]
			if !utf8.Valid(s) {
				return "", false
			}
			return string(s), true
		case c == '\\' || c < 0x20:
			return "", false
		}
	}
	return "", false
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
	if !p.byte('{') {
		return false
	}
	seen := 0
	for first := true; ; first = false {
		p.space()
		if p.peek() == '}' {
			p.i++
			p.space()
			return p.i == len(p.data)
		}
		if !first && !p.byte(',') {
			return false
		}
		key, ok := p.str()
		if !ok || !p.byte(':') {
			return false
		}
		p.space()
		var dst **string
		bit := 0
		switch key {
		case "id":
			dst, bit = &w.ID, 1
		case "kind":
			dst, bit = &w.Kind, 2
		case "time":
			dst, bit = &w.Time, 3
		case "user":
			dst, bit = &w.User, 4
		case "domain":
			dst, bit = &w.Domain, 5
		case "ip":
			dst, bit = &w.IP, 6
		case "service":
			dst, bit = &w.Service, 7
		case "message_id":
			dst, bit = &w.MessageID, 8
		case "source":
			dst, bit = &w.Source, 9
		case "session":
			dst, bit = &w.Session, 10
		case "pwhash":
			dst, bit = &w.PWHash, 11
		case "success":
			bit = 12
		case "recipients":
			bit = 13
		case "size":
			bit = 14
		default:
			return false
		}
		if seen&(1<<bit) != 0 {
			return false
		}
		seen |= 1 << bit
		switch {
		case dst != nil:
			v, ok := p.str()
			if !ok {
				return false
			}
			*dst = &v
		case bit == 12:
			var v bool
			switch {
			case p.lit("true"):
				v = true
			case p.lit("false"):
			default:
				return false
			}
			w.Success = &v
		default:
			start := p.i
			if _, ok := p.int(); !ok {
				return false
			}
			raw := json.RawMessage(p.data[start:p.i])
			if bit == 13 {
				w.Recipients = &raw
			} else {
				w.Size = &raw
			}
		}
	}
}
