package config

import (
	"errors"
	"fmt"

	"github.com/vigil-ids/vigil/internal/mailbox2fa"
)

// Mailbox2FA returns the options of mailbox-user 2FA, and false when it is off (VIGIL_MAILBOX_2FA_URL empty).
func (c *Config) Mailbox2FA() (mailbox2fa.Options, bool, error) {
	if c.Mailbox2FAURL == "" {
		return mailbox2fa.Options{}, false, nil
	}
	var errs []error
	issuers, err := mailbox2fa.ParseIssuers(c.Mailbox2FAIssuers)
	if err != nil {
		errs = append(errs, fmt.Errorf("VIGIL_MAILBOX_2FA_ISSUERS: %w", err))
	}
	policies, err := mailbox2fa.ParsePolicies(c.Mailbox2FAPolicies)
	if err != nil {
		errs = append(errs, fmt.Errorf("VIGIL_MAILBOX_2FA_POLICIES: %w", err))
	}
	unenrolled, err := mailbox2fa.ParseStepUps(c.Mailbox2FAUnenrolledPolicies)
	if err != nil {
		errs = append(errs, fmt.Errorf("VIGIL_MAILBOX_2FA_UNENROLLED_POLICIES: %w", err))
	}
	o := mailbox2fa.Options{PublicURL: c.Mailbox2FAURL, SMTPAddr: c.Mailbox2FASMTP, MailFrom: c.Mailbox2FAFrom,
		LinkTTL: c.Mailbox2FALinkTTL, QRTTL: c.Mailbox2FAQRTTL, CodeTTL: c.Mailbox2FACodeTTL, Issuer: c.AuthIssuer,
		Issuers: issuers, DefaultPolicy: mailbox2fa.Policy(c.Mailbox2FAPolicy), Policies: policies, Replicas: c.StreamReplicas,
		Unenrolled: mailbox2fa.StepUp(c.Mailbox2FAUnenrolled), UnenrolledBy: unenrolled}
	if err := o.Check(); err != nil {
		errs = append(errs, err)
	}
	return o, true, errors.Join(errs...)
}
