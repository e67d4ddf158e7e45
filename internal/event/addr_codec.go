package event

import (
	"net/netip"
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
	p := parser{data: data}
	if !p.byte('{') {
		return false
	}
	*e = AddrEvent{}
	var seen uint16
	for first := true; ; first = false {
		if p.byte('}') {
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
		var bit uint16
		var dst *string
		var flag *bool
		switch key {
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
		case "time", "ip":
			bit = 128
			if key == "ip" {
				bit = 256
			}
			s, ok := p.str()
			if !ok {
				return false
			}
			if key == "time" {
				t, err := time.Parse(time.RFC3339Nano, s)
				if err != nil {
					return false
				}
				e.Time = t
			} else {
				a, err := netip.ParseAddr(s)
				if err != nil {
					return false
				}
				e.IP = a
			}
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
			if !ok {
				return false
			}
			*dst = s
		case flag != nil:
			switch {
			case p.lit("true"):
				*flag = true
			case p.lit("false"):
			default:
				return false
			}
		}
	}
}
