// Package mailbox2fa is two-factor authentication for mailbox users (user@domain): enrollment through an e-mailed
// link, TOTP, backup and e-mailed codes verified for a webmail, a policy per domain, and step-up while the user
// has an open incident.
package mailbox2fa

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/password"
)

// Policy is a domain's 2FA policy.
type Policy string

// Policies of a domain.
const (
	PolicyRequired Policy = "required"
	PolicyOptional Policy = "optional"
	PolicyOff      Policy = "off"
)

// StepUp is what step-up does for a user with an open incident who has no second factor.
type StepUp string

// Step-up policies for unenrolled users.
const (
	StepUpEmail StepUp = "email" // a one-time code by e-mail: to the recovery address if one is on file, else the mailbox
	StepUpDeny  StepUp = "deny"  // the webmail does not open the mailbox until the incident is resolved
	StepUpAllow StepUp = "allow" // no second factor; the login is recorded on the incident as allowed
)

// Options configures the mailbox 2FA service.
type Options struct {
	PublicURL     string            // base URL of the e-mailed links, like https://vigil.example.org; required
	SMTPAddr      string            // SMTP relay host:port for enrollment mails and e-mail codes; required
	MailFrom      string            // envelope and header sender; default vigil@<host of PublicURL>
	LinkTTL       time.Duration     // enrollment link; default 24h
	QRTTL         time.Duration     // the QR page (pending secret) after the link is opened; default 10m
	CodeTTL       time.Duration     // an e-mailed code; default 10m
	CodeInterval  time.Duration     // at least this long between two e-mailed codes of a user; default 1m
	Issuer        string            // default issuer in authenticator apps; default "Vigil"
	Issuers       map[string]string // domain → issuer
	DefaultPolicy Policy            // default optional
	Policies      map[string]Policy // domain → policy
	Unenrolled    StepUp            // step-up of users without a second factor; default email
	UnenrolledBy  map[string]StepUp // domain → step-up of its users without a second factor
	UserLimit     int               // verification attempts per mailbox address per minute; default 10
	Replicas      int
	Password      password.Params // hashing of backup codes
	Now           func() time.Time
}

func (o *Options) setDefaults() {
	if o.LinkTTL == 0 {
		o.LinkTTL = 24 * time.Hour
	}
	if o.QRTTL == 0 {
		o.QRTTL = 10 * time.Minute
	}
	if o.CodeTTL == 0 {
		o.CodeTTL = 10 * time.Minute
	}
	if o.CodeInterval == 0 {
		o.CodeInterval = time.Minute
	}
	if o.Issuer == "" {
		o.Issuer = "Vigil"
	}
	if o.DefaultPolicy == "" {
		o.DefaultPolicy = PolicyOptional
	}
	if o.Unenrolled == "" {
		o.Unenrolled = StepUpEmail
	}
	if o.UserLimit == 0 {
		o.UserLimit = 10
	}
	if o.Password == (password.Params{}) {
		o.Password = password.Default
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MailFrom == "" {
		host := "localhost"
		if u, err := url.Parse(o.PublicURL); err == nil && u.Hostname() != "" && net.ParseIP(u.Hostname()) == nil {
			host = u.Hostname()
		}
		o.MailFrom = "vigil@" + host
	}
}

// Check validates a copy of the options with the defaults applied (for configuration checks at start-up).
func (o Options) Check() error {
	o.setDefaults()
	return o.Validate()
}

// Validate reports every problem of the options at once.
func (o *Options) Validate() error {
	var errs []error
	if u, err := url.Parse(o.PublicURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("mailbox 2fa public URL %q: want http(s)://host[:port]", o.PublicURL))
	}
	if o.SMTPAddr == "" {
		errs = append(errs, errors.New("mailbox 2fa SMTP relay: required (host:port)"))
	}
	if !validAddress(o.MailFrom) {
		errs = append(errs, fmt.Errorf("mailbox 2fa mail from %q: not an address", o.MailFrom))
	}
	for name, d := range map[string]time.Duration{"link TTL": o.LinkTTL, "QR page TTL": o.QRTTL, "code TTL": o.CodeTTL} {
		if d < time.Minute || d > 30*24*time.Hour {
			errs = append(errs, fmt.Errorf("mailbox 2fa %s %s: between 1m and 720h", name, d))
		}
	}
	if !validPolicy(o.DefaultPolicy) {
		errs = append(errs, fmt.Errorf("mailbox 2fa default policy %q: want required, optional or off", o.DefaultPolicy))
	}
	if !validStepUp(o.Unenrolled) {
		errs = append(errs, fmt.Errorf("mailbox 2fa step-up of unenrolled users %q: want email, deny or allow", o.Unenrolled))
	}
	if strings.Contains(o.Issuer, ":") {
		errs = append(errs, fmt.Errorf("mailbox 2fa issuer %q: no ':'", o.Issuer))
	}
	return errors.Join(errs...)
}

func validPolicy(p Policy) bool { return p == PolicyRequired || p == PolicyOptional || p == PolicyOff }

// ParsePolicies parses "example.org=required,example.net=off" (VIGIL_MAILBOX_2FA_POLICIES).
func ParsePolicies(s string) (map[string]Policy, error) {
	m := map[string]Policy{}
	err := parsePairs(s, func(domain, v string) error {
		if !validPolicy(Policy(v)) {
			return fmt.Errorf("policy %q of %s: want required, optional or off", v, domain)
		}
		m[domain] = Policy(v)
		return nil
	})
	return m, err
}

func validStepUp(p StepUp) bool { return p == StepUpEmail || p == StepUpDeny || p == StepUpAllow }

// ParseStepUps parses "example.org=deny,example.net=allow" (VIGIL_MAILBOX_2FA_UNENROLLED_POLICIES).
func ParseStepUps(s string) (map[string]StepUp, error) {
	m := map[string]StepUp{}
	err := parsePairs(s, func(domain, v string) error {
		if !validStepUp(StepUp(v)) {
			return fmt.Errorf("step-up %q of %s: want email, deny or allow", v, domain)
		}
		m[domain] = StepUp(v)
		return nil
	})
	return m, err
}

// ParseIssuers parses "example.org=Example Mail,example.net=Net Mail" (VIGIL_MAILBOX_2FA_ISSUERS).
func ParseIssuers(s string) (map[string]string, error) {
	m := map[string]string{}
	err := parsePairs(s, func(domain, v string) error {
		if v == "" || len(v) > 64 || strings.Contains(v, ":") || !printable(v) {
			return fmt.Errorf("issuer %q of %s: 1-64 printable characters without ':'", v, domain)
		}
		m[domain] = v
		return nil
	})
	return m, err
}

func parsePairs(s string, set func(domain, value string) error) error {
	if len(s) > 64<<10 {
		return errors.New("longer than 64 KiB")
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		domain, v, ok := strings.Cut(item, "=")
		domain = strings.ToLower(strings.TrimSpace(domain))
		if !ok || !validDomain(domain) {
			return fmt.Errorf("%q: want domain=value", item)
		}
		if err := set(domain, strings.TrimSpace(v)); err != nil {
			return err
		}
	}
	return nil
}

func (o *Options) policy(domain string) Policy {
	if p, ok := o.Policies[domain]; ok {
		return p
	}
	return o.DefaultPolicy
}

func (o *Options) unenrolled(domain string) StepUp {
	if p, ok := o.UnenrolledBy[domain]; ok {
		return p
	}
	return o.Unenrolled
}

func (o *Options) issuer(domain string) string {
	if i, ok := o.Issuers[domain]; ok {
		return i
	}
	return o.Issuer
}
