package event

import (
	"time"
)

// appendAddrJSON writes an AddrEvent as encoding/json would (same keys, omitempty), without reflection.
func appendAddrJSON(b []byte, e *AddrEvent) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, e.ID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","ip":"`...)
	b = e.IP.AppendTo(b)
	b = append(b, `","user":`...)
	b = appendString(b, e.User)
	for _, f := range [...]struct{ name, v string }{{`,"domain":`, e.Domain}, {`,"service":`, e.Service}, {`,"pwhash":`, e.PWHash}} {
		if f.v != "" {
			b = append(b, f.name...)
			b = appendString(b, f.v)
		}
	}
	if e.Success {
		b = append(b, `,"success":true`...)
	}
	if e.Known {
		b = append(b, `,"known":true`...)
	}
	return append(b, '}')
}

// decodeAddrFast reads a flat object of escape-free strings and booleans with AddrEvent's keys. It reports false
// for anything else, and the caller falls back to encoding/json.
func decodeAddrFast(data []byte, e *AddrEvent) bool {
	*e = AddrEvent{}
	p := parser{data: data}
	var seen uint16
	return p.object(func(key []byte) bool {
		var bit uint16
		var dst *string
		var flag *bool
		switch string(key) {
		case "id":
			bit, dst = 1, &e.ID
		case "user":
			bit, dst = 2, &e.User
		case "domain":
			bit, dst = 4, &e.Domain
		case "service":
			bit, dst = 8, &e.Service
		case "pwhash":
			bit, dst = 16, &e.PWHash
		case "success":
			bit, flag = 32, &e.Success
		case "known":
			bit, flag = 64, &e.Known
		case "time":
			bit = 128
		case "ip":
			bit = 256
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		switch {
		case dst != nil:
			s, ok := p.str()
			*dst = s
			return ok
		case flag != nil:
			v, ok := p.bool()
			*flag = v
			return ok
		}
		v, ok := p.bytes()
		switch {
		case !ok:
			return false
		case bit == 128:
			return e.Time.UnmarshalText(v) == nil // what encoding/json does for a time.Time
		default:
			return parseAddr(v, &e.IP)
		}
	})
}
