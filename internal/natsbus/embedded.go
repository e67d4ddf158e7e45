package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Embedded is a NATS server with JetStream running inside the process (the single-node distribution).
type Embedded struct {
	srv *server.Server
}

// StartEmbedded starts a NATS server storing JetStream data in dir. listen is the client address ("host:port"); an
// empty listen accepts in-process connections only.
func StartEmbedded(dir, listen string, logger *slog.Logger) (*Embedded, error) {
	opts := &server.Options{
		ServerName: "vigil",
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
	}
	if listen == "" {
		opts.DontListen = true
	} else {
		host, port, err := net.SplitHostPort(listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: bad port", listen)
		}
		if p == 0 { // a free port, as with net.Listen (nats-server reads 0 as its default, 4222)
			p = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, p
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, errors.New("embedded nats: not ready after 30s (is the listen address in use?)")
	}
	logger.Info("embedded NATS server started", "jetstream_dir", dir, "listen", listenText(listen))
	return &Embedded{srv: s}, nil
}

func listenText(l string) string {
	if l == "" {
		return "in-process only"
	}
	return l
}

// Connect opens an in-process client connection.
func (e *Embedded) Connect(name string) (*nats.Conn, error) {
	nc, err := nats.Connect("", nats.InProcessServer(inProcess{e.srv}), nats.Name(name), nats.MaxReconnects(-1),
		nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return nil, fmt.Errorf("connect embedded nats: %w", err)
	}
	return nc, nil
}

// ClientURL returns the URL other processes use, or "" when the server does not listen.
func (e *Embedded) ClientURL() string {
	if e.srv.Addr() == nil {
		return ""
	}
	return e.srv.ClientURL()
}

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
}

// Connect opens a connection to an external NATS server (or cluster: comma-separated URLs) that keeps reconnecting;
// extra options come last.
func Connect(url, name string, logger *slog.Logger, extra ...nats.Option) (*nats.Conn, error) {
	nc, err := nats.Connect(url, append([]nats.Option{
		nats.Name(name),
		SurviveServerErrors(),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted()) }),
	}, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", redact(url), err)
	}
	return nc, nil
}

// redact hides the passwords of comma-separated NATS URLs, for an error message.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := neturl.Parse(strings.TrimSpace(p)); err == nil && u.User != nil {
			if _, ok := u.User.Password(); !ok { // a token
				u.User = neturl.User("xxxxx")
			}
			parts[i] = u.Redacted()
		} else if err != nil && strings.Contains(p, "@") {
			parts[i] = "(unparsable URL with credentials)"
		}
	}
	return strings.Join(parts, ",")
}
