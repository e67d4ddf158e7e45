package console

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLayoutEvidence(t *testing.T) {
	raw := []byte(`{"countries":[{"country":"GB","ips":["81.2.69.142"],"first":"2026-12-01T10:00:00Z","count":2},{"country":"US","ips":["8.8.8.8","8.8.8.9"],"count":1}],"speed_kmh":912.5,"users":["a","b"],"note":null}`)
	got := layoutEvidence(raw)
	want := evidence{
		Fields: [][2]string{{"note", ""}, {"speed kmh", "912.5"}, {"users", "a, b"}},
		Tables: []evTable{{Title: "countries", Cols: []string{"country", "ips", "count", "first"},
			Rows: [][]string{{"GB", "81.2.69.142", "2", "2026-12-01T10:00:00Z"}, {"US", "8.8.8.8, 8.8.8.9", "1", ""}}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("layoutEvidence mismatch (-want +got):\n%s", d)
	}
	for _, bad := range []string{"", "not json", "[1,2]", `"text"`} {
		layoutEvidence([]byte(bad)) // never panics
	}
}
