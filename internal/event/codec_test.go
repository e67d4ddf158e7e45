package event

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var codecCases = []Event{
	{ID: "x", Kind: KindLogin, Time: time.Date(2026, 11, 24, 9, 30, 0, 123000000, time.UTC), User: "alice@example.org", Domain: "example.org", IP: netip.MustParseAddr("81.2.69.142"), Service: "imap", Success: false, Source: "mx<1>&", Session: "s\"1\\", PWHash: "0abc"},
	{ID: "y", Kind: KindSend, Time: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC), User: "bob", IP: netip.MustParseAddr("2001:db8::1"), Service: "other", Recipients: 3, Size: 1 << 40, MessageID: "<ü\u2028\x01@x>"},
}

// TestAppendJSONMatchesEncodingJSON keeps the fast encoder byte-for-byte equal to encoding/json, so content ids
// never change, and the fast decoder equal to encoding/json's.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	for _, e := range codecCases {
		want, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		got := AppendJSON(nil, &e)
		if !bytes.Equal(got, want) {
			t.Errorf("AppendJSON = %s\nencoding/json = %s", got, want)
		}
		var fast, slow Event
		if !decodeFast(got, &fast) && bytes.IndexByte(got, '\\') < 0 {
			t.Errorf("decodeFast(%s) refused an escape-free encoding", got)
		}
		if err := unmarshalSlow(got, &slow); err != nil {
			t.Fatal(err)
		}
		var via Event
		if err := Unmarshal(got, &via); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(slow, via, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("Unmarshal differs from encoding/json (-want +got):\n%s", diff)
		}
	}
}

func FuzzDecodeFast(f *testing.F) {
	for _, e := range codecCases {
		f.Add(AppendJSON(nil, &e))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow Event
		if !decodeFast(data, &fast) {
			return
		}
		if err := unmarshalSlow(data, &slow); err != nil {
			t.Fatalf("decodeFast accepted %q, encoding/json rejects it: %v", data, err)
		}
		if diff := cmp.Diff(slow, fast, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Fatalf("decodeFast(%q) differs (-json +fast):\n%s", data, diff)
		}
	})
}

func BenchmarkUnmarshal(b *testing.B) {
	e := Event{ID: "0123456789abcdef0123456789abcdef", Kind: KindSend, Time: now, User: "alice@example.org", Domain: "example.org", IP: netip.MustParseAddr("81.2.69.142"), Service: "submission", Recipients: 3, Size: 48213}
	data := AppendJSON(nil, &e)
	b.ReportAllocs()
	var out Event
	for b.Loop() {
		Unmarshal(data, &out)
	}
}

func BenchmarkParse(b *testing.B) {
	data := []byte(`{"kind":"login","time":"2026-11-24T09:30:00Z","user":"alice@example.org","ip":"81.2.69.142","service":"imap","success":true}`)
	b.ReportAllocs()
	for b.Loop() {
		Parse(data, now)
	}
}

// FuzzParseFastPath checks that the fast reader of client JSON gives exactly what encoding/json gives.
func FuzzParseFastPath(f *testing.F) {
	for _, tt := range cases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast wire
		if !wireFast(data, &fast) {
			return
		}
		if err := checkStrict(data); err != nil {
			t.Fatalf("wireFast accepted %q, which the schema forbids: %v", data, err)
		}
		var slow wire
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&slow); err != nil {
			t.Fatalf("wireFast accepted %q; encoding/json rejects it: %v", data, err)
		}
		a, errA := fast.normalise(now)
		b, errB := slow.normalise(now)
		if (errA == nil) != (errB == nil) || errA != nil && errA.Error() != errB.Error() {
			t.Fatalf("normalise differs for %q: %v vs %v", data, errA, errB)
		}
		if diff := cmp.Diff(b, a, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Fatalf("%q (-json +fast):\n%s", data, diff)
		}
	})
}

// parseAddr reads every address as netip.Addr's UnmarshalText does, on its fast IPv4 path and off it.
func TestParseAddrMatchesNetip(t *testing.T) {
	for _, s := range []string{"", "0.0.0.0", "1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3.04", "1.2.3", "1.2.3.4.5",
		"1..2.3", ".1.2.3", "1.2.3.", "1.2.3.4 ", "1234.1.1.1", "::ffff:1.2.3.4", "2001:db8::1", "fe80::1%eth0", "x.1.2.3", "١.2.3.4"} {
		var got, want netip.Addr
		gotOK, wantErr := parseAddr([]byte(s), &got), want.UnmarshalText([]byte(s))
		if gotOK != (wantErr == nil) || got != want {
			t.Errorf("parseAddr(%q) = %v, %v; netip gives %v, %v", s, got, gotOK, want, wantErr)
		}
	}
}
