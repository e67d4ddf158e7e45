package console

import "testing"

func TestSafeRanges(t *testing.T) {
	for _, tc := range []struct {
		ip          string
		n           int
		first, last string
		has         string
	}{
		{"81.2.69.142", 12, "81.2.69.142/32", "81.2.0.0/17", "81.2.69.0/24"},
		{"::ffff:8.8.8.8", 12, "8.8.8.8/32", "8.8.0.0/17", "8.8.8.0/24"},
		{"2a00:1450:4001:81c::200e", 10, "2a00:1450:4001:81c::200e/128", "2a00:1450::/32", "2a00:1450:4001:81c::/64"},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			got, err := safeRanges(tc.ip)
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, r := range got {
				found = found || r.Prefix == tc.has
			}
			if len(got) != tc.n || got[0].Prefix != tc.first || got[len(got)-1].Prefix != tc.last || !found {
				t.Errorf("safeRanges(%q) = %v; want %d choices from %s to %s with %s", tc.ip, got, tc.n, tc.first, tc.last, tc.has)
			}
		})
	}
	for _, bad := range []string{"", "1.2.3", "fe80::1%eth0", "example.org"} {
		if _, err := safeRanges(bad); err == nil {
			t.Errorf("safeRanges(%q) = nil error; want one", bad)
		}
	}
}
