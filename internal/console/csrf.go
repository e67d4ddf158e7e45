package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
)

// CSRF protection: a random per-browser cookie (HttpOnly, SameSite=Strict) and, in every form, an HMAC of the
// session token keyed by that cookie. A forged form knows neither, a leaked form token is bound to one session, and
// the scheme needs no server state, so any replica checks it. Same-origin is checked too (Origin, Sec-Fetch-Site).
const (
	csrfCookie = "vigil_csrf"
	csrfField  = "csrf"
)

// csrfSecret returns the browser's CSRF cookie value, creating (and setting) one when absent or malformed.
func (c *Console) csrfSecret(w http.ResponseWriter, r *http.Request) string {
	if ck, err := r.Cookie(csrfCookie); err == nil && validCSRFSecret(ck.Value) {
		return ck.Value
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
	// the request continues with the new cookie, so a token rendered now matches what the browser will send
	r.AddCookie(&http.Cookie{Name: csrfCookie, Value: v})
	return v
}

func validCSRFSecret(v string) bool {
	b, err := base64.RawURLEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

func csrfToken(secret, session string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("vigil console form\x00" + session))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// checkCSRF reports whether a state-changing request carries the form token of this browser and session and comes
// from this origin.
func checkCSRF(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		// behind a proxy that rewrites Host, the host the browser used is in X-Forwarded-Host (a form cannot set it)
		if err != nil || !strings.EqualFold(u.Host, r.Host) && !strings.EqualFold(u.Host, r.Header.Get("X-Forwarded-Host")) {
			return false
		}
	}
	ck, err := r.Cookie(csrfCookie)
	if err != nil || !validCSRFSecret(ck.Value) {
		return false
	}
	got := r.PostFormValue(csrfField)
	want := csrfToken(ck.Value, sessionToken(r))
	return hmac.Equal([]byte(got), []byte(want))
}

// secure reports whether cookies set by the console need the Secure attribute: behind TLS (directly, or as a
// proxy says for a request it forwarded).
func secure(r *http.Request) bool {
	return r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}
