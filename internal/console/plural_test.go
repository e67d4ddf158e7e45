package console

import "testing"

func TestPlural(t *testing.T) {
	for _, tt := range []struct {
		n    any
		want string
	}{
		{0, "0 incidents"}, {1, "1 incident"}, {2, "2 incidents"}, {uint32(1), "1 incident"}, {uint64(41), "41 incidents"}, {int64(1), "1 incident"},
	} {
		if got := plural(tt.n, "incident", "incidents"); got != tt.want {
			t.Errorf("plural(%v) = %q; want %q", tt.n, got, tt.want)
		}
	}
}
