package webmail2fa

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The flows against the real auth API are in internal/mailbox2fa (TestStepUp); these are the client's own checks.

func TestNewValidates(t *testing.T) {
	for _, tt := range []struct{ url, key string }{{"vigil.example.org", "k"}, {"ftp://vigil", "k"}, {"https://vigil", ""}, {"https://vigil", "a b"}} {
		if _, err := New(tt.url, tt.key, nil); err == nil {
			t.Errorf("New(%q, %q) succeeded", tt.url, tt.key)
		}
	}
}

func TestVerifyNeedsExactlyOneCode(t *testing.T) {
	c, err := New("http://127.0.0.1:1", "vk_x", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []Code{{}, {TOTP: "123456", Email: "123456"}} {
		if _, err := c.Verify(context.Background(), "alice@example.org", code, ""); err == nil || errors.As(err, new(*Error)) {
			t.Errorf("Verify(%+v) = %v; want a local argument error", code, err)
		}
	}
}

func TestErrorIs(t *testing.T) {
	for _, tt := range []struct {
		e    *Error
		want error
	}{
		{&Error{Status: 401, Code: "invalid_credentials"}, ErrInvalidCode},
		{&Error{Status: 429, Code: "too_many_requests"}, ErrThrottled},
		{&Error{Status: 403, Code: "step_up_denied"}, ErrDenied},
		{&Error{Status: 409, Code: "not_enrolled"}, ErrNotEnrolled},
		{&Error{Status: 409, Code: "incident_open"}, ErrIncidentOpen},
	} {
		if !errors.Is(tt.e, tt.want) {
			t.Errorf("errors.Is(%v, %v) = false", tt.e, tt.want)
		}
		if errors.Is(&Error{Status: 503, Code: "store_unavailable"}, tt.want) {
			t.Errorf("a 503 matches %v", tt.want)
		}
	}
}

// A step the client does not know (a newer server) is an error, so the webmail denies; an unreachable server too.
func TestStatusFailsClosed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer vk_x" || r.URL.EscapedPath() != "/v1/mailbox-2fa/alice@example.org" {
			http.Error(w, `{"error":{"code":"bad","message":"unexpected request"}}`, 400)
			return
		}
		w.Write([]byte(`{"user":"alice@example.org","next":"later"}`))
	}))
	defer srv.Close()
	c, err := New(srv.URL, "vk_x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(context.Background(), "alice@example.org", ""); err == nil {
		t.Errorf("Status with next=later = %+v; want an error", st)
	}
	srv.Close()
	if st, err := c.Status(context.Background(), "alice@example.org", ""); err == nil {
		t.Errorf("Status of a closed server = %+v; want an error", st)
	}
}
