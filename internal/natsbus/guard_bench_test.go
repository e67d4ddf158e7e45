package natsbus

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// readerConn is a net.Conn that reads from r; only Read is used.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// BenchmarkGuardRead reads JetStream deliveries (MSG lines with 200-byte payloads) through guardConn, as the
// detector's fetches do; the baseline reads the same bytes straight from the connection.
func BenchmarkGuardRead(b *testing.B) {
	var stream bytes.Buffer
	payload := bytes.Repeat([]byte("x"), 200)
	for i := range 1000 {
		stream.WriteString("MSG vigil.events.login.3 7 $JS.ACK.VIGIL_EVENTS.vigil-detector-3.1." + strconv.Itoa(i) + ".1.1700000000.0 200\r\n")
		stream.Write(payload)
		stream.WriteString("\r\n")
	}
	data := stream.Bytes()
	buf := make([]byte, 32<<10)
	for _, guarded := range []bool{false, true} {
		name := "raw"
		if guarded {
			name = "guard"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				var c net.Conn = readerConn{r: bytes.NewReader(data)}
				if guarded {
					c = &guardConn{Conn: c, checked: true}
				}
				for {
					if _, err := c.Read(buf); err != nil {
						break
					}
				}
			}
		})
	}
}

// TestGuardPassesEveryByte reads a delivery stream through guardConn in pieces of every size from 1 to 97 bytes:
// what comes out is exactly what went in, however the reads split lines and payloads.
func TestGuardPassesEveryByte(t *testing.T) {
	var stream bytes.Buffer
	for i := range 300 {
		payload := strings.Repeat("-ERR 'inside a payload'\n", i%3) // data, never a server error
		fmt.Fprintf(&stream, "MSG vigil.events.send.%d 1 %d\r\n%s\r\nPING\r\n+OK\r\n", i%16, len(payload), payload)
	}
	want := stream.Bytes()
	for piece := 1; piece < 98; piece += 8 {
		g := &guardConn{Conn: readerConn{r: iotest.HalfReader(bytes.NewReader(want))}, checked: true}
		got, err := io.ReadAll(io.LimitReader(readFunc(func(p []byte) (int, error) { return g.Read(p[:min(len(p), piece)]) }), int64(len(want))+1))
		if err != nil {
			t.Fatalf("piece %d: %v", piece, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("piece %d: read %d bytes differing from the %d written", piece, len(got), len(want))
		}
	}
}

type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
