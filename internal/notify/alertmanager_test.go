package notify

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

type amAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	EndsAt      time.Time         `json:"endsAt"`
	Status      struct {
		State string `json:"state"`
	} `json:"status"`
}

// amAlerts asks Alertmanager (GET /api/v2/alerts) for the active alerts of an incident.
func amAlerts(t *testing.T, base, incidentID string) []amAlert {
	t.Helper()
	resp, err := http.Get(base + "/api/v2/alerts?filter=" + url.QueryEscape(`incident_id="`+incidentID+`"`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []amAlert
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAlertmanager runs against Debian's prometheus-alertmanager: an incident becomes an alert with its labels
// and console link, stays firing (re-sent, also by a restarted notifier), is resolved by the review, stays
// resolved when new evidence arrives, and fires again when reopened.
func TestAlertmanager(t *testing.T) {
	t.Parallel()
	am := testenv.StartAlertmanager(t)
	b := newBus(t)
	o := Options{Alertmanager: &AlertmanagerOptions{URL: am.URL, ConsoleURL: "https://vigil.example.org/", Resend: time.Second},
		Timeout: 2 * time.Second, BackoffBase: 100 * time.Millisecond}
	stop := b.start(o, nil)
	inc := sampleIncident("alice@example.org", 1)
	spray := incident.Incident{ID: incident.ID("password_spray", "203.0.113.0/24", t0), Rule: "password_spray", Domain: "", Status: "open",
		WindowStart: t0, FirstSeen: t0, LastSeen: t0.Add(time.Minute), IPs: []string{"203.0.113.0/24"}, Version: 1,
		Addr: &incident.Addr{Key: "203.0.113.0/24", Failures: 40, Targets: 25}}
	b.incident(inc)
	b.incident(spray)

	var got []amAlert
	testenv.Eventually(t, 20*time.Second, "the incident's alert in Alertmanager", func() bool {
		got = amAlerts(t, am.URL, inc.ID)
		return len(got) == 1
	})
	want := map[string]string{"alertname": AlertName, "rule": "multi_country", "domain": "example.org", "severity": "critical",
		"user": "alice@example.org", "incident_id": inc.ID}
	for k, v := range want {
		if got[0].Labels[k] != v {
			t.Errorf("label %s = %q; want %q (labels %v)", k, got[0].Labels[k], v, got[0].Labels)
		}
	}
	if got[0].Status.State != "active" || !got[0].StartsAt.Equal(inc.FirstSeen) {
		t.Errorf("alert state %q starts %s; want active from %s", got[0].Status.State, got[0].StartsAt, inc.FirstSeen)
	}
	if c := got[0].Annotations["console"]; c != "https://vigil.example.org/console/incidents/"+inc.ID {
		t.Errorf("console annotation = %q", c)
	}
	if s := got[0].Annotations["summary"]; s != "multi_country: alice@example.org" {
		t.Errorf("summary = %q", s)
	}
	var sp []amAlert
	testenv.Eventually(t, 20*time.Second, "the spray incident's alert", func() bool {
		sp = amAlerts(t, am.URL, spray.ID)
		return len(sp) == 1
	})
	if sp[0].Labels["key"] != "203.0.113.0/24" || sp[0].Labels["severity"] != "warning" || sp[0].Labels["user"] != "" {
		t.Errorf("address-keyed alert labels = %v; want key 203.0.113.0/24, severity warning, no user", sp[0].Labels)
	}

	// Kept firing: Alertmanager's endsAt moves on as the alert is re-sent, also after a restart.
	first := got[0].EndsAt
	stop()
	b.start(o, nil)
	testenv.Eventually(t, 20*time.Second, "the alert re-sent by the restarted notifier", func() bool {
		a := amAlerts(t, am.URL, inc.ID)
		return len(a) == 1 && a[0].EndsAt.After(first.Add(time.Second))
	})

	b.review(inc.ID, "resolved", "resolve", "user_travelling", time.Now().UTC())
	testenv.Eventually(t, 20*time.Second, "the alert resolved after the review", func() bool { return len(amAlerts(t, am.URL, inc.ID)) == 0 })
	b.incident(sampleIncident("alice@example.org", 2)) // new evidence does not undo the review
	testenv.WaitDrained(t, b.js, natsbus.IncidentsStream, "vigil-notify-alertmanager-")
	if a := amAlerts(t, am.URL, inc.ID); len(a) != 0 {
		t.Errorf("after new evidence on a resolved incident Alertmanager has %d active alerts; want 0", len(a))
	}
	if a := amAlerts(t, am.URL, spray.ID); len(a) != 1 {
		t.Errorf("the unreviewed spray incident has %d active alerts; want 1", len(a))
	}

	b.review(inc.ID, "open", "reopen", "", time.Now().UTC())
	testenv.Eventually(t, 20*time.Second, "the reopened incident firing again", func() bool { return len(amAlerts(t, am.URL, inc.ID)) == 1 })
}
