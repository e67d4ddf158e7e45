package detector

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/retry"
)

// republisher copies the logins the address-keyed rules need from the user partitions to the address partitions:
// every untrusted failed login, and an untrusted successful login when it is the user's first from that address
// in the user's window (so the victim of a sprayer is seen without republishing every login). They are collected
// as they are applied, grouped per address partition into messages of up to maxPerMessage newline-separated
// events (one message per partition and batch, not one per login: a JetStream message costs far more than its
// bytes), and published, and acknowledged by JetStream, before the batch that holds their events is acknowledged:
// at least once. The Nats-Msg-Id is a hash of the message's event ids, so a publish retried after a lost
// acknowledgement is deduplicated; a copy republished after a redelivery groups differently and is deduplicated
// by the address windows instead, which count an event id once and otherwise keep distinct sets.
type republisher struct {
	js         jetstream.JetStream
	partitions int
	m          *addrMetrics

	mu      sync.Mutex
	open    map[int]*outMsg // per address partition, the message being filled
	pending []*outMsg       // full messages
}

type outMsg struct {
	subject string
	data    []byte
	n       int
	ids     uint64 // FNV-1a over the event ids
}

// maxPerMessage bounds the events in one republished message (about 200 bytes each).
const maxPerMessage = 1000

// known reports whether a login comes from an address the user logged in from successfully within the user's
// window; it must be asked before the engine processes the login.
func (d *Detector) known(ev *event.Event) bool {
	return ev.Kind == event.KindLogin && d.eng.Known(ev.User, ev.IP)
}

// add collects the address partitions' copy of an applied event, if they need one.
func (r *republisher) add(ev *event.Event, trusted, known bool) {
	slim, ok := event.ForAddr(ev, trusted, known)
	if !ok {
		return
	}
	p := event.AddrPartition(ev.IP, r.partitions)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.open == nil {
		r.open = map[int]*outMsg{}
	}
	m := r.open[p]
	if m == nil {
		m = &outMsg{subject: natsbus.AddrSubject(p), ids: 14695981039346656037}
		r.open[p] = m
	}
	data, err := event.AppendAddr(m.data, &slim)
	if err != nil {
		return // a decoded event always encodes
	}
	m.data = data
	m.n++
	for i := 0; i < len(ev.ID); i++ {
		m.ids ^= uint64(ev.ID[i])
		m.ids *= 1099511628211
	}
	m.ids ^= 0xff
	m.ids *= 1099511628211
	if m.n >= maxPerMessage {
		r.pending = append(r.pending, m)
		delete(r.open, p)
	}
}

func (m *outMsg) msg() *nats.Msg {
	nm := &nats.Msg{Subject: m.subject, Data: m.data, Header: nats.Header{}}
	nm.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("addr-%016x-%d", m.ids, m.n))
	return nm
}

// publish publishes everything collected so far and waits for JetStream's acknowledgements, retrying failures
// with backoff. It returns an error only when ctx ends first; the caller then must not acknowledge the events, so
// they are delivered and republished again.
func (r *republisher) publish(ctx context.Context) error {
	r.mu.Lock()
	var msgs []*nats.Msg
	for _, m := range r.pending {
		msgs = append(msgs, m.msg())
	}
	for _, m := range r.open {
		msgs = append(msgs, m.msg())
	}
	r.pending = nil
	clear(r.open)
	r.mu.Unlock()
	backoff := retry.Backoff{Max: maxBackoff}
	for len(msgs) > 0 {
		var failed []*nats.Msg
		var err error
		for chunk := range slices.Chunk(msgs, maxInFlight) { // bounded acks in flight: the async publisher stalls beyond its limit
			f, e := r.publishOnce(ctx, chunk)
			failed = append(failed, f...)
			if e != nil {
				err = e
			}
		}
		r.m.republished.Add(float64(len(msgs) - len(failed)))
		if len(failed) == 0 {
			return nil
		}
		r.m.republishErrors.Inc()
		if !retry.Sleep(ctx, backoff.Next()) {
			return fmt.Errorf("republish %d logins by address: %w (last error: %w)", len(failed), ctx.Err(), err)
		}
		msgs = failed
	}
	return nil
}

// maxInFlight bounds the republished messages awaiting JetStream's acknowledgement.
const maxInFlight = 1024

func (r *republisher) publishOnce(ctx context.Context, msgs []*nats.Msg) ([]*nats.Msg, error) {
	wait, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, len(msgs))
	var failed []*nats.Msg
	var last error
	for i, m := range msgs {
		f, err := r.js.PublishMsgAsync(m)
		if err != nil {
			failed, last = append(failed, m), err
			continue
		}
		futures[i] = f
	}
	for i, f := range futures {
		if f == nil {
			continue
		}
		select {
		case <-f.Ok():
		case err := <-f.Err():
			failed, last = append(failed, msgs[i]), err
		case <-wait.Done():
			failed, last = append(failed, msgs[i]), errors.New("no acknowledgement within 10s")
		}
	}
	return failed, last
}
