package mailbox2fa

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxAddress is the longest mailbox address accepted (as event.MaxUserLen).
const maxAddress = 320

// parseUser returns the mailbox address in lower case and its domain, or ok false for anything that is not
// local@domain of printable characters without spaces, quotes, slashes, '<', '>' or ','. It runs before a name
// becomes a KV key, an e-mail recipient or a log value.
func parseUser(s string) (user, domain string, ok bool) {
	if !validAddress(s) {
		return "", "", false
	}
	s = strings.ToLower(s)
	return s, s[strings.LastIndexByte(s, '@')+1:], true
}

func validAddress(s string) bool {
	if s == "" || len(s) > maxAddress || strings.ContainsAny(s, " \t\r\n\"'/\\<>,;:()[]") || !printable(s) {
		return false
	}
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && validDomain(domain)
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 || strings.HasPrefix(d, ".") || strings.HasSuffix(d, ".") || strings.Contains(d, "..") {
		return false
	}
	for _, c := range d {
		if !(c == '.' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
