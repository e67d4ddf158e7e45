package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"
	"time"
)

// IMAPSession is a logged-in IMAP connection kept open, like a mail client idling on a mailbox.
type IMAPSession struct {
	c   net.Conn
	tp  *textproto.Conn
	tag int
}

// OpenIMAPSession logs in as IMAPLogin does (ID with the forwarded address, then LOGIN) and keeps the session.
func OpenIMAPSession(addr, forwardedIP, user, password string) (*IMAPSession, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	s := &IMAPSession{c: c, tp: textproto.NewConn(c)}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.tp.ReadLine(); err != nil {
		c.Close()
		return nil, fmt.Errorf("greeting: %w", err)
	}
	for _, line := range []string{fmt.Sprintf(`ID ("x-originating-ip" "%s")`, forwardedIP), fmt.Sprintf(`LOGIN "%s" "%s"`, user, password), "SELECT INBOX"} {
		if r, err := s.Command(line); err != nil || !strings.HasPrefix(r, "OK") {
			c.Close()
			return nil, fmt.Errorf("%s: %q %v", strings.Fields(line)[0], r, err)
		}
	}
	c.SetDeadline(time.Time{})
	return s, nil
}

// Command sends one command and returns its tagged answer (without the tag).
func (s *IMAPSession) Command(line string) (string, error) {
	s.tag++
	tag := fmt.Sprintf("s%d", s.tag)
	if err := s.tp.PrintfLine("%s %s", tag, line); err != nil {
		return "", err
	}
	for {
		l, err := s.tp.ReadLine()
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(l, tag+" ") {
			return strings.TrimPrefix(l, tag+" "), nil
		}
	}
}

// WaitClosed reads until the server closes the session (nil), or fails after d with the session still open.
func (s *IMAPSession) WaitClosed(d time.Duration) error {
	s.c.SetReadDeadline(time.Now().Add(d))
	for {
		if _, err := s.tp.ReadLine(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return fmt.Errorf("session still open after %s", d)
			}
			return nil
		}
	}
}

// Close ends the session from the client side.
func (s *IMAPSession) Close() error { return s.c.Close() }
