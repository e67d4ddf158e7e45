package config

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNotifyConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "siem"), []byte("  a secret of at least 16 bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "short"), []byte("short"), 0o600)
	load := func(env map[string]string) (*Config, error) {
		return Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
	}
	c, err := load(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if o, err := c.Notify(); err != nil || o.Enabled() {
		t.Errorf("defaults: Notify() enabled %v, %v; want off", o.Enabled(), err)
	}
	c, err = load(map[string]string{"VIGIL_NOTIFY_WEBHOOKS": "siem=https://siem.example/hook?token=x", "VIGIL_NOTIFY_WEBHOOK_SECRETS": dir,
		"VIGIL_ALERTMANAGER_URL": "http://127.0.0.1:9093", "VIGIL_CONSOLE_URL": "https://vigil.example.org",
		"VIGIL_NOTIFY_SMTP": "127.0.0.1:25", "VIGIL_NOTIFY_MAIL_FROM": "vigil@example.org", "VIGIL_NOTIFY_MAIL_TO": "ops@example.org,sec@example.org",
		"VIGIL_NOTIFY_MAIL_OWNER": "on", "VIGIL_NOTIFY_MAIL_DIGEST": "5m"})
	if err != nil {
		t.Fatalf("valid notification settings: %v", err)
	}
	o, err := c.Notify()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Webhooks) != 1 || string(o.Webhooks[0].Secret) != "a secret of at least 16 bytes" || o.Webhooks[0].URL != "https://siem.example/hook?token=x" {
		t.Errorf("webhooks = %+v; want siem with the trimmed secret", o.Webhooks)
	}
	if o.Alertmanager == nil || o.Alertmanager.ConsoleURL != "https://vigil.example.org" || o.Email == nil || !o.Email.Owner ||
		len(o.Email.To) != 2 || o.Email.Digest != 5*time.Minute {
		t.Errorf("Notify() = %+v; want Alertmanager with console links and e-mail to 2 with owner mails every 5m", o)
	}
	_, err = load(map[string]string{"VIGIL_NOTIFY_WEBHOOKS": "siem=ftp://x,short=https://a.example,missing=https://b.example,noequals",
		"VIGIL_NOTIFY_WEBHOOK_SECRETS": dir, "VIGIL_NOTIFY_SMTP": "nohost", "VIGIL_NOTIFY_MAIL_FROM": "a b", "VIGIL_NOTIFY_MAIL_OWNER": "yes"})
	for _, want := range []string{"webhook siem: URL", "webhook short: secret shorter", "webhook missing", "noequals", "VIGIL_NOTIFY_MAIL_OWNER"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(bad notification settings) = %v; want it to name %q", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "a secret of at least") {
		t.Errorf("an error shows a secret: %v", err)
	}
}
