package window

import (
	"math"
	"net/netip"
	"time"
)

// Travel thresholds the window applies before keeping a hop for the rule impossible_travel.
const (
	// HopMinKm: a hop whose least distance (great-circle distance minus both accuracy radii) is at or below it is
	// never suspicious, however short the time (Datadog's anchor: logins more than 500 km apart).
	HopMinKm = 500
	// HopMinKmh: a hop slower than this is not kept; no rule threshold can be set below it.
	HopMinKmh = 100
)

// earthRadiusKm is the mean radius of the Earth (IUGG).
const earthRadiusKm = 6371.0088

// coordScale is the fixed point of the stored coordinates: 1e-5 degree, about a metre.
const coordScale = 1e5

// Place is where a City database puts an address (geo.Location converts to it). RadiusKm is the accuracy radius.
type Place struct {
	Lat, Lon float64
	RadiusKm int
	Country  string
	City     string
}

// Fix is one located login of a hop.
type Fix struct {
	Time     time.Time
	IP       netip.Addr
	Country  string
	City     string // named when the hop is kept; "" when the database has no name
	Lat, Lon float64
	RadiusKm int
}

// Hop is the move between a user's last two located logins, in time order.
type Hop struct {
	From, To Fix
	// DistanceKm is the great-circle distance between the two points, rounded down.
	DistanceKm int
	// LeastKm is DistanceKm minus both accuracy radii, at least 0: the least distance the user must have covered.
	// An imprecise location makes it smaller, never larger, so it never makes a traveller look fast.
	LeastKm int
	// Seconds between the logins.
	Seconds int64
	// SpeedKmh is LeastKm over Seconds (one second at least), rounded down: the least speed the hop implies.
	SpeedKmh int
}

// travel is the per-user state of impossible_travel: the newest located login (32 bytes) and the hop it ended,
// kept only when the hop is a candidate (longer than HopMinKm and faster than HopMinKmh), which few are.
type travel struct {
	ip       [16]byte
	t        uint32
	lat, lon int32 // coordScale fixed point
	radius   uint16
	cc       [2]byte
	hop      *Hop
}

func (tr *travel) fix() Fix {
	return Fix{
		Time: time.Unix(int64(tr.t), 0).UTC(), IP: netip.AddrFrom16(tr.ip).Unmap(), Country: string(tr.cc[:]),
		Lat: float64(tr.lat) / coordScale, Lon: float64(tr.lon) / coordScale, RadiusKm: int(tr.radius),
	}
}

// AddPlace records where a login that AddLogin counted came from; call it right after AddLogin returned true, with
// ok false when the address could not be placed. It compares the login with the user's previous located login of
// the last 24 hours and keeps the hop between them when it is a candidate (see Hop). name gives an address's city
// and is called only for a kept hop.
func (u *User) AddPlace(t time.Time, ip netip.Addr, p Place, ok bool, name func(netip.Addr) string) {
	tr := &u.travel
	tr.hop = nil // the hop, if any, belongs to the login being added
	if !ok || len(p.Country) != 2 || math.IsNaN(p.Lat) || math.IsNaN(p.Lon) {
		return
	}
	ts := t.Unix()
	cur := travel{
		ip: ip.Unmap().As16(), t: uint32(ts),
		lat: int32(math.Round(p.Lat * coordScale)), lon: int32(math.Round(p.Lon * coordScale)),
		radius: uint16(min(max(p.RadiusKm, 0), math.MaxUint16)), cc: [2]byte{p.Country[0], p.Country[1]},
	}
	prev := *tr
	if prev.t == 0 || int64(prev.t) <= ts-spanSec {
		*tr = cur // nothing located within 24 h: this login is the first of a trail
		return
	}
	from, to := prev, cur
	if ts < int64(prev.t) { // delivered out of order: the hop runs from this login to the newer one
		from, to = cur, prev
	} else {
		*tr = cur
	}
	d := Distance(float64(from.lat)/coordScale, float64(from.lon)/coordScale, float64(to.lat)/coordScale, float64(to.lon)/coordScale)
	least := max(d-float64(from.radius)-float64(to.radius), 0)
	sec := int64(to.t) - int64(from.t)
	speed := least * 3600 / float64(max(sec, 1))
	if int(least) <= HopMinKm || int(speed) <= HopMinKmh {
		return
	}
	h := &Hop{From: from.fix(), To: to.fix(), DistanceKm: int(d), LeastKm: int(least), Seconds: sec, SpeedKmh: int(speed)}
	if name != nil {
		h.From.City, h.To.City = name(h.From.IP), name(h.To.IP)
	}
	tr.hop = h
}

// Hop returns the hop ended by the newest login AddPlace saw, when it is a candidate; nil otherwise.
func (u *User) Hop() *Hop { return u.travel.hop }

// Distance is the great-circle (haversine) distance in km between two points given in degrees.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dlat, dlon := (lat2-lat1)*rad, (lon2-lon1)*rad
	s := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * earthRadiusKm * math.Asin(math.Min(1, math.Sqrt(s)))
}
