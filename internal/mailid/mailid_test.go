package mailid

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

func TestIDs(t *testing.T) {
	long := strings.Repeat("x", 200)
	for _, tt := range []struct {
		name, got, want string
	}{
		{"success", Login("f9oNkvZgMr5/AAAB", true, 3), "dovecot:f9oNkvZgMr5/AAAB:ok"},
		{"first failure", Login("f9oNkvZgMr5/AAAB", false, 1), "dovecot:f9oNkvZgMr5/AAAB:fail:1"},
		{"attempt 0 is the first", Login("s", false, 0), "dovecot:s:fail:1"},
		{"third failure", Login("s", false, 3), "dovecot:s:fail:3"},
		{"no session", Login("", true, 1), ""},
		{"queue id", Message("E3F44D031A", "1a.2b.3"), "postfix:E3F44D031A"},
		{"long queue id", Message("4Xk2Pq0YqBz9vW", ""), "postfix:4Xk2Pq0YqBz9vW"},
		{"instance", Message("", "6e3c.6573f2a1.b6c0.0"), "postfix:6e3c.6573f2a1.b6c0.0"},
		{"nothing", Message("", ""), ""},
		{"long session hashed", Login(long, true, 1), "dovecot:" + key(long) + ":ok"},
		{"spaces hashed", Message("a b", ""), "postfix:" + key("a b")},
	} {
		if tt.got != tt.want {
			t.Errorf("%s: got %q; want %q", tt.name, tt.got, tt.want)
		}
	}
	if k := key(long); !strings.HasPrefix(k, "h") || len(k) != 25 {
		t.Errorf("key(200 bytes) = %q; want h and 24 hex digits", k)
	}
}

// Every id is accepted by the event schema, whatever the key.
func FuzzIDsAreValidEventIDs(f *testing.F) {
	f.Add("f9oNkvZgMr5/AAAB", 2)
	f.Add("a\x00b\nc", 1000)
	f.Fuzz(func(t *testing.T, k string, attempt int) {
		now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
		for _, id := range []string{Login(k, true, attempt), Login(k, false, attempt), Message(k, ""), Message("", k)} {
			if id == "" {
				continue
			}
			e := event.Event{ID: id, Kind: event.KindLogin, Time: now, User: "u", Success: true}
			e.IP, _ = event.ParseIP("192.0.2.1")
			if _, err := event.New(e, now); err != nil {
				t.Fatalf("id %q for key %q: %v", id, k, err)
			}
		}
	})
}
