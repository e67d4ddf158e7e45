package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vigil-ids/vigil/internal/notify"
)

// maxSecretFile bounds a secret file Vigil reads.
const maxSecretFile = 4096

// Notify returns the notifier's options (internal/notify), reading the webhook secrets and the SMTP password from
// their files. Options.Enabled is false when no sink is configured.
func (c *Config) Notify() (notify.Options, error) {
	o := notify.Options{Timeout: c.NotifyTimeout, MaxDeliver: c.NotifyMaxDeliver, BackoffBase: c.NotifyBackoff,
		BackoffMax: c.NotifyBackoffMax, Replicas: c.StreamReplicas}
	var errs []error
	for _, w := range c.NotifyWebhooks {
		name, url, ok := strings.Cut(w, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("VIGIL_NOTIFY_WEBHOOKS: %.40q is not name=URL", w))
			continue
		}
		ep := notify.Endpoint{Name: name, URL: url}
		switch {
		case c.NotifyWebhookSecrets == "":
			errs = append(errs, errors.New("VIGIL_NOTIFY_WEBHOOK_SECRETS: required with VIGIL_NOTIFY_WEBHOOKS (a directory with one secret file per webhook)"))
		case strings.ContainsAny(name, `/\.`) || name == "":
			errs = append(errs, fmt.Errorf("VIGIL_NOTIFY_WEBHOOKS: webhook name %.40q: 1-32 of a-z, 0-9, _ and -", name))
		default:
			secret, err := readSecret(filepath.Join(c.NotifyWebhookSecrets, name))
			if err != nil {
				errs = append(errs, fmt.Errorf("VIGIL_NOTIFY_WEBHOOK_SECRETS: webhook %s: %w", name, err))
				continue
			}
			ep.Secret = secret
			o.Webhooks = append(o.Webhooks, ep) // validated below with the rest
		}
	}
	if c.AlertmanagerURL != "" {
		o.Alertmanager = &notify.AlertmanagerOptions{URL: c.AlertmanagerURL, ConsoleURL: c.ConsoleURL, Resend: c.AlertmanagerResend}
	}
	if c.NotifySMTP != "" {
		e := &notify.EmailOptions{Relay: c.NotifySMTP, From: c.NotifyMailFrom, To: c.NotifyMailTo, Username: c.NotifySMTPUser,
			StartTLS: c.NotifySMTPStartTLS, Digest: c.NotifyMailDigest, ConsoleURL: c.ConsoleURL}
		switch c.NotifyMailOwner {
		case "on":
			e.Owner = true
		case "", "off":
		default:
			errs = append(errs, fmt.Errorf("VIGIL_NOTIFY_MAIL_OWNER %.20q: want on or off", c.NotifyMailOwner))
		}
		if c.NotifySMTPPasswordFile != "" {
			pw, err := readSecret(c.NotifySMTPPasswordFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("VIGIL_NOTIFY_SMTP_PASSWORD_FILE: %w", err))
			}
			e.Password = string(pw)
		}
		o.Email = e
	}
	if o.Enabled() {
		if err := o.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("notifications: %w", err))
		}
	}
	return o, errors.Join(errs...)
}

// readSecret reads a small secret file, trimming surrounding white space. Errors never contain its content.
func readSecret(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, maxSecretFile+1)
	n, _ := f.Read(buf)
	if n > maxSecretFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxSecretFile)
	}
	s := bytes.TrimSpace(buf[:n])
	if len(s) == 0 {
		return nil, fmt.Errorf("%s: empty", path)
	}
	return s, nil
}
