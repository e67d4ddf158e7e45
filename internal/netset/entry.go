package netset

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Scope says whom a trusted range applies to.
type Scope string

// The scopes of trusted ranges.
const (
	ScopeGlobal Scope = "global"
	ScopeDomain Scope = "domain"
	ScopeUser   Scope = "user"
)

// MaxDescription bounds an entry's description.
const MaxDescription = 200

// Entry is one trusted range.
type Entry struct {
	ID          string       `json:"id"`
	Scope       Scope        `json:"scope"`
	Subject     string       `json:"subject,omitempty"` // domain or user, lower-case; empty for global
	Prefix      netip.Prefix `json:"prefix"`
	Description string       `json:"description"`
	CreatedAt   time.Time    `json:"created_at"`
	CreatedBy   string       `json:"created_by,omitempty"`
}

// Normalise lower-cases the subject and canonicalises the prefix, then validates the entry.
func (e *Entry) Normalise() error {
	e.Subject = strings.ToLower(strings.TrimSpace(e.Subject))
	e.Description = strings.TrimSpace(e.Description)
	if e.Prefix.IsValid() {
		p, err := ParsePrefix(e.Prefix.String())
		if err != nil {
			return err
		}
		e.Prefix = p
	}
	return e.Validate()
}

// Validate reports every problem with the entry.
func (e *Entry) Validate() error {
	var errs []error
	switch e.Scope {
	case ScopeGlobal:
		if e.Subject != "" {
			errs = append(errs, errors.New("a global range takes no subject"))
		}
	case ScopeDomain, ScopeUser:
		if e.Subject == "" {
			errs = append(errs, fmt.Errorf("a %s range needs a subject (the %s)", e.Scope, e.Scope))
		} else if len(e.Subject) > 320 || strings.ContainsFunc(e.Subject, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			errs = append(errs, fmt.Errorf("subject %.40q is not a valid %s", e.Subject, e.Scope))
		} else if e.Scope == ScopeDomain && strings.Contains(e.Subject, "@") {
			errs = append(errs, fmt.Errorf("domain %q must not contain @", e.Subject))
		}
	default:
		errs = append(errs, fmt.Errorf("scope %q: want global, domain or user", e.Scope))
	}
	if err := CheckTrusted(e.Prefix); err != nil {
		errs = append(errs, err)
	}
	switch {
	case e.Description == "":
		errs = append(errs, errors.New("a description is required (who or what is this network?)"))
	case utf8.RuneCountInString(e.Description) > MaxDescription || !utf8.ValidString(e.Description):
		errs = append(errs, fmt.Errorf("description must be valid UTF-8 of at most %d characters", MaxDescription))
	case strings.ContainsFunc(e.Description, unicode.IsControl):
		errs = append(errs, errors.New("description must not contain control characters"))
	}
	return errors.Join(errs...)
}
