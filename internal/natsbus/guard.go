package natsbus

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// guardConn keeps a connection alive through server errors nats.go treats as fatal. nats.go closes a connection
// for good (no reconnect) when the server answers "-ERR 'Maximum Control Line Exceeded'" or any -ERR it does not
// know, although the server merely dropped that one connection: one over-long subject would stop every component
// sharing it. guardConn reads the server's protocol, and when such an -ERR arrives it hides the line and fails the
// read instead, which nats.go handles like a dropped connection: it reconnects. With TLS (the client's first write
// is not CONNECT) it steps aside: it cannot read the protocol there.
type guardConn struct {
	net.Conn
	store   []byte // backing array of buf, reused across reads
	buf     []byte // read from the server, not yet handed out
	out     int    // bytes of buf that may be handed out
	skip    int    // payload bytes (of MSG/HMSG) still to pass unexamined
	err     error  // returned once buf is drained
	checked bool   // first client write seen
	off     bool   // TLS: pass through
	midLine bool   // inside an over-long line already handed out
}

// errServerClosed is the read error a hidden -ERR turns into.
var errServerClosed = errors.New("nats server closed the connection")

func (g *guardConn) Write(p []byte) (int, error) {
	if !g.checked {
		g.checked = true
		g.off = !bytes.HasPrefix(p, []byte("CONNECT"))
	}
	return g.Conn.Write(p)
}

func (g *guardConn) Read(p []byte) (int, error) {
	if g.off && len(g.buf) == 0 {
		return g.Conn.Read(p)
	}
	for g.out == 0 {
		if g.err != nil {
			return 0, g.err
		}
		n, err := g.Conn.Read(g.space())
		g.buf = g.buf[:len(g.buf)+n]
		g.scan()
		if err != nil && g.out == 0 {
			if len(g.buf) > 0 { // a partial line: hand it out, then the error
				g.out = len(g.buf)
			}
			g.err = err
		}
	}
	n := copy(p, g.buf[:g.out])
	g.buf = g.buf[n:]
	g.out -= n
	return n, nil
}

// space returns free room after buf for the next read, moving what is unread to the front of the store (growing
// it only while an incomplete line is longer than the store), so reads allocate nothing in the steady state.
func (g *guardConn) space() []byte {
	const chunk = 32 << 10
	if cap(g.buf)-len(g.buf) >= chunk/2 {
		return g.buf[len(g.buf):cap(g.buf)]
	}
	if len(g.store) < len(g.buf)+chunk {
		g.store = make([]byte, 2*chunk+len(g.buf))
	}
	g.buf = g.store[:copy(g.store, g.buf)]
	return g.buf[len(g.buf):cap(g.buf)]
}

// scan advances g.out over complete protocol lines (and payloads) in g.buf.
func (g *guardConn) scan() {
	for g.out < len(g.buf) {
		if g.off {
			g.out = len(g.buf)
			return
		}
		if g.skip > 0 {
			n := min(g.skip, len(g.buf)-g.out)
			g.out += n
			g.skip -= n
			continue
		}
		rest := g.buf[g.out:]
		eol := bytes.IndexByte(rest, '\n')
		if eol < 0 {
			if len(rest) > maxLine { // no protocol line is this long: pass it on unexamined
				g.out = len(g.buf)
				g.midLine = true
			}
			return
		}
		if g.midLine {
			g.midLine = false
			g.out += eol + 1
			continue
		}
		line := bytes.TrimRight(rest[:eol], "\r\t ")
		switch {
		case bytes.HasPrefix(line, []byte("-ERR")) && fatalToNATSGo(string(line)):
			g.buf = g.buf[:g.out] // hide the line and whatever follows: the server closes now
			g.err = errServerClosed
			return
		case bytes.HasPrefix(line, []byte("MSG ")) || bytes.HasPrefix(line, []byte("HMSG ")):
			if size, ok := lastNumber(line); ok {
				g.skip = size + 2
			}
		}
		g.out += eol + 1
	}
}

// lastNumber parses the last space-separated field of a protocol line (a MSG or HMSG total size) without
// allocating.
func lastNumber(line []byte) (int, bool) {
	f := line[bytes.LastIndexAny(line, " \t")+1:]
	if len(f) == 0 || len(f) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range f {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// maxLine bounds the line guardConn waits for; longer lines (a huge INFO) pass through unexamined.
const maxLine = 1 << 20

// fatalToNATSGo reports an -ERR that nats.go (v1.55 processErr) answers by closing the connection for good, other
// than authentication errors, which it handles itself.
func fatalToNATSGo(line string) bool {
	e := strings.ToLower(strings.Trim(strings.TrimSpace(strings.TrimPrefix(line, "-ERR")), "'"))
	for _, handled := range []string{"stale connection", "maximum connections exceeded", "maximum account active connections exceeded",
		"unknown protocol operation", "permissions violation", "maximum subscriptions exceeded", "authorization violation",
		"user authentication expired", "user authentication revoked", "account authentication expired"} {
		if strings.HasPrefix(e, handled) {
			return false
		}
	}
	return true
}

// SurviveServerErrors is the option that makes a connection reconnect after a server error nats.go would treat
// as fatal (see guardConn). Every connection Vigil makes uses it.
func SurviveServerErrors() nats.Option { return nats.SetCustomDialer(&guardDialer{}) }

// guardDialer dials TCP connections wrapped in guardConn.
type guardDialer struct{}

func (g *guardDialer) Dial(network, address string) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: 2 * time.Second}).Dial(network, address)
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}

// inProcess provides in-process connections wrapped in guardConn.
type inProcess struct {
	p interface{ InProcessConn() (net.Conn, error) }
}

func (i inProcess) InProcessConn() (net.Conn, error) {
	c, err := i.p.InProcessConn()
	if err != nil {
		return nil, err
	}
	return &guardConn{Conn: c}, nil
}
