// Package audit writes the auth API's audit records to ClickHouse (audit_log) and NATS (vigil.audit.<action>), and
// admin logins as login events, through bounded queues.
package audit

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/authapi"
	"github.com/vigil-ids/vigil/internal/chstore"
	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Options bound the auditor's memory while ClickHouse or NATS is down.
type Options struct {
	MaxPending    int           // records (and, separately, admin login events) queued or awaiting a retry; default 10000
	FlushInterval time.Duration // default 1s
}

func (o *Options) setDefaults() {
	if o.MaxPending <= 0 {
		o.MaxPending = 10000
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
}

// Auditor implements authapi.Auditor. Audit and AdminLogin never block: when MaxPending records wait already
// (failed logins, which anyone can cause, feed the queue), new ones are dropped and counted.
type Auditor struct {
	nc      *nats.Conn
	pub     *natsbus.Publisher // nil: no admin login events
	store   *chstore.Store     // nil: NATS only
	logger  *slog.Logger
	opts    Options
	queue   chan authapi.AuditRecord
	logins  chan event.Event
	dropped *prometheus.CounterVec
	pending atomic.Int64 // rows taken from the queue and not yet written
}

// New returns an auditor; Run must run for records to be written.
func New(nc *nats.Conn, pub *natsbus.Publisher, store *chstore.Store, logger *slog.Logger, reg prometheus.Registerer, o Options) *Auditor {
	o.setDefaults()
	return &Auditor{nc: nc, pub: pub, store: store, logger: logger, opts: o,
		queue: make(chan authapi.AuditRecord, o.MaxPending), logins: make(chan event.Event, o.MaxPending),
		dropped: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{Name: "vigil_audit_dropped_total",
			Help: "Audit records and admin login events dropped because the bounded queue was full."}, []string{"kind"})}
}

// Audit publishes a record on vigil.audit.<action> and queues it for ClickHouse.
func (a *Auditor) Audit(r authapi.AuditRecord) {
	if data, err := json.Marshal(r); err == nil {
		a.nc.Publish(natsbus.AuditSubject(r.Action), data)
	}
	select {
	case a.queue <- r:
	default:
		a.dropped.WithLabelValues("record").Inc()
		a.logger.Warn("audit record dropped: queue full", "action", r.Action)
	}
}

// AdminLogin queues a login event (service admin) so the detector watches the admins too.
func (a *Auditor) AdminLogin(user string, ip netip.Addr, ok bool, at time.Time) {
	e, err := event.New(event.Event{Kind: event.KindLogin, Time: at.UTC(), User: user, IP: ip, Service: "admin", Success: ok, Source: "vigil-authapi"}, time.Now())
	if err != nil {
		return
	}
	select {
	case a.logins <- e:
	default:
		a.dropped.WithLabelValues("admin_login").Inc()
		a.logger.Warn("admin login event dropped: queue full")
	}
}

// Pending returns the number of rows taken from the queue and waiting for ClickHouse.
func (a *Auditor) Pending() int { return int(a.pending.Load()) }

// Run flushes queued records every FlushInterval until ctx ends, then once more.
func (a *Auditor) Run(ctx context.Context) error {
	tick := time.NewTicker(a.opts.FlushInterval)
	defer tick.Stop()
	var rows []chstore.AuditRow
	var logins []event.Event
	flush := func(ctx context.Context) {
		for len(rows) < a.opts.MaxPending && len(a.queue) > 0 { // what does not fit waits in the queue
			r := <-a.queue
			rows = append(rows, chstore.AuditRow{EventID: r.EventID, Time: r.Time, Action: r.Action, Actor: r.Actor, ClientIP: r.ClientIP,
				Target: r.Target, Result: r.Result, Before: r.Before, After: r.After})
		}
		for len(logins) < a.opts.MaxPending && len(a.logins) > 0 {
			logins = append(logins, <-a.logins)
		}
		if len(rows) > 0 && a.store != nil {
			if err := a.store.WriteAudit(ctx, rows); err != nil {
				a.logger.Warn("audit rows not written yet; retrying", "rows", len(rows), "err", err)
			} else {
				rows = rows[:0]
			}
		} else {
			rows = rows[:0]
		}
		a.pending.Store(int64(len(rows)))
		if len(logins) > 0 && a.pub != nil {
			if err := a.pub.Publish(ctx, logins); err != nil {
				a.logger.Warn("admin login events not stored yet; retrying", "events", len(logins), "err", err)
			} else {
				logins = logins[:0]
			}
		} else {
			logins = logins[:0]
		}
	}
	for {
		select {
		case <-tick.C:
			flush(ctx)
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(sctx)
			cancel()
			return nil
		}
	}
}

// MailboxSecondFactor queues a login event (service webmail) for a mailbox user's second-factor result, so the
// detector sees second-factor failures too.
func (a *Auditor) MailboxSecondFactor(user string, ip netip.Addr, ok bool, at time.Time) {
	e, err := event.New(event.Event{Kind: event.KindLogin, Time: at.UTC(), User: user, IP: ip, Service: "webmail", Success: ok, Source: "vigil-mailbox-2fa"}, time.Now())
	if err != nil {
		return
	}
	select {
	case a.logins <- e:
	default:
		a.dropped.WithLabelValues("mailbox_2fa").Inc()
		a.logger.Warn("mailbox 2fa event dropped: queue full")
	}
}
