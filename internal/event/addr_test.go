package event

import (
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// The fast codec of address events writes what encoding/json writes, and reads it and anything encoding/json
// writes back to the same event (escapes through the fallback).
func TestAddrEventCodec(t *testing.T) {
	at := time.Date(2026, 11, 24, 9, 30, 0, 123000000, time.UTC)
	for _, e := range []AddrEvent{
		{ID: "x-1", Time: at, IP: netip.MustParseAddr("203.0.113.9"), User: "alice@example.org", Domain: "example.org", Service: "imap", PWHash: "0ab"},
		{ID: "x-2", Time: at, IP: netip.MustParseAddr("2001:db8::1"), User: "bob", Success: true, Known: true},
		{ID: `q"<&>`, Time: at, IP: netip.MustParseAddr("1.1.1.1"), User: "ünï\\code@example.org", Service: "smtp"},
	} {
		fast, _ := MarshalAddr(&e)
		ref, _ := json.Marshal(&e)
		if string(fast) != string(ref) {
			t.Errorf("MarshalAddr = %s; want %s", fast, ref)
		}
		var got AddrEvent
		if err := UnmarshalAddr(fast, &got); err != nil {
			t.Fatalf("UnmarshalAddr(%s) = %v", fast, err)
		}
		if diff := cmp.Diff(e, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", fast, diff)
		}
	}
	for _, bad := range []string{`{}`, `{"id":"x","time":"2026-11-24T09:30:00Z","user":"a"}`, `{"id":"x","ip":"1.2.3","time":"2026-11-24T09:30:00Z","user":"a"}`, `not json`} {
		var got AddrEvent
		if err := UnmarshalAddr([]byte(bad), &got); err == nil {
			t.Errorf("UnmarshalAddr(%s) = nil; want an error", bad)
		}
	}
}

// FuzzDecodeAddrFast checks that the fast reader of address events gives exactly what encoding/json gives.
func FuzzDecodeAddrFast(f *testing.F) {
	at := time.Date(2026, 11, 24, 9, 30, 0, 123000000, time.FixedZone("", 3600))
	for _, e := range []AddrEvent{
		{ID: "x-1", Time: at, IP: netip.MustParseAddr("203.0.113.9"), User: "alice@example.org", Domain: "example.org", Service: "imap", PWHash: "0ab"},
		{ID: "x-2", Time: at, IP: netip.MustParseAddr("2001:db8::1"), User: "bob", Success: true, Known: true},
	} {
		b, _ := MarshalAddr(&e)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow AddrEvent
		if !decodeAddrFast(data, &fast) {
			return
		}
		if err := json.Unmarshal(data, &slow); err != nil {
			t.Fatalf("decodeAddrFast accepted %q, encoding/json rejects it: %v", data, err)
		}
		if diff := cmp.Diff(slow, fast, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Fatalf("decodeAddrFast(%q) differs (-json +fast):\n%s", data, diff)
		}
	})
}

func BenchmarkAddrCodec(b *testing.B) {
	b.ReportAllocs()
	e := AddrEvent{ID: "0123456789abcdef0123", Time: time.Now().UTC(), IP: netip.MustParseAddr("203.0.113.9"), User: "alice@example.org", Domain: "example.org", Service: "imap", PWHash: "0ab"}
	var buf []byte
	var got AddrEvent
	for b.Loop() {
		buf, _ = AppendAddr(buf[:0], &e)
		if err := UnmarshalAddr(buf[:len(buf)-1], &got); err != nil {
			b.Fatal(err)
		}
	}
}
