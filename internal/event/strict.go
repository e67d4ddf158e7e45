package event

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// fields are the exact, case-sensitive names of schema v1.
var fields = map[string]bool{"id": true, "kind": true, "time": true, "user": true, "domain": true, "ip": true,
	"service": true, "success": true, "recipients": true, "size": true, "message_id": true, "source": true,
	"session": true, "pwhash": true}

// checkStrict enforces what encoding/json lets through but the schema forbids: invalid UTF-8 and lone surrogate
// escapes (encoding/json replaces them with U+FFFD), field names in another case (it matches them
// case-insensitively) and duplicate keys (it keeps the last). It reads only the top level of an object; anything
// else is left to encoding/json's syntax errors.
func checkStrict(data []byte) error {
	depth := 0
	key := ""          // the current top-level key
	expectKey := false // the next string at depth 1 is a key
	seen := map[string]bool{}
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{', '[':
			depth++
			expectKey = c == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		case '"':
			end, err := scanString(data, i)
			if err != "" {
				field := key
				if expectKey && depth == 1 {
					field = ""
				}
				return fieldErr(field, "%s", err)
			}
			if expectKey && depth == 1 {
				var k string
				if json.Unmarshal(data[i:end], &k) != nil {
					return nil // a syntax error encoding/json reports
				}
				if !fields[k] {
					return fieldErr(truncate(k), "unknown field (field names are case-sensitive)")
				}
				if seen[k] {
					return fieldErr(k, "appears more than once")
				}
				seen[k] = true
				key = k
				expectKey = false
			}
			i = end - 1
		}
	}
	return nil
}

// scanString finds the end (one past the closing quote) of the JSON string starting at data[i], and reports
// invalid UTF-8 or a lone surrogate escape.
func scanString(data []byte, i int) (int, string) {
	j := i + 1
	for j < len(data) {
		c := data[j]
		switch {
		case c == '"':
			return j + 1, ""
		case c == '\\':
			if j+1 < len(data) && data[j+1] == 'u' {
				r, ok := hex4(data, j+2)
				if !ok {
					return len(data), "" // syntax error
				}
				switch {
				case r >= 0xD800 && r < 0xDC00:
					r2, ok := rune(0), j+7 < len(data) && data[j+6] == '\\' && data[j+7] == 'u'
					if ok {
						r2, ok = hex4(data, j+8)
					}
					if !ok || r2 < 0xDC00 || r2 > 0xDFFF {
						return j, "contains a lone UTF-16 surrogate escape"
					}
					j += 12
				case r >= 0xDC00 && r <= 0xDFFF:
					return j, "contains a lone UTF-16 surrogate escape"
				default:
					j += 6
				}
				continue
			}
			j += 2
		case c < utf8.RuneSelf:
			j++
		default:
			r, size := utf8.DecodeRune(data[j:])
			if r == utf8.RuneError && size == 1 {
				return j, "is not valid UTF-8"
			}
			j += size
		}
	}
	return len(data), ""
}

func hex4(data []byte, i int) (rune, bool) {
	if i+4 > len(data) {
		return 0, false
	}
	n, err := strconv.ParseUint(string(data[i:i+4]), 16, 32)
	return rune(n), err == nil
}
