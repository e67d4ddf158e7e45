package mailbox2fa

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/smtp"
	"time"
)

// SMTP sends mail through a relay without authentication (a local Postfix).
type SMTP struct {
	Addr, From string
}

// Send delivers one plain-text message to to.
func (m *SMTP) Send(ctx context.Context, to, subject, body string) error {
	if !validAddress(to) || !validAddress(m.From) {
		return fmt.Errorf("send mail: invalid address")
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", m.Addr)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	host, _, _ := net.SplitHostPort(m.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	defer c.Close()
	if err := c.Mail(m.From); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	if err := c.Rcpt(to); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	wc, err := c.Data()
	if err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	msg := "From: " + m.From + "\r\nTo: " + to + "\r\nSubject: " + mime.QEncoding.Encode("utf-8", subject) +
		"\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n" +
		"Auto-Submitted: auto-generated\r\n\r\n" + body // the DATA writer dot-stuffs
	if _, err := wc.Write([]byte(msg)); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return c.Quit()
}
