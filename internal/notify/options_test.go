package notify

import (
	"strings"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	o := Options{BackoffBase: time.Second, BackoffMax: 10 * time.Second}
	for n, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 60: 10 * time.Second} {
		if got := o.backoff(n); got != want {
			t.Errorf("backoff(%d) = %s; want %s", n, got, want)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	secret := []byte("0123456789abcdef")
	good := Options{Webhooks: []Endpoint{{Name: "siem", URL: "https://siem.example/hook", Secret: secret}},
		Alertmanager: &AlertmanagerOptions{URL: "http://127.0.0.1:9093"},
		Email:        &EmailOptions{Relay: "127.0.0.1:25", From: "vigil@example.org", To: []string{"ops@example.org"}}}
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	bad := Options{Webhooks: []Endpoint{{Name: "Siem!", URL: "https://a.example", Secret: secret}, {Name: "x", URL: "ftp://a", Secret: secret},
		{Name: "x", URL: "https://a.example", Secret: []byte("short")}},
		Alertmanager: &AlertmanagerOptions{URL: "127.0.0.1:9093", Resend: time.Millisecond},
		Email:        &EmailOptions{Relay: "nohost", From: "a@b\r\nBcc: x@y", To: []string{"ops"}, StartTLS: "maybe"},
		Timeout:      time.Hour, BackoffBase: time.Minute, BackoffMax: time.Second}
	err := bad.Validate()
	for _, want := range []string{`webhook name "Siem!"`, "webhook x: URL", `"x": used twice`, "secret shorter", "alertmanager URL", "resend",
		"smtp relay", "mail sender", "mail recipient", "starttls", "timeout", "backoff maximum"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate(bad) = %v; want it to name %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), string(secret)) {
		t.Errorf("Validate shows a secret: %v", err)
	}
}
