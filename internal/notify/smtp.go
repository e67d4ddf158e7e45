package notify

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"
)

// StartTLS modes of EmailOptions.
const (
	StartTLSAuto   = "auto"   // use STARTTLS when the relay offers it
	StartTLSAlways = "always" // refuse to send without it
	StartTLSNever  = "never"
)

// mailer sends plain-text mails through one relay.
type mailer struct {
	addr, from, user, password, starttls string
	tlsConfig                            *tls.Config
	now                                  func() time.Time
}

// validAddress accepts a bare mail address without anything that could break a header.
func validAddress(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, "\r\n<>,;\" ") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

// headerText removes what could break a header line or start a new one.
func headerText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

// send delivers one message to every recipient.
func (m *mailer) send(ctx context.Context, to []string, subject, body string) error {
	for _, a := range append([]string{m.from}, to...) {
		if !validAddress(a) {
			return poison("mail address %.80q is not a bare address", a)
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", m.addr)
	if err != nil {
		return fmt.Errorf("smtp relay: %w", err)
	}
	defer conn.Close()
	deadline := time.Now().Add(30 * time.Second)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn.SetDeadline(deadline)
	host, _, _ := net.SplitHostPort(m.addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp relay: %w", err)
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok && m.starttls != StartTLSNever {
		cfg := m.tlsConfig
		if cfg == nil {
			cfg = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("smtp starttls: %w", err)
		}
	} else if m.starttls == StartTLSAlways {
		return errors.New("smtp relay offers no STARTTLS")
	}
	if m.user != "" { // net/smtp refuses PLAIN without TLS unless the relay is on localhost
		if err := c.Auth(smtp.PlainAuth("", m.user, m.password, host)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(m.from); err != nil {
		return fmt.Errorf("smtp mail from: %w", err)
	}
	for _, a := range to {
		if err := c.Rcpt(a); err != nil {
			return fmt.Errorf("smtp rcpt to: %w", err)
		}
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	msg := "From: " + m.from + "\r\nTo: " + strings.Join(to, ", ") + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", headerText(subject)) +
		"\r\nDate: " + m.now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\nAuto-Submitted: auto-generated\r\n\r\n" + strings.ReplaceAll(body, "\n", "\r\n")
	if _, err := wc.Write([]byte(msg)); err != nil { // the DATA writer dot-stuffs
		return fmt.Errorf("smtp data: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("smtp data: %w", err)
	}
	return c.Quit()
}
