package detector

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Group mode. Each member keeps a lease in the KV bucket natsbus.DetectorGroupBucket (renewed every GroupTTL/3, it
// expires after GroupTTL) and reads the others' every round. Partitions are assigned by rendezvous hashing over
// the live members, so every member computes the same assignment, and a member that leaves moves only its own
// partitions. Exclusivity does not rest on the views agreeing: each partition consumer is a JetStream priority
// group with a pinned client, so the server delivers a partition to one member at a time. A member pulls the
// partitions assigned to it; its first delivery shows it is pinned, and it rebuilds the partition's windows up to
// the consumer's ack floor and restarts the consumer after it before any live work (see fetch and catchUp).
// A member giving a partition up commits what it applied, forgets the partition's users and unpins the consumer,
// so the new owner does not wait for PinnedTTL.
//
// The address partitions (addr_consume.go) follow the same assignment: the member assigned partition p fetches
// both user partition p and address partition p, each its own pinned consumer taken over and handed over the same
// way, so a stopped member's address windows move to the survivors with its user windows.

// fetcher is one partition's fetch goroutine in group mode.
type fetcher struct {
	cancel context.CancelFunc
	done   chan error
}

// partitionSet is one kind of partition a group member fetches: the user partitions of the events stream or the
// address partitions of the address stream.
type partitionSet struct {
	what     string // "user" or "address", for logs
	stream   jetstream.Stream
	out      chan<- delivery // the kind's process loop
	config   func(p int) jetstream.ConsumerConfig
	running  map[int]*fetcher
	starting func(p int) // called when this member starts fetching p; may be nil
}

// runGroup keeps this member's lease and the partitions it fetches in line with the group until ctx ends.
func (d *Detector) runGroup(ctx context.Context, sets ...*partitionSet) error {
	kv, err := d.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      natsbus.DetectorGroupBucket,
		Description: "Vigil detector group: one lease per live member",
		TTL:         d.opts.GroupTTL,
		Storage:     jetstream.MemoryStorage,
		Replicas:    sets[0].stream.CachedInfo().Config.Replicas,
	})
	if err != nil {
		return fmt.Errorf("detector: group bucket: %w", err)
	}
	for _, s := range sets {
		s.running = map[int]*fetcher{}
	}
	defer func() {
		for _, s := range sets {
			for _, f := range s.running {
				f.cancel()
			}
		}
		for _, s := range sets {
			for _, f := range s.running {
				<-f.done
			}
		}
		// Leave at once rather than after GroupTTL, and let the new owners be pinned without waiting for PinnedTTL.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := kv.Delete(sctx, d.opts.Member); err != nil {
			d.logger.Warn("leave the detector group", "err", err)
		}
		for _, s := range sets {
			for p := range s.running {
				_ = s.stream.UnpinConsumer(sctx, s.config(p).Durable, natsbus.DetectorPriorityGroup)
			}
		}
	}()
	tick := time.NewTicker(d.opts.GroupTTL / 3)
	defer tick.Stop()
	for {
		// A fetcher that stopped on an error is started again below.
		for _, s := range sets {
			for p, f := range s.running {
				select {
				case err := <-f.done:
					if err != nil {
						d.logger.Warn("partition fetch failed; starting it again", "partition", p, "kind", s.what, "err", err)
					}
					delete(s.running, p)
				default:
				}
			}
		}
		members, err := d.renew(ctx, kv)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.logger.Warn("renew group lease; keeping the current partitions", "err", err)
		default:
			d.m.members.Set(float64(len(members)))
			mine := assign(members, d.opts.Partitions)[d.opts.Member]
			d.setAssigned(mine)
			for _, s := range sets {
				d.reconcile(ctx, s, mine)
			}
			d.once.Do(func() { close(d.ready) })
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// reconcile hands over the partitions of s this member fetches but is no longer assigned and starts fetching the
// ones it is assigned but does not fetch yet.
func (d *Detector) reconcile(ctx context.Context, s *partitionSet, mine map[int]bool) {
	for p, f := range s.running {
		if !mine[p] {
			d.release(ctx, s, p, f)
			delete(s.running, p)
		}
	}
	for p := range mine {
		if s.running[p] != nil {
			continue
		}
		c, err := d.groupConsumer(ctx, s.stream, s.config(p))
		if err != nil {
			d.logger.Warn("group partition consumer; retrying next round", "partition", p, "kind", s.what, "err", err)
			continue
		}
		if s.starting != nil {
			s.starting(p)
		}
		fctx, cancel := context.WithCancel(ctx)
		f := &fetcher{cancel: cancel, done: make(chan error, 1)}
		go func() { f.done <- d.fetch(fctx, s.stream, p, c, 0, s.out) }()
		s.running[p] = f
	}
}

// renew writes this member's lease and returns the members holding one, this member included.
func (d *Detector) renew(ctx context.Context, kv jetstream.KeyValue) ([]string, error) {
	rctx, cancel := context.WithTimeout(ctx, d.opts.GroupTTL/3)
	defer cancel()
	if _, err := kv.Put(rctx, d.opts.Member, []byte(time.Now().UTC().Format(time.RFC3339Nano))); err != nil {
		return nil, fmt.Errorf("put lease: %w", err)
	}
	lister, err := kv.ListKeys(rctx)
	if err != nil {
		return nil, fmt.Errorf("list leases: %w", err)
	}
	members := []string{d.opts.Member}
	for k := range lister.Keys() {
		if k != d.opts.Member {
			members = append(members, k)
		}
	}
	_ = lister.Stop() // the listing has ended; Stop reports only that its subscription is gone
	if rctx.Err() != nil {
		return nil, fmt.Errorf("list leases: %w", rctx.Err())
	}
	return members, nil
}

// release stops fetching partition p of s, has what was applied from it committed and its windows forgotten, and
// unpins its consumer for the new owner.
func (d *Detector) release(ctx context.Context, s *partitionSet, p int, f *fetcher) {
	f.cancel()
	<-f.done
	done := make(chan bool, 1)
	select {
	case s.out <- delivery{partition: p, release: done}:
	case <-ctx.Done():
		return
	}
	var held bool
	select {
	case held = <-done:
	case <-ctx.Done():
		return
	}
	if !held {
		return // never pinned here: the pin, if any, is another member's
	}
	d.logger.Info("partition handed over", "partition", p, "kind", s.what)
	if err := s.stream.UnpinConsumer(ctx, s.config(p).Durable, natsbus.DetectorPriorityGroup); err != nil {
		d.logger.Debug("unpin released partition", "partition", p, "kind", s.what, "err", err)
	}
}

// assign spreads partitions 0..n-1 over members by rendezvous hashing: each partition goes to the member with the
// highest hash of (member, partition). It returns each member's partitions.
func assign(members []string, n int) map[string]map[int]bool {
	out := make(map[string]map[int]bool, len(members))
	for _, m := range members {
		out[m] = map[int]bool{}
	}
	for p := range n {
		best, bestH := "", uint64(0)
		for _, m := range members {
			h := fnv.New64a()
			h.Write([]byte(m))
			h.Write([]byte{0, byte(p >> 8), byte(p)})
			if v := mix(h.Sum64()); best == "" || v > bestH || v == bestH && m < best {
				best, bestH = m, v
			}
		}
		if best != "" {
			out[best][p] = true
		}
	}
	return out
}

// mix is the splitmix64 finaliser: FNV alone spreads consecutive partition numbers poorly.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Assigned returns the partitions the group assigns to this member in its current view (group mode; in static mode,
// the owned ones). A partition is Owned only once this member has been delivered its messages and rebuilt it.
func (d *Detector) Assigned() []int {
	if !d.opts.Group {
		return slices.Clone(d.opts.Owned)
	}
	d.ownedMu.Lock()
	defer d.ownedMu.Unlock()
	return slices.Clone(d.assigned)
}

func (d *Detector) setAssigned(mine map[int]bool) {
	ps := make([]int, 0, len(mine))
	for p := range mine {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	d.ownedMu.Lock()
	d.assigned = ps
	d.ownedMu.Unlock()
	d.m.assigned.Set(float64(len(ps)))
}
