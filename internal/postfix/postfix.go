// Package postfix serves Postfix's SMTP access policy delegation protocol and turns authenticated messages into
// send events.
//
// Postfix sends one request per protocol stage over persistent connections: name=value lines ended by an empty
// line. Every request is answered action=DUNNO (no opinion). An END-OF-MESSAGE request with a sasl_username is one
// sent message. Its event id is "postfix:<queue_id>" (or "postfix:<instance>" before a queue id exists), the id the
// log reader derives for the same message, so a message seen by both is stored once.
package postfix

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
)

// Limits on one request.
const (
	MaxLine       = 4096
	MaxAttributes = 128
	MaxRequest    = 64 << 10
	IdleTimeout   = 10 * time.Minute
)

// ErrMalformed reports a request that breaks the protocol or its limits.
var ErrMalformed = errors.New("malformed policy request")

// Request is one policy request's attributes.
type Request map[string]string

// ReadRequest reads one request (attribute lines up to an empty line). It returns io.EOF at a clean end of the
// connection and an error wrapping ErrMalformed when a limit is exceeded or a line is not name=value.
func ReadRequest(r *bufio.Reader) (Request, error) {
	req := Request{}
	size, lines := 0, 0
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLine)
		}
		if err != nil {
			if len(line) == 0 && len(req) == 0 {
				return nil, err // io.EOF between requests
			}
			return nil, fmt.Errorf("%w: connection ended inside a request: %v", ErrMalformed, err)
		}
		size += len(line)
		line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte{'\n'}), []byte{'\r'})
		if len(line) == 0 {
			if len(req) == 0 {
				return nil, fmt.Errorf("%w: empty request", ErrMalformed)
			}
			return req, nil
		}
		lines++
		if size > MaxRequest || lines > MaxAttributes {
			return nil, fmt.Errorf("%w: request larger than %d bytes or %d attributes", ErrMalformed, MaxRequest, MaxAttributes)
		}
		name, value, ok := bytes.Cut(line, []byte{'='})
		if !ok || len(name) == 0 {
			return nil, fmt.Errorf("%w: %.40q is not name=value", ErrMalformed, line)
		}
		req[string(name)] = string(value)
	}
}

// Event turns an END-OF-MESSAGE request with a SASL user into a send event; ok is false for other requests.
func (req Request) Event(now time.Time, source string) (e event.Event, ok bool, err error) {
	if req["request"] != "smtpd_access_policy" || req["protocol_state"] != "END-OF-MESSAGE" || req["sasl_username"] == "" {
		return e, false, nil
	}
	rcpts, err := strconv.Atoi(req["recipient_count"])
	if err != nil {
		return e, true, fmt.Errorf("recipient_count %q: not a number", req["recipient_count"])
	}
	size, _ := strconv.ParseInt(req["size"], 10, 64)
	ip, err := event.ParseIP(req["client_address"])
	if err != nil {
		return e, true, fmt.Errorf("client_address: %w", err)
	}
	e = event.Event{
		Kind:       event.KindSend,
		Time:       now.UTC(),
		User:       req["sasl_username"],
		IP:         ip,
		Service:    service(req),
		Recipients: rcpts,
		Size:       size,
		MessageID:  req["queue_id"],
		Source:     source,
	}
	e.ID = MessageID(req["queue_id"], req["instance"])
	if e.MessageID == "" {
		e.MessageID = req["instance"]
	}
	e, err = event.New(e, now)
	return e, true, err
}

// MessageID is the event id of a message, shared with the log reader.
func MessageID(queueID, instance string) string {
	if queueID != "" {
		return "postfix:" + queueID
	}
	return "postfix:" + instance
}

func service(req Request) string {
	if p := req["server_port"]; p == "587" || p == "465" {
		return "submission"
	}
	return "smtp"
}

// Options configures the server.
type Options struct {
	Source string // the reporting server's name for the events; default the client's address
	Buffer int    // events held while the store is slow; default 10000
}

// Server is the policy delegation server.
type Server struct {
	opts     Options
	logger   *slog.Logger
	buf      *natsbus.Buffer
	requests *prometheus.CounterVec
	dropped  *prometheus.CounterVec
}

// New returns a Server; call Serve with a listener.
func New(o Options, sink natsbus.Sink, logger *slog.Logger, reg prometheus.Registerer) *Server {
	if o.Buffer == 0 {
		o.Buffer = 10000
	}
	f := promauto.With(reg)
	s := &Server{
		opts: o, logger: logger,
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_postfix_requests_total", Help: "Postfix policy requests by result (ignored, send, malformed).",
		}, []string{"result"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_postfix_dropped_total", Help: "Send events not kept, by reason (buffer_full, invalid, store).",
		}, []string{"reason"}),
	}
	s.buf = natsbus.NewBuffer(sink, o.Buffer, "postfix", logger, func(n int) { s.dropped.WithLabelValues("store").Add(float64(n)) })
	return s
}

// Serve accepts connections on ln until ctx is cancelled, then closes them and stores what is queued.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	var wg sync.WaitGroup
	conns := sync.Map{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.buf.Run(ctx)
	}()
	stop := context.AfterFunc(ctx, func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	})
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			wg.Wait()
			return fmt.Errorf("postfix policy listener: %w", err)
		}
		conns.Store(c, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer conns.Delete(c)
			s.handle(c)
		}()
	}
}

var dunno = []byte("action=DUNNO\n\n")

func (s *Server) handle(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, MaxLine)
	source := s.opts.Source
	if source == "" {
		source, _, _ = net.SplitHostPort(c.RemoteAddr().String())
	}
	for {
		c.SetReadDeadline(time.Now().Add(IdleTimeout))
		req, err := ReadRequest(r)
		if err != nil {
			if errors.Is(err, ErrMalformed) {
				s.requests.WithLabelValues("malformed").Inc()
				s.logger.Warn("closing postfix policy connection", "peer", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		ev, isSend, err := req.Event(time.Now(), source)
		switch {
		case err != nil:
			s.dropped.WithLabelValues("invalid").Inc()
			s.logger.Warn("postfix message not recorded", "peer", c.RemoteAddr().String(), "queue_id", req["queue_id"], "err", err)
		case !isSend:
			s.requests.WithLabelValues("ignored").Inc()
		default:
			s.requests.WithLabelValues("send").Inc()
			if !s.buf.Offer(ev) {
				s.dropped.WithLabelValues("buffer_full").Inc()
				s.logger.Error("postfix send event dropped: buffer full (the event store is too slow)", "user", ev.User)
			}
		}
		if _, err := c.Write(dunno); err != nil {
			return
		}
	}
}
