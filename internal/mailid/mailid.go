// Package mailid derives the event ids that the mail-server policy endpoints and the log reader share, so that a
// login or a message seen by both paths (or read twice) is stored once.
//
// The rules:
//
//   - a successful Dovecot login: "dovecot:<session>:ok";
//   - the n-th failed authentication of a Dovecot session: "dovecot:<session>:fail:<n>" (n from 1). The policy
//     endpoint counts the failed reports of each session; the log reader expands "(auth failed, N attempts ...)"
//     into attempts 1..N (at most MaxAttempts);
//   - a message Postfix accepted: "postfix:<queue id>", or "postfix:<instance>" when no queue id is known.
//
// A session or queue id that is long or holds unexpected characters is replaced by a hash of itself, so every id
// stays a valid event id. Events without such a key (SMTP AUTH through Dovecot SASL has no session) keep the
// content-derived id of package event.
package mailid

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
)

// MaxAttempts bounds the failed attempts one Dovecot log line expands to.
const MaxAttempts = 1000

// maxKey is the longest session or queue id used verbatim.
const maxKey = 64

// Login returns the id of a Dovecot login outcome: attempt is ignored for a success and counts from 1 for a
// failure. An empty session has no shared id ("").
func Login(session string, success bool, attempt int) string {
	if session == "" {
		return ""
	}
	if success {
		return "dovecot:" + key(session) + ":ok"
	}
	return "dovecot:" + key(session) + ":fail:" + strconv.Itoa(max(attempt, 1))
}

// Message returns the id of a message accepted by Postfix, from its queue id or else its policy instance; "" when
// neither is known.
func Message(queueID, instance string) string {
	switch {
	case queueID != "":
		return "postfix:" + key(queueID)
	case instance != "":
		return "postfix:" + key(instance)
	}
	return ""
}

// key returns s when it is short and made of the characters session, queue and instance ids use (base64, hex,
// dots), else "h" and a hash of s.
func key(s string) string {
	if len(s) <= maxKey && plain(s) {
		return s
	}
	sum := sha256.Sum256([]byte(s))
	return "h" + hex.EncodeToString(sum[:12])
}

func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
