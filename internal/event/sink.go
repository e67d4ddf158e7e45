package event

import "context"

// Sink stores events and returns nil only once all of them are stored; a *natsbus.Publisher is one, and the
// mail-server endpoints, the log reader and natsbus.Buffer all write to one.
type Sink interface {
	Publish(ctx context.Context, evs []Event) error
}
