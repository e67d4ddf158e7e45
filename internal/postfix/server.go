package postfix

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Server is the policy delegation server.
type Server struct {
	opts   Options
	logger *slog.Logger
	buf    *natsbus.Buffer
	m      *metrics
}

// New returns a Server; Serve runs it on a listener. Options are completed with their defaults; Options.Validate
// reports values New cannot use, which it replaces by the defaults.
func New(o Options, sink event.Sink, logger *slog.Logger, reg prometheus.Registerer) *Server {
	if err := o.Validate(); err != nil {
		logger.Error("postfix policy options invalid; using the defaults", "err", err)
		o = Options{}
	}
	o.setDefaults()
	s := &Server{opts: o, logger: logger, m: newMetrics(reg)}
	s.buf = natsbus.NewBuffer(sink, o.Buffer, "postfix", logger, func(n int) { s.m.dropped.WithLabelValues(reasonStore).Add(float64(n)) })
	return s
}

// Serve accepts connections on ln and publishes their events until ctx is cancelled or the listener fails; then
// it closes the listener and the connections, stores what is queued (for a few seconds at most) and returns nil,
// or the listener's error.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.buf.Run(ctx)
	}()
	context.AfterFunc(ctx, func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for c := range conns {
			c.Close()
		}
	})
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil {
				continue
			}
			stopped := ctx.Err() != nil
			cancel()
			wg.Wait()
			if stopped {
				return nil
			}
			return fmt.Errorf("postfix policy listener: %w", err)
		}
		mu.Lock()
		if ctx.Err() != nil { // stopping: the AfterFunc may already have closed the others
			mu.Unlock()
			c.Close()
			continue
		}
		conns[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.handle(ctx, c)
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
		}()
	}
}

var dunno = []byte("action=DUNNO\n\n")

// handle serves one connection until the peer closes it, it breaks the protocol, or it idles too long.
func (s *Server) handle(ctx context.Context, c net.Conn) {
	defer c.Close()
	s.m.connections.Inc()
	defer s.m.connections.Dec()
	r := bufio.NewReaderSize(c, MaxLine)
	peer := c.RemoteAddr().String()
	source := s.opts.Source
	if source == "" {
		source, _, _ = net.SplitHostPort(peer)
	}
	for {
		c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout))
		req, err := ReadRequest(r)
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				s.m.requests.WithLabelValues("malformed").Inc()
				s.logger.Warn("closing postfix policy connection", "peer", peer, "err", err)
			}
			return
		}
		s.record(req, source, peer)
		answer, held := s.verdict(req)
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(answer); err != nil {
			return
		}
		if held != nil {
			m := heldMessage(req, held, source, s.opts.Now())
			s.logger.Info("postfix message held", "user", m.User, "queue_id", m.QueueID, "decision", m.DecisionID, "incident", m.IncidentID)
			if s.opts.Held != nil {
				s.opts.Held.Held(ctx, m)
			}
		}
	}
}

// record queues the send event of a request, if it has one.
func (s *Server) record(req Request, source, peer string) {
	ev, isSend, err := req.Event(s.opts.Now(), source)
	switch {
	case !isSend:
		s.m.requests.WithLabelValues("ignored").Inc()
	case err != nil:
		s.m.requests.WithLabelValues("send").Inc()
		s.m.dropped.WithLabelValues(reasonInvalid).Inc()
		s.logger.Warn("postfix message not recorded: it does not make a valid send event", "peer", peer, "queue_id", req["queue_id"], "err", err)
	default:
		s.m.requests.WithLabelValues("send").Inc()
		if !s.buf.Offer(ev) {
			s.m.dropped.WithLabelValues(reasonBufferFull).Inc()
			s.logger.Error("postfix send event dropped: buffer full (the event store is too slow or down)", "user", ev.User, "queue_id", ev.MessageID, "buffer", s.buf.Cap())
		}
	}
}
