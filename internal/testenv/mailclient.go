package testenv

import (
	"encoding/base64"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// IMAPLogin logs in to an IMAP server as a real client would, first announcing a forwarded client address with the
// ID command (honoured for login_trusted_networks). It returns nil only for a successful login.
func IMAPLogin(addr, forwardedIP, user, password string) error {
	return IMAPLoginAttempts(addr, forwardedIP, user, password)
}

// IMAPLoginAttempts is IMAPLogin trying each password in turn on one connection (one Dovecot session) until one
// is accepted. It returns nil when one was.
func IMAPLoginAttempts(addr, forwardedIP, user string, passwords ...string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	tp := textproto.NewConn(c)
	if _, err := tp.ReadLine(); err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	cmd := func(tag, line string) (string, error) {
		if err := tp.PrintfLine("%s %s", tag, line); err != nil {
			return "", err
		}
		for {
			l, err := tp.ReadLine()
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(l, tag+" ") {
				return strings.TrimPrefix(l, tag+" "), nil
			}
		}
	}
	if r, err := cmd("a0", fmt.Sprintf(`ID ("x-originating-ip" "%s")`, forwardedIP)); err != nil || !strings.HasPrefix(r, "OK") {
		return fmt.Errorf("ID: %q %v", r, err)
	}
	var last string
	for i, pw := range passwords {
		r, err := cmd(fmt.Sprintf("a%d", i+1), fmt.Sprintf(`LOGIN "%s" "%s"`, user, pw))
		if err != nil {
			return err
		}
		if strings.HasPrefix(r, "OK") {
			cmd("z", "LOGOUT")
			return nil
		}
		last = r
	}
	cmd("z", "LOGOUT")
	return fmt.Errorf("LOGIN: %s", last)
}

// Submit sends one message through an SMTP submission server: XCLIENT to set the client address, AUTH PLAIN, then
// the envelope (from user, or user@example.org when user has no domain) and a small body. It returns the queue id
// Postfix reports.
func Submit(addr, forwardedIP, user, password string, rcpts []string) (string, error) {
	from := user
	if !strings.Contains(user, "@") {
		from += "@example.org"
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	expect := func(code int, format string, args ...any) (string, error) {
		if format != "" {
			if err := tp.PrintfLine(format, args...); err != nil {
				return "", err
			}
		}
		_, msg, err := tp.ReadResponse(code)
		if err != nil {
			return msg, fmt.Errorf("%s: %w", strings.SplitN(fmt.Sprintf(format, args...), " ", 2)[0], err)
		}
		return msg, nil
	}
	steps := []struct {
		code   int
		format string
		args   []any
	}{
		{220, "", nil},
		{250, "EHLO client.test", nil},
		{220, "XCLIENT ADDR=%s", []any{forwardedIP}},
		{250, "EHLO client.test", nil},
		{235, "AUTH PLAIN %s", []any{base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + password))}},
		{250, "MAIL FROM:<%s>", []any{from}},
	}
	for _, s := range steps {
		if _, err := expect(s.code, s.format, s.args...); err != nil {
			return "", err
		}
	}
	for _, r := range rcpts {
		if _, err := expect(250, "RCPT TO:<%s>", r); err != nil {
			return "", err
		}
	}
	if _, err := expect(354, "DATA"); err != nil {
		return "", err
	}
	msg, err := expect(250, "Subject: test\r\n\r\nhello\r\n.")
	if err != nil {
		return "", err
	}
	expect(221, "QUIT")
	// "2.0.0 Ok: queued as E3F44D031A"
	if i := strings.LastIndex(msg, " as "); i >= 0 {
		return strings.TrimSpace(msg[i+4:]), nil
	}
	return "", fmt.Errorf("no queue id in %q", msg)
}
