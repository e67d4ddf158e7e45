package event

// Enriched is an event with what the detector learnt about it: the client's country and whether it came from a
// trusted network.
type Enriched struct {
	Event
	Country string // ISO 3166-1 alpha-2, "" when unknown
	Trusted bool
}
