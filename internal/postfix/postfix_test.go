package postfix

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

func start(t *testing.T) (addr string, stream jetstream.Stream) {
	t.Helper()
	js, err := natsbus.NewJetStream(testenv.Connect(t, testenv.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	stream, err = natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	s := New(Options{Source: "smtp1"}, natsbus.NewPublisher(js, 4, reg), slog.New(slog.DiscardHandler), reg)
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
	return ln.Addr().String(), stream
}

func request(state, user, queueID string, rcpts int) string {
	return fmt.Sprintf("request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\nclient_address=81.2.69.142\nclient_name=unknown\n"+
		"sender=%s@example.org\nrecipient_count=%d\nqueue_id=%s\ninstance=1a2b.3c4d.1\nsize=1234\nsasl_method=PLAIN\nsasl_username=%s\nserver_port=587\n\n",
		state, user, rcpts, queueID, user)
}

func exchange(t *testing.T, c net.Conn, r *bufio.Reader, req string) string {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading the answer: %v", err)
		}
		if line == "\n" {
			return b.String()
		}
		b.WriteString(line)
	}
}

func waitMsgs(t *testing.T, s jetstream.Stream, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := s.Info(context.Background())
		if info.State.Msgs == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d events; want %d", info.State.Msgs, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestEndOfMessageBecomesSendEvent(t *testing.T) {
	addr, stream := start(t)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	for _, state := range []string{"RCPT", "DATA", "END-OF-MESSAGE"} {
		if got := exchange(t, c, r, request(state, "Alice", "E3F44D031A", 3)); got != "action=DUNNO\n" {
			t.Fatalf("answer to %s = %q; want action=DUNNO", state, got)
		}
	}
	exchange(t, c, r, request("END-OF-MESSAGE", "", "AAAA", 1)) // unauthenticated: not a user's sending
	waitMsgs(t, stream, 1)
	msg, err := stream.GetLastMsgForSubject(context.Background(), (&event.Event{Kind: event.KindSend, User: "alice"}).Subject(4))
	if err != nil {
		t.Fatal(err)
	}
	var e event.Event
	if err := event.Unmarshal(msg.Data, &e); err != nil {
		t.Fatal(err)
	}
	if e.ID != "postfix:E3F44D031A" || e.Recipients != 3 || e.Size != 1234 || e.IP.String() != "81.2.69.142" || e.Service != "submission" || e.Source != "smtp1" || e.MessageID != "E3F44D031A" {
		t.Errorf("stored %+v", e)
	}
}

func TestManyConnectionsAndMalformedOnes(t *testing.T) {
	addr, stream := start(t)
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
				exchange(t, c, r, request("END-OF-MESSAGE", fmt.Sprintf("u%d", i), fmt.Sprintf("Q%dX%d", i, j), 1))
			}
		}()
	}
	// Malformed requests close their own connection only.
	for _, bad := range []string{"no equals sign\n\n", strings.Repeat("x", MaxLine+10) + "=1\n\n", "\n", strings.Repeat("a=b\n", MaxAttributes+1) + "\n"} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, bad)
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 64)); err == nil {
			t.Errorf("malformed request %.20q answered with %d bytes; want the connection closed", bad, n)
		}
		c.Close()
	}
	wg.Wait()
	waitMsgs(t, stream, 200)
}

func FuzzReadRequest(f *testing.F) {
	f.Add([]byte(request("END-OF-MESSAGE", "alice", "Q1", 2)))
	f.Add([]byte("a=b\r\nc=\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bufio.NewReaderSize(strings.NewReader(string(data)), MaxLine)
		for range 10 {
			req, err := ReadRequest(r)
			if err != nil {
				return
			}
			if len(req) == 0 || len(req) > MaxAttributes {
				t.Fatalf("ReadRequest returned %d attributes", len(req))
			}
			if _, _, err := req.Event(time.Now(), "x"); err != nil {
				_ = err // precise errors are fine; panics are not
			}
		}
	})
}
