package quarantine

import (
	"errors"
	"fmt"
	"strings"
)

// Postfix queue ids (postconf(5), enable_long_queue_ids):
//
//   - short ids are upper-case hexadecimal: 5 digits of microseconds followed by the queue file's inode number,
//     like E3F44D031A;
//   - long ids are the time in seconds (at least 6 characters) and microseconds (exactly 4) in a base-52 alphabet
//     of digits and consonants, the separator 'z', then the inode number in the same alphabet without 'z', like
//     3Pt2mN2VXxznjll.
const (
	base52 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"
	base51 = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy"
	// MaxQueueIDLen bounds a queue id: 5 microsecond digits and a 64-bit inode in hex is 21; a long id is at most
	// 12 time characters, 'z' and 12 inode characters.
	MaxQueueIDLen = 25
)

// ErrQueueID is the class of every queue id CheckQueueID refuses.
var ErrQueueID = errors.New("invalid queue id")

// CheckQueueID returns nil when id is a Postfix short or long queue id, and otherwise an error (wrapping
// ErrQueueID) that says what is wrong. Only a checked id reaches a postsuper command line or a subject.
func CheckQueueID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrQueueID)
	case len(id) > MaxQueueIDLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrQueueID, len(id), MaxQueueIDLen)
	}
	if isShortID(id) {
		return nil
	}
	sep := strings.LastIndexByte(id, 'z')
	if sep < 0 {
		return fmt.Errorf("%w: %q is neither a short id (upper-case hex, at least 6 digits) nor a long one (time, 'z', inode)", ErrQueueID, id)
	}
	timePart, inode := id[:sep], id[sep+1:]
	if i := strings.IndexFunc(timePart, func(r rune) bool { return !strings.ContainsRune(base52, r) }); i >= 0 {
		return fmt.Errorf("%w: %q: byte %d is outside Postfix's base-52 alphabet", ErrQueueID, id, i)
	}
	if len(timePart) < 10 || len(timePart) > 12 {
		return fmt.Errorf("%w: %q: a long id has 10-12 time characters before 'z', not %d", ErrQueueID, id, len(timePart))
	}
	if inode == "" || len(inode) > 12 {
		return fmt.Errorf("%w: %q: a long id has 1-12 inode characters after 'z', not %d", ErrQueueID, id, len(inode))
	}
	if i := strings.IndexFunc(inode, func(r rune) bool { return !strings.ContainsRune(base51, r) }); i >= 0 {
		return fmt.Errorf("%w: %q: byte %d is outside Postfix's base-51 inode alphabet", ErrQueueID, id, sep+1+i)
	}
	return nil
}

// isShortID reports whether id is 6-21 upper-case hex digits.
func isShortID(id string) bool {
	if len(id) < 6 || len(id) > 21 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}
