package chstore

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/event"
)

// TestReadmeQueries runs every SQL block of the README against a database holding a few rows, so the queries an
// admin copies work on the ClickHouse the tests run (Debian's 18.16).
func TestReadmeQueries(t *testing.T) {
	s := open(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	mk := func(id, ip, cc string, kind event.Kind) event.Enriched {
		return event.Enriched{Event: event.Event{ID: id, Kind: kind, Time: now, User: "alice@example.org", Domain: "example.org",
			IP: netip.MustParseAddr(ip), Service: "imap", Success: true, Recipients: 1}, Country: cc}
	}
	if err := s.Write(ctx, []event.Enriched{mk("1", "81.2.69.142", "GB", event.KindLogin), mk("2", "8.8.8.8", "US", event.KindLogin)},
		[]event.Enriched{mk("3", "8.8.8.8", "US", event.KindSend)}, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(b), "```sql\n")[1:]
	if len(blocks) < 3 {
		t.Fatalf("README has %d SQL blocks; want at least 3", len(blocks))
	}
	for _, blk := range blocks {
		q := strings.ReplaceAll(blk[:strings.Index(blk, "```")], "vigil.", s.Database()+".")
		rows, err := s.Conn().Query(ctx, q)
		if err != nil {
			t.Errorf("README query fails:\n%s\n%v", q, err)
			continue
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if strings.Contains(q, "HAVING uniqExact(country) > 1") && n != 1 {
			t.Errorf("multi-country query returned %d rows; want alice", n)
		}
		if strings.Contains(q, "WHERE user = 'alice@example.org'") && n != 2 {
			t.Errorf("last-logins query returned %d rows; want 2", n)
		}
	}
}
