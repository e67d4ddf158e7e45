package testenv

import (
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"
)

// IMAPFetch logs in to an IMAP server and returns the full text (RFC 822) of every message in the INBOX, oldest
// first, without marking them seen.
func IMAPFetch(addr, user, password string) ([]string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	tp := textproto.NewConn(c)
	if _, err := tp.ReadLine(); err != nil {
		return nil, fmt.Errorf("greeting: %w", err)
	}
	var msgs []string
	// cmd sends one command and reads untagged lines up to its tagged answer, collecting literals ({n} octets).
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
			if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
				n, err := strconv.Atoi(l[i+1 : len(l)-1])
				if err != nil || n < 0 || n > 10<<20 {
					return "", fmt.Errorf("bad literal in %q", l)
				}
				b := make([]byte, n)
				if _, err := io.ReadFull(tp.R, b); err != nil {
					return "", err
				}
				msgs = append(msgs, string(b))
			}
		}
	}
	if r, err := cmd("a1", fmt.Sprintf(`LOGIN "%s" "%s"`, user, password)); err != nil || !strings.HasPrefix(r, "OK") {
		return nil, fmt.Errorf("LOGIN: %q %v", r, err)
	}
	if r, err := cmd("a2", "SELECT INBOX"); err != nil || !strings.HasPrefix(r, "OK") {
		return nil, fmt.Errorf("SELECT: %q %v", r, err)
	}
	if r, err := cmd("a3", "FETCH 1:* BODY.PEEK[]"); err != nil || !strings.HasPrefix(r, "OK") {
		if strings.Contains(r, "Invalid messageset") || strings.Contains(r, "No messages") {
			return nil, nil // an empty mailbox
		}
		return nil, fmt.Errorf("FETCH: %q %v", r, err)
	}
	cmd("z", "LOGOUT")
	return msgs, nil
}
