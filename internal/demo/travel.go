package demo

import (
	"fmt"
	"io"
	"net/netip"

	"github.com/vigil-ids/vigil/internal/config"
	"github.com/vigil-ids/vigil/internal/gen"
	"github.com/vigil-ids/vigil/internal/geo"
	"github.com/vigil-ids/vigil/internal/incident"
	"github.com/vigil-ids/vigil/internal/rule"
	"github.com/vigil-ids/vigil/internal/window"
)

// travelOptions gives the generator the node's City data, so the day holds impossible travellers and flyers and
// its ground truth covers impossible_travel; without City data the rule is off and the day has no such scenario.
func travelOptions(o *gen.Options, db *geo.DB, cfg *config.Config, rules rule.Config, out io.Writer) error {
	if len(cfg.GeoIPCityDB) > 0 {
		if err := db.OpenCity(cfg.GeoIPCityDB...); err != nil {
			return fmt.Errorf("VIGIL_GEOIP_CITY_DB: %w", err)
		}
	}
	if !db.HasCity() {
		fmt.Fprintln(out, "demo: no City data (VIGIL_GEOIP_CITY_DB): impossible_travel is off and the day has no travel scenarios")
		return nil
	}
	o.Locate = func(ip netip.Addr) (window.Place, bool) {
		loc, ok := db.Locate(ip)
		return window.Place(loc), ok
	}
	o.TravelKmh = rules.Global[incident.ImpossibleTravel]
	return nil
}

// printTravel explains each impossible_travel incident in one line: where from, where to, how far, how fast.
func printTravel(w io.Writer, incs []incident.Incident) {
	for _, i := range incs {
		if t := i.Travel; t != nil {
			fmt.Fprintf(w, "  %s: %s %s (%s, ±%d km) → %s %s (%s, ±%d km): %d km (%d km less both radii) in %s, %d km/h\n",
				i.User, t.From.Time.Format("15:04"), t.From.IP, place(t.From), t.From.RadiusKm, t.To.Time.Format("15:04"), t.To.IP, place(t.To), t.To.RadiusKm,
				t.DistanceKm, t.LeastKm, fmtSeconds(t.Seconds), t.SpeedKmh)
		}
	}
}

func place(l incident.TravelLogin) string {
	if l.City == "" {
		return l.Country
	}
	return l.City + ", " + l.Country
}

func fmtSeconds(s int64) string {
	return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
}
