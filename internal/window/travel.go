package window

import (
	"encoding/binary"
	"math"
	"math/bits"
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
	IP       netip.Addr // the zero Addr when the window no longer holds it (folded, see MaxAddrs)
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

// travel is the per-user state of impossible_travel, 24 bytes: the newest located login in 16 and a pointer to the
// hop it ended, kept only when the hop is a candidate (longer than HopMinKm and faster than HopMinKmh), which few are.
// The login's address is kept as a hash: the address itself is in the window's address list, where a kept hop
// finds it.
type travel struct {
	t      uint32 // Unix seconds
	iph    uint32 // hashAddr of the address
	lat    int16  // latScale fixed point
	lon    int16  // lonScale fixed point
	radius uint16 // km
	cc     [2]byte
	hop    *Hop
}

// The fixed points of the stored coordinates fill an int16: 1/360 degree of latitude (300 m), 1/180 degree of
// longitude (600 m at the equator), far below any accuracy radius.
const (
	latScale = 360
	lonScale = 180
)

func (tr *travel) fix(ip netip.Addr) Fix {
	return Fix{
		Time: time.Unix(int64(tr.t), 0).UTC(), IP: ip, Country: string(tr.cc[:]),
		Lat: float64(tr.lat) / latScale, Lon: float64(tr.lon) / lonScale, RadiusKm: int(tr.radius),
	}
}

// hashAddr is a 32-bit hash of an address; it needs to tell apart only the few addresses of one user's country.
func hashAddr(ip netip.Addr) uint32 {
	b := ip.As16()
	x := binary.LittleEndian.Uint64(b[:8]) ^ bits.RotateLeft64(binary.LittleEndian.Uint64(b[8:]), 29)
	x *= 0x9e3779b97f4a7c15 // Fibonacci hashing: the high bits depend on every input bit
	return uint32(x >> 32)
}

// addrOf finds the address of the window with hash h; the zero Addr when the window folded it away (users with more
// than MaxAddrs addresses). Every country is searched: the window files addresses under the Country database's
// country, which may differ from the City data's.
func (u *User) addrOf(h uint32) netip.Addr {
	for _, c := range u.Countries() {
		for _, ip := range c.IPs {
			if hashAddr(ip) == h {
				return ip
			}
		}
	}
	return netip.Addr{}
}

// AddPlace records where a login that AddLogin counted came from; call it right after AddLogin returned true, with
// ok false when the address could not be placed. It compares the login with the user's previous located login of
// the last 24 hours and keeps the hop between them when it is a candidate (see Hop). name gives an address's city
// and is called only for a kept hop.
func (u *User) AddPlace(t time.Time, ip netip.Addr, p Place, ok bool, name func(netip.Addr) string) {
	tr := &u.travel
	tr.hop = nil // the hop, if any, belongs to the login being added
	if !ok || len(p.Country) != 2 || !(p.Lat >= -90 && p.Lat <= 90 && p.Lon >= -180 && p.Lon <= 180) {
		return
	}
	ts := t.Unix()
	ip = ip.Unmap()
	cur := travel{
		t: uint32(ts), iph: hashAddr(ip),
		lat: int16(math.Round(p.Lat * latScale)), lon: int16(math.Round(p.Lon * lonScale)),
		radius: uint16(min(max(p.RadiusKm, 0), math.MaxUint16)), cc: [2]byte{p.Country[0], p.Country[1]},
	}
	prev := *tr
	if prev.t == 0 || int64(prev.t) <= ts-spanSec {
		*tr = cur // nothing located within 24 h: this login is the first of a trail
		return
	}
	from, to := prev, cur
	late := ts < int64(prev.t)
	if late { // delivered out of order: the hop runs from this login to the newer one
		from, to = cur, prev
	} else {
		*tr = cur
	}
	d := Distance(float64(from.lat)/latScale, float64(from.lon)/lonScale, float64(to.lat)/latScale, float64(to.lon)/lonScale)
	least := max(d-float64(from.radius)-float64(to.radius), 0)
	sec := int64(to.t) - int64(from.t)
	speed := least * 3600 / float64(max(sec, 1))
	if int(least) <= HopMinKm || int(speed) <= HopMinKmh {
		return
	}
	other := u.addrOf(prev.iph)
	fromIP, toIP := other, ip
	if late {
		fromIP, toIP = ip, other
	}
	h := &Hop{From: from.fix(fromIP), To: to.fix(toIP), DistanceKm: int(d), LeastKm: int(least), Seconds: sec, SpeedKmh: int(speed)}
	if name != nil {
		if fromIP.IsValid() {
			h.From.City = name(fromIP)
		}
		if toIP.IsValid() {
			h.To.City = name(toIP)
		}
	}
	tr.hop = h
}

// PlaceLogin is AddPlace for a login that AddLogin counted, looking its address up with locate only when it is not
// the address of the newest located login of the last 24 hours: most logins come from the address of the previous
// one, and a hop between one address and itself is no hop. (Two addresses whose 32-bit hashes collide are taken
// for one.)
func (u *User) PlaceLogin(t time.Time, ip netip.Addr, locate func(netip.Addr) (Place, bool), name func(netip.Addr) string) {
	tr := &u.travel
	ts := t.Unix()
	if tr.t != 0 && int64(tr.t) > ts-spanSec && tr.iph == hashAddr(ip.Unmap()) {
		tr.hop = nil
		tr.t = max(tr.t, uint32(ts))
		return
	}
	p, ok := locate(ip)
	u.AddPlace(t, ip, p, ok, name)
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
