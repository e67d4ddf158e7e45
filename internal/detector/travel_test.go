package detector_test

import (
	"context"
	"encoding/json"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-ids/vigil/internal/detector"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/testenv"
	"github.com/vigil-ids/vigil/internal/window"
)

// cityDB is a geo.DB with City data, seen by the engine as a Locator (the app wires the same adapter).
type cityDB struct{ *geo.DB }

func (c cityDB) Locate(ip netip.Addr) (window.Place, bool) {
	l, ok := c.DB.Locate(ip)
	return window.Place(l), ok
}

// TestImpossibleTravelStoredAndPublished: with City data, London then Sydney an hour later is one
// impossible_travel incident in ClickHouse, with both logins in its detail, and on vigil.incidents.impossible_travel.
func TestImpossibleTravelStoredAndPublished(t *testing.T) {
	e := setup(t)
	path := filepath.Join(t.TempDir(), "city.mmdb")
	if err := testenv.WriteTestCityDB(path, testenv.CityGeoIP2, map[string]testenv.CityNet{
		"81.2.64.0/18": {Country: "GB", City: "London", Lat: 51.5, Lon: -0.1, RadiusKm: 20},
		"1.1.1.0/24":   {Country: "AU", City: "Sydney", Lat: -33.875, Lon: 151.2, RadiusKm: 50},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.geo.OpenCity(path); err != nil {
		t.Fatal(err)
	}
	published, err := e.js.Conn().SubscribeSync(natsbus.IncidentSubjectPrefix + string(incident.ImpossibleTravel))
	if err != nil {
		t.Fatal(err)
	}
	e.launch(e.store, cityDB{e.geo}, detector.Options{
		Partitions: 4, BatchSize: 500, FlushInterval: 50 * time.Millisecond, Rules: rule.Config{Global: rule.Defaults},
	})

	e.publish(login("dave@example.org", ipGB, 0, true), login("dave@example.org", ipAU, time.Hour, true))
	e.waitCount(1, "SELECT count() FROM incidents FINAL WHERE rule = 'impossible_travel'")
	var detail string
	if err := e.store.Conn().QueryRow(context.Background(), "SELECT detail FROM incidents FINAL WHERE rule = 'impossible_travel'").Scan(&detail); err != nil {
		t.Fatal(err)
	}
	var tr incident.Travel
	if err := json.Unmarshal([]byte(detail), &tr); err != nil {
		t.Fatalf("detail %s: %v", detail, err)
	}
	if tr.From.City != "London" || tr.To.City != "Sydney" || tr.From.IP != ipGB.String() || tr.To.IP != ipAU.String() || tr.Seconds != 3600 || tr.LeastKm != tr.DistanceKm-70 || tr.SpeedKmh != tr.LeastKm {
		t.Errorf("detail = %+v; want London → Sydney in 3600 s, radii 20 + 50 km off the distance", tr)
	}
	msg, err := published.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("nothing on %s%s: %v", natsbus.IncidentSubjectPrefix, incident.ImpossibleTravel, err)
	}
	var inc incident.Incident
	if err := json.Unmarshal(msg.Data, &inc); err != nil || inc.User != "dave@example.org" || inc.Travel == nil || inc.Travel.To.City != "Sydney" {
		t.Errorf("published %s: %+v, %v; want dave's incident with its travel evidence", msg.Data, inc, err)
	}
}
