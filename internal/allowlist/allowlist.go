// Package allowlist decides which client addresses may reach the admin panel, and refuses changes that would lock
// out the admin making them.
package allowlist

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-ids/vigil/internal/netset"
)

// Errors of the package.
var (
	ErrEmpty      = errors.New("the allow list is empty: add your own address before restricting access")
	ErrLockout    = errors.New("refused: the change would lock out your own address")
	ErrNotFound   = errors.New("no such allow-list entry")
	ErrDuplicate  = errors.New("the allow list already has this prefix")
	ErrBadEntry   = errors.New("bad allow-list entry")
	ErrUnreadable = errors.New("allow list unavailable")
)

// Entry is an address or range with a description.
type Entry struct {
	ID          string       `json:"id"`
	Prefix      netip.Prefix `json:"prefix"`
	Description string       `json:"description"`
	CreatedAt   time.Time    `json:"created_at"`
	CreatedBy   string       `json:"created_by"`
}

// List is the admin access list and its mode.
type List struct {
	Restricted bool    `json:"restricted"`
	Entries    []Entry `json:"entries"`
}

// ParseEntry parses and canonicalises an address or CIDR range, with a mandatory description.
func ParseEntry(prefix, description string) (netip.Prefix, string, error) {
	p, err := netset.ParsePrefix(strings.TrimSpace(prefix))
	if err != nil {
		return p, "", fmt.Errorf("%w: %w", ErrBadEntry, err)
	}
	d := strings.TrimSpace(description)
	if d == "" || len(d) > 200 || strings.ContainsFunc(d, unicode.IsControl) {
		return p, "", fmt.Errorf("%w: a description of 1-200 printable characters is required", ErrBadEntry)
	}
	return p, d, nil
}

// Allows reports whether ip may reach the admin panel: always when unrestricted, otherwise when an entry covers it.
// IPv4-mapped IPv6 addresses match IPv4 entries.
func (l *List) Allows(ip netip.Addr) bool {
	if !l.Restricted {
		return true
	}
	return covered(l.Entries, ip)
}

func covered(es []Entry, ip netip.Addr) bool {
	ip = ip.Unmap()
	for _, e := range es {
		if e.Prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// SetRestricted switches restriction on or off; switching on is refused when the list is empty or does not cover
// the caller.
func (l *List) SetRestricted(on bool, caller netip.Addr) error {
	if on {
		if len(l.Entries) == 0 {
			return ErrEmpty
		}
		if !covered(l.Entries, caller) {
			return fmt.Errorf("%w: %s is not in the list", ErrLockout, caller.Unmap())
		}
	}
	l.Restricted = on
	return nil
}

// Add appends an entry; the list keeps its mode.
func (l *List) Add(e Entry) error {
	if slices.ContainsFunc(l.Entries, func(x Entry) bool { return x.Prefix == e.Prefix }) {
		return fmt.Errorf("%w: %s", ErrDuplicate, e.Prefix)
	}
	l.Entries = append(l.Entries, e)
	return nil
}

// Update changes an entry's prefix and description, refusing a change that would uncover the caller while
// restricted.
func (l *List) Update(id string, p netip.Prefix, description string, caller netip.Addr) error {
	i := slices.IndexFunc(l.Entries, func(e Entry) bool { return e.ID == id })
	if i < 0 {
		return ErrNotFound
	}
	next := slices.Clone(l.Entries)
	next[i].Prefix, next[i].Description = p, description
	if l.Restricted && !covered(next, caller) {
		return ErrLockout
	}
	l.Entries = next
	return nil
}

// Remove deletes an entry, refusing to remove the caller's last covering entry while restricted (and the last
// entry of a restricted list).
func (l *List) Remove(id string, caller netip.Addr) (Entry, error) {
	i := slices.IndexFunc(l.Entries, func(e Entry) bool { return e.ID == id })
	if i < 0 {
		return Entry{}, ErrNotFound
	}
	next := slices.Delete(slices.Clone(l.Entries), i, i+1)
	if l.Restricted && (len(next) == 0 || !covered(next, caller)) {
		return Entry{}, ErrLockout
	}
	removed := l.Entries[i]
	l.Entries = next
	return removed, nil
}
