package postfix

import (
	"errors"
	"fmt"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/event"
)

// Options configures the server. The zero value is usable.
type Options struct {
	Source      string        // name of the reporting server on events; default the client's address
	Buffer      int           // events held while the event store is slow; default 10,000
	IdleTimeout time.Duration // close a connection silent for this long; default 10m (Postfix closes idle ones after max_idle, 100s)
	Now         func() time.Time
	// Decisions answers END-OF-MESSAGE of authenticated senders (hold_mail, defer_mail); nil observes only.
	Decisions *decision.Index
	// Held is told of every held message (for the quarantine); nil: held messages are only logged.
	Held HoldRecorder
}

// Defaults of Options.
const (
	DefaultBuffer      = 10000
	DefaultIdleTimeout = 10 * time.Minute
)

func (o *Options) setDefaults() {
	if o.Buffer == 0 {
		o.Buffer = DefaultBuffer
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every problem with the options (after defaults).
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if len(o.Source) > event.MaxSourceLen {
		errs = append(errs, fmt.Errorf("postfix policy: source name longer than %d bytes", event.MaxSourceLen))
	}
	if o.Buffer < 1 || o.Buffer > 10_000_000 {
		errs = append(errs, fmt.Errorf("postfix policy: buffer %d: want 1-10000000", o.Buffer))
	}
	if o.IdleTimeout < time.Second {
		errs = append(errs, fmt.Errorf("postfix policy: idle timeout %s: want at least 1s", o.IdleTimeout))
	}
	return errors.Join(errs...)
}
