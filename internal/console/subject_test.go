package console

import "testing"

// An address-keyed incident (user empty, its key first in ips) is listed and titled by its address or network.
func TestIncidentSubject(t *testing.T) {
	for _, c := range []struct {
		row  incidentRow
		want string
	}{
		{incidentRow{User: "alice@example.org", IPs: []string{"81.2.69.142"}}, "alice@example.org"},
		{incidentRow{IPs: []string{"203.0.113.0/24", "203.0.113.9"}}, "203.0.113.0/24"},
		{incidentRow{}, ""},
	} {
		if got := c.row.Subject(); got != c.want {
			t.Errorf("Subject of %+v = %q; want %q", c.row, got, c.want)
		}
	}
}
