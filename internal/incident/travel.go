package incident

import "time"

// ImpossibleTravel names the rule that finds two logins too far apart for the time between them.
const ImpossibleTravel Rule = "impossible_travel"

// Travel is the evidence of an impossible_travel incident: the hop between two successful untrusted logins.
type Travel struct {
	From TravelLogin `json:"from"`
	To   TravelLogin `json:"to"`
	// DistanceKm is the great-circle distance between the two locations.
	DistanceKm int `json:"distance_km"`
	// LeastKm is DistanceKm minus both accuracy radii: the least distance the user must have covered.
	LeastKm int `json:"least_distance_km"`
	// Seconds between the two logins.
	Seconds int64 `json:"seconds"`
	// SpeedKmh is LeastKm over Seconds: the least speed the two logins imply.
	SpeedKmh int `json:"speed_kmh"`
}

// TravelLogin is one end of a hop: where and when a login came from.
type TravelLogin struct {
	Time     time.Time `json:"time"`
	IP       string    `json:"ip"`
	Country  string    `json:"country"`
	City     string    `json:"city,omitempty"`
	Lat      float64   `json:"lat"`
	Lon      float64   `json:"lon"`
	RadiusKm int       `json:"radius_km"` // accuracy radius of the location
}
