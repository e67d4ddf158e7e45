package postfix

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

var now = time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC)

// start runs a Server on a loopback listener, publishing to a real JetStream; withStream creates the stream.
func start(t *testing.T, withStream bool) (*Server, string, jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	var stream jetstream.Stream
	if withStream {
		if stream, err = natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	s := New(Options{Source: "smtp1", Now: func() time.Time { return now }}, natsbus.NewPublisher(js, 4, reg), slog.New(slog.DiscardHandler), reg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v", err)
		}
	})
	return s, ln.Addr().String(), js, stream
}

// request is an smtpd request as Postfix 3.7 sends it (abridged).
func request(state, user, queueID string, rcpts int) string {
	return fmt.Sprintf("request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\nclient_address=81.2.69.142\nclient_name=unknown\n"+
		"client_port=40000\nserver_address=127.0.0.1\nserver_port=587\nhelo_name=client.test\nsender=%s@example.org\nrecipient=\n"+
		"recipient_count=%d\nqueue_id=%s\ninstance=1a2b.3c4d.1\nsize=1234\nsasl_method=PLAIN\nsasl_username=%s\nsasl_sender=\n"+
		"ccert_subject=\nencryption_protocol=\npolicy_context=\ncompatibility_level=3.6\nmail_version=3.7.11\n\n",
		state, user, rcpts, queueID, user)
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// exchange sends a request and returns the answer without its final empty line.
func exchange(c net.Conn, r *bufio.Reader, req string) (string, error) {
	if _, err := io.WriteString(c, req); err != nil {
		return "", err
	}
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// stored waits until the stream holds want messages and returns their events.
func stored(t *testing.T, s jetstream.Stream, want uint64) []event.Event {
	t.Helper()
	return testenv.StoredEvents(t, s, want)
}

func TestEndOfMessageBecomesSendEvent(t *testing.T) {
	_, addr, _, stream := start(t, true)
	c, r := dial(t, addr)
	for _, state := range []string{"RCPT", "DATA", "END-OF-MESSAGE", "END-OF-MESSAGE" /* repeated: the same id */} {
		if got, err := exchange(c, r, request(state, "Alice", "E3F44D031A", 3)); err != nil || got != "action=DUNNO\n" {
			t.Fatalf("answer to %s = %q, %v; want action=DUNNO", state, got, err)
		}
	}
	exchange(c, r, request("END-OF-MESSAGE", "", "AAAAAA", 1)) // unauthenticated: not a user's sending
	got := stored(t, stream, 1)
	want := []event.Event{{ID: "postfix:E3F44D031A", Kind: event.KindSend, Time: now, User: "alice", IP: netip.MustParseAddr("81.2.69.142"),
		Service: "submission", Recipients: 3, Size: 1234, MessageID: "E3F44D031A", Source: "smtp1"}}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
}

func TestRequestEvent(t *testing.T) {
	base := func(kv ...string) Request {
		req := Request{"request": "smtpd_access_policy", "protocol_state": "END-OF-MESSAGE", "client_address": "2001:db8::1",
			"recipient_count": "2", "size": "10", "queue_id": "ABCDEF123", "instance": "1.2.3", "sasl_username": "bob", "server_port": "25"}
		for i := 0; i < len(kv); i += 2 {
			req[kv[i]] = kv[i+1]
		}
		return req
	}
	for _, tt := range []struct {
		name          string
		req           Request
		ok            bool
		err           bool
		id, service   string
		rcpts         int
		size          int64
		messageID, ip string
	}{
		{"port 25", base(), true, false, "postfix:ABCDEF123", "smtp", 2, 10, "ABCDEF123", "2001:db8::1"},
		{"port 587", base("server_port", "587"), true, false, "postfix:ABCDEF123", "submission", 2, 10, "ABCDEF123", "2001:db8::1"},
		{"port 465", base("server_port", "465"), true, false, "postfix:ABCDEF123", "submission", 2, 10, "ABCDEF123", "2001:db8::1"},
		{"policy context", base("policy_context", "submission"), true, false, "postfix:ABCDEF123", "submission", 2, 10, "ABCDEF123", "2001:db8::1"},
		{"no queue id", base("queue_id", ""), true, false, "postfix:1.2.3", "smtp", 2, 10, "1.2.3", "2001:db8::1"},
		{"mapped address", base("client_address", "::ffff:1.2.3.4"), true, false, "postfix:ABCDEF123", "smtp", 2, 10, "ABCDEF123", "1.2.3.4"},
		{"no size", base("size", ""), true, false, "postfix:ABCDEF123", "smtp", 2, 0, "ABCDEF123", "2001:db8::1"},
		{"RCPT stage", base("protocol_state", "RCPT"), false, false, "", "", 0, 0, "", ""},
		{"unauthenticated", base("sasl_username", ""), false, false, "", "", 0, 0, "", ""},
		{"other request", base("request", "junk"), false, false, "", "", 0, 0, "", ""},
		{"no recipients", base("recipient_count", "0"), true, true, "", "", 0, 0, "", ""},
		{"recipients not a number", base("recipient_count", "x"), true, true, "", "", 0, 0, "", ""},
		{"size not a number", base("size", "-"), true, true, "", "", 0, 0, "", ""},
		{"no client address", base("client_address", "unknown"), true, true, "", "", 0, 0, "", ""},
		{"user with a space", base("sasl_username", "a b"), true, true, "", "", 0, 0, "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e, ok, err := tt.req.Event(now, "mx")
			if ok != tt.ok || (err != nil) != tt.err {
				t.Fatalf("Event = %v, %v; want ok %v, error %v", ok, err, tt.ok, tt.err)
			}
			if !ok || err != nil {
				return
			}
			if e.ID != tt.id || e.Service != tt.service || e.Recipients != tt.rcpts || e.Size != tt.size || e.MessageID != tt.messageID || e.IP.String() != tt.ip {
				t.Errorf("Event = %+v; want id %s, service %s, %d recipients, size %d, message %s, ip %s", e, tt.id, tt.service, tt.rcpts, tt.size, tt.messageID, tt.ip)
			}
		})
	}
}

func TestReadRequest(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want Request
		err  error
	}{
		{"two attributes", "a=b\nc=\n\n", Request{"a": "b", "c": ""}, nil},
		{"CRLF", "a=b\r\nc=d=e\r\n\r\n", Request{"a": "b", "c": "d=e"}, nil},
		{"clean end", "", nil, io.EOF},
		{"ends inside", "a=b\n", nil, ErrMalformed},
		{"empty request", "\n", nil, ErrMalformed},
		{"no equals", "junk\n\n", nil, ErrMalformed},
		{"empty name", "=x\n\n", nil, ErrMalformed},
		{"long line", "a=" + strings.Repeat("x", MaxLine) + "\n\n", nil, ErrMalformed},
		{"too many attributes", strings.Repeat("a=b\n", MaxAttributes+1) + "\n", nil, ErrMalformed},
		{"too large", strings.Repeat("a="+strings.Repeat("x", 1000)+"\n", 70) + "\n", nil, ErrMalformed},
		{"at the limits", strings.Repeat("a=b\n", MaxAttributes) + "\n", Request{"a": "b"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadRequest(bufio.NewReaderSize(strings.NewReader(tt.in), MaxLine))
			if !errors.Is(err, tt.err) || !cmp.Equal(got, tt.want) {
				t.Errorf("ReadRequest(%.30q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// Many persistent connections at once; malformed requests close their own connection and touch nothing else.
func TestManyConnectionsAndMalformedOnes(t *testing.T) {
	s, addr, _, stream := start(t, true)
	survivor, sr := dial(t, addr) // a connection open across the malformed ones
	if _, err := exchange(survivor, sr, request("RCPT", "x", "Q", 0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for j := range 4 {
				if got, err := exchange(c, r, request("END-OF-MESSAGE", fmt.Sprintf("u%d", i), fmt.Sprintf("Q%dX%d", i, j), 1)); err != nil || got != "action=DUNNO\n" {
					t.Errorf("answer = %q, %v", got, err)
				}
			}
		}()
	}
	bad := []string{"no equals sign\n\n", strings.Repeat("x", MaxLine+10) + "=1\n\n", "\n", strings.Repeat("a=b\n", MaxAttributes+1) + "\n"}
	for _, b := range bad {
		c, _ := dial(t, addr)
		io.WriteString(c, b)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 64)); err == nil {
			t.Errorf("malformed request %.20q answered with %d bytes; want the connection closed", b, n)
		}
	}
	wg.Wait()
	if got, err := exchange(survivor, sr, request("END-OF-MESSAGE", "survivor", "SURVIVOR1", 2)); err != nil || got != "action=DUNNO\n" {
		t.Errorf("the surviving connection answered %q, %v; want action=DUNNO", got, err)
	}
	stored(t, stream, 201)
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("malformed")); n != float64(len(bad)) {
		t.Errorf("requests{malformed} = %v; want %d", n, len(bad))
	}
	if n := testutil.ToFloat64(s.m.requests.WithLabelValues("send")); n != 201 {
		t.Errorf("requests{send} = %v; want 201", n)
	}
}

// With JetStream unable to store, Postfix still gets its answer at once; the events follow when it recovers.
func TestStoreDownAnswersAtOnce(t *testing.T) {
	_, addr, js, _ := start(t, false)
	c, r := dial(t, addr)
	for i := range 3 {
		t0 := time.Now()
		if got, err := exchange(c, r, request("END-OF-MESSAGE", "bob", fmt.Sprintf("QUEUE%d", i), 1)); err != nil || got != "action=DUNNO\n" {
			t.Fatalf("answer = %q, %v", got, err)
		}
		if d := time.Since(t0); d > 500*time.Millisecond {
			t.Errorf("answer took %s with the store down; want at once", d)
		}
	}
	stream, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	stored(t, stream, 3)
}

func TestInvalidMessageCounted(t *testing.T) {
	s, addr, _, _ := start(t, true)
	c, r := dial(t, addr)
	req := strings.Replace(request("END-OF-MESSAGE", "bob", "QUEUE1", 1), "client_address=81.2.69.142", "client_address=unknown", 1)
	if got, err := exchange(c, r, req); err != nil || got != "action=DUNNO\n" {
		t.Fatalf("answer = %q, %v; want action=DUNNO", got, err)
	}
	if n := testutil.ToFloat64(s.m.dropped.WithLabelValues(reasonInvalid)); n != 1 {
		t.Errorf("dropped{invalid} = %v; want 1", n)
	}
}

func TestServeReturnsTheListenersError(t *testing.T) {
	s := New(Options{}, nil, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Accept fails at once
	if err := s.Serve(context.Background(), ln); err == nil {
		t.Error("Serve on a closed listener = nil; want an error")
	}
}

func TestOptionsValidate(t *testing.T) {
	for _, tt := range []struct {
		o  Options
		ok bool
	}{
		{Options{}, true},
		{Options{Source: strings.Repeat("s", 300)}, false},
		{Options{Buffer: -1}, false},
		{Options{IdleTimeout: time.Millisecond}, false},
	} {
		t.Run(fmt.Sprintf("%+v", tt.o), func(t *testing.T) {
			if err := tt.o.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v; want ok = %v", tt.o, err, tt.ok)
			}
		})
	}
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(request("END-OF-MESSAGE", "alice", "Q1", 2)))
	f.Add([]byte("a=b\r\nc=\n\n"))
	f.Add([]byte("request=smtpd_access_policy\nprotocol_state=END-OF-MESSAGE\nsasl_username=a\nrecipient_count=1\nclient_address=::1\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(data)), MaxLine)
		for range 10 {
			req, err := ReadRequest(r)
			if err != nil {
				if !errors.Is(err, ErrMalformed) && err != io.EOF {
					t.Fatalf("ReadRequest(%q) = %v; want ErrMalformed or io.EOF", data, err)
				}
				return
			}
			if len(req) == 0 || len(req) > MaxAttributes {
				t.Fatalf("ReadRequest(%q) returned %d attributes", data, len(req))
			}
			e, ok, err := req.Event(now, "x")
			if ok && err == nil && (e.ID == "" || e.Recipients < 1 || !e.IP.IsValid()) {
				t.Fatalf("Event of %v = %+v; want a complete send event", req, e)
			}
		}
	})
}
