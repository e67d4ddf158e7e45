package authapi

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigil-ids/vigil/internal/allowlist"
)

// allowCache holds the allow list as last seen by a KV watch, so a check costs no round trip.
type allowCache struct {
	list atomic.Pointer[allowlist.List] // nil: not known, read the store (and fail closed on errors)
}

// Run keeps the allow-list cache current until ctx is cancelled. Without Run, every request reads the store.
func (s *Server) Run(ctx context.Context) error {
	for ctx.Err() == nil {
		s.watchAllowlist(ctx)
		s.cache.list.Store(nil)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (s *Server) watchAllowlist(ctx context.Context) {
	w, err := s.st.config.Watch(ctx, keyAllowlist)
	if err != nil {
		s.logger.Warn("watch admin allow list", "err", err)
		return
	}
	defer w.Stop()
	// Until the stored value or the end-of-initial-values marker arrives the cache stays unknown (nil), so a check
	// reads the store (failing closed on errors) instead of assuming an unrestricted list.
	initial := true
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil { // end of initial values
				if initial && s.cache.list.Load() == nil {
					s.cache.list.Store(&allowlist.List{}) // no entry stored: unrestricted
				}
				initial = false
				continue
			}
			if e.Operation() != jetstream.KeyValuePut {
				s.cache.list.Store(&allowlist.List{})
				continue
			}
			var l allowlist.List
			if err := json.Unmarshal(e.Value(), &l); err != nil {
				s.logger.Error("admin allow list unreadable; failing closed", "err", err)
				s.cache.list.Store(nil)
				return
			}
			s.cache.list.Store(&l)
		}
	}
}

// currentAllowlist returns the cached list, or reads the store.
func (s *Server) currentAllowlist(ctx context.Context) (*allowlist.List, error) {
	if l := s.cache.list.Load(); l != nil {
		return l, nil
	}
	l, _, err := s.st.allowlist(ctx)
	return l, err
}
