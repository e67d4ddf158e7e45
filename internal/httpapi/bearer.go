package httpapi

import (
	"net/http"
	"strings"
)

// BearerToken returns the token of an "Authorization: Bearer <token>" header. The scheme is case-insensitive
// (RFC 9110 section 11.1) and may be followed by several spaces; ok is false without a non-empty token.
func BearerToken(r *http.Request) (token string, ok bool) {
	scheme, rest, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimLeft(rest, " ")
	return token, token != "" && !strings.ContainsAny(token, " \t")
}
