package quarantine

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckQueueID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		ok   bool
		want string // part of the error
	}{
		{"E3F44D031A", true, ""},
		{"4BC1F2A3", true, ""},
		{"ABCDEF", true, ""},
		{"0123456789ABCDEF01234", true, ""}, // 21: 5 microsecond digits and a 64-bit inode
		{"3Pt2mN2VXxznjll", true, ""},       // postconf(5)'s example of a long id
		{"4ZtSmc3TJSzQxxh", true, ""},
		{"3Pt2mN2Vzxznjll", true, ""}, // 'z' inside the time part: the last 'z' separates
		{"", false, "empty"},
		{strings.Repeat("A", 26), false, "at most 25"},
		{"ABCDE", false, "neither"},                       // short ids have at least 6 hex digits
		{"e3f44d031a", false, "neither"},                  // short ids are upper case
		{"-d ALL", false, "neither"},                      // an option for postsuper
		{"ALL", false, "neither"},                         // postsuper's every-message word
		{"../../etc/passwd", false, "neither"},            // a path
		{"E3F44D031A hold", false, "neither"},             // a second argument
		{"E3F44D031A\n", false, "neither"},                // a line break
		{"3Pt2mN2VXxzn;ll", false, "base-51"},             // shell syntax in the inode
		{"3Pt2mN2VAxznjll", false, "base-52"},             // a vowel in the time part
		{"3Pt2mN2Xznjll", false, "10-12 time"},            // time part too short
		{"3Pt2mN2VXxz", false, "1-12 inode"},              // no inode
		{"3Pt2mN2VXxz1234567890123", false, "1-12 inode"}, // 24 bytes is fine, 13 inode characters are not
		{"3Pt2mN2VXxznjllé", false, "base-51"},
	} {
		err := CheckQueueID(tt.id)
		if (err == nil) != tt.ok || err != nil && (!errors.Is(err, ErrQueueID) || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("CheckQueueID(%q) = %v; want ok %v, error containing %q", tt.id, err, tt.ok, tt.want)
		}
	}
}

// FuzzCheckQueueID: an accepted id is short and made only of Postfix's queue-id alphabets, so it can never be an
// option, a path, a second argument or shell syntax on postsuper's command line.
func FuzzCheckQueueID(f *testing.F) {
	for _, s := range []string{"E3F44D031A", "3Pt2mN2VXxznjll", "-d", "ALL", "a b", "../x", "3Pt2mN2VXxz", strings.Repeat("z", 30)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := CheckQueueID(id)
		if err != nil {
			if !errors.Is(err, ErrQueueID) {
				t.Fatalf("CheckQueueID(%q) = %v; want an ErrQueueID", id, err)
			}
			return
		}
		if len(id) < 6 || len(id) > MaxQueueIDLen {
			t.Fatalf("CheckQueueID(%q) accepted %d bytes", id, len(id))
		}
		for i := 0; i < len(id); i++ {
			if !strings.ContainsRune(base52+"AEF", rune(id[i])) { // the long ids' alphabet and hex
				t.Fatalf("CheckQueueID(%q) accepted byte %q", id, id[i])
			}
		}
	})
}

func TestFindInQueue(t *testing.T) {
	out := `{"queue_name": "active", "queue_id": "E3F44D031AB", "arrival_time": 1, "message_size": 300, "sender": "E3F44D031A@x", "recipients": []}
{"queue_name": "hold", "queue_id": "E3F44D031A", "arrival_time": 1, "message_size": 300, "sender": "bob@example.org", "recipients": [{"address": "a@b"}]}
`
	for _, tt := range []struct{ id, want string }{{"E3F44D031A", "hold"}, {"E3F44D031AB", "active"}, {"ABCDEF", ""}} {
		if got, err := findInQueue(strings.NewReader(out), tt.id); err != nil || got != tt.want {
			t.Errorf("findInQueue(%s) = %q, %v; want %q", tt.id, got, err, tt.want)
		}
	}
	if _, err := findInQueue(strings.NewReader("E3F44D031A not json\n"), "E3F44D031A"); err == nil {
		t.Error("findInQueue of an unreadable line naming the id = nil error; want one")
	}
}

// FuzzFindInQueue: postqueue -j's output is read without panics, and a queue is only ever reported for a line
// naming exactly the id.
func FuzzFindInQueue(f *testing.F) {
	f.Add(`{"queue_name": "hold", "queue_id": "E3F44D031A"}`+"\n", "E3F44D031A")
	f.Add(`{"queue_name": "hold", "queue_id": "E3F44D031AB"}`+"\n", "E3F44D031A")
	f.Fuzz(func(t *testing.T, out, id string) {
		q, err := findInQueue(strings.NewReader(out), id)
		if err == nil && q != "" && !strings.Contains(out, id) {
			t.Fatalf("findInQueue(%q, %q) = %q for an output without the id", out, id, q)
		}
	})
}

// TestHostTokensDistinct: every valid host name is its own subject token, so two mail hosts never share commands.
func TestHostTokensDistinct(t *testing.T) {
	hosts := []string{"mx1.example.net", "mx1_example_net", "mx1_example.net", "mx1._example", "mx1_.example", "mx1__dexample"}
	seen := map[string]string{}
	for _, h := range hosts {
		if err := CheckHost(h); err != nil {
			t.Fatalf("CheckHost(%q) = %v", h, err)
		}
		tok := token(h)
		if strings.ContainsAny(tok, ". *>") {
			t.Errorf("token(%q) = %q: not one subject token", h, tok)
		}
		if other, ok := seen[tok]; ok {
			t.Errorf("token(%q) = token(%q) = %q", h, other, tok)
		}
		seen[tok] = h
	}
}
