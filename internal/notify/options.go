package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Options configures the notifier. Zero values take the defaults.
type Options struct {
	Webhooks     []Endpoint
	Alertmanager *AlertmanagerOptions // nil: off
	Email        *EmailOptions        // nil: off

	Timeout     time.Duration // one delivery attempt; default 10s
	MaxDeliver  int           // attempts before an event is dead-lettered; default 10
	BackoffBase time.Duration // delay after the first failure, doubled after each further one; default 5s
	BackoffMax  time.Duration // longest delay between attempts; default 10m
	Replicas    int           // replicas of the notifier's KV buckets; default 1
	Now         func() time.Time
}

// Endpoint is one webhook receiver.
type Endpoint struct {
	Name   string // [a-z0-9_-]{1,32}: names its consumers, metrics and dead-letter subject
	URL    string // http or https
	Secret []byte // the HMAC key, at least 16 bytes
}

// Defaults of Options.
const (
	DefaultTimeout     = 10 * time.Second
	DefaultMaxDeliver  = 10
	DefaultBackoffBase = 5 * time.Second
	DefaultBackoffMax  = 10 * time.Minute
	MinSecret          = 16
)

var nameRE = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

func (o *Options) setDefaults() {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if o.BackoffBase <= 0 {
		o.BackoffBase = DefaultBackoffBase
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = DefaultBackoffMax
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Enabled tells whether any sink is configured.
func (o *Options) Enabled() bool {
	return len(o.Webhooks) > 0 || o.Alertmanager != nil || o.Email != nil
}

// Validate reports every problem at once.
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	seen := map[string]bool{}
	for _, e := range o.Webhooks {
		if !nameRE.MatchString(e.Name) {
			errs = append(errs, fmt.Errorf("webhook name %.40q: 1-32 of a-z, 0-9, _ and -", e.Name))
		}
		if seen[e.Name] {
			errs = append(errs, fmt.Errorf("webhook name %q: used twice", e.Name))
		}
		seen[e.Name] = true
		if err := checkURL(e.URL); err != nil {
			errs = append(errs, fmt.Errorf("webhook %s: %w", e.Name, err))
		}
		if len(e.Secret) < MinSecret {
			errs = append(errs, fmt.Errorf("webhook %s: secret shorter than %d bytes", e.Name, MinSecret))
		}
	}
	if o.Alertmanager != nil {
		errs = append(errs, o.Alertmanager.validate())
	}
	if o.Email != nil {
		errs = append(errs, o.Email.validate())
	}
	if o.Timeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("notify timeout %s: at most 5m", o.Timeout))
	}
	if o.MaxDeliver > 1000 {
		errs = append(errs, fmt.Errorf("notify max deliveries %d: at most 1000", o.MaxDeliver))
	}
	if o.BackoffMax < o.BackoffBase {
		errs = append(errs, fmt.Errorf("notify backoff maximum %s is below its base %s", o.BackoffMax, o.BackoffBase))
	}
	return errors.Join(errs...)
}

// checkURL accepts an absolute http or https URL. Its text is never logged (it may carry a token).
func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("URL: want an absolute http:// or https:// URL")
	}
	return nil
}

// backoff is the delay after the n-th failed attempt (1-based): base, 2·base, 4·base, … up to the maximum.
func (o *Options) backoff(n int) time.Duration {
	d := o.BackoffBase
	for i := 1; i < n && d < o.BackoffMax; i++ {
		d *= 2
	}
	return min(d, o.BackoffMax)
}
