package event

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// cases are shared by the Go validation test and the JSON Schema agreement test.
var cases = []struct {
	name  string
	in    string
	field string // "" = valid; otherwise the field the error must name
	// goOnly marks rules JSON Schema cannot express (clock, canonical forms).
	goOnly bool
}{
	{"login", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"Alice@Example.org","ip":"81.2.69.142","success":true}`, "", false},
	{"send", `{"kind":"send","time":"2026-11-24T09:30:00+01:00","user":"bob@example.org","ip":"2001:db8::1","recipients":3,"size":100,"message_id":"<a@b>"}`, "", false},
	{"all optional", `{"id":"x-1","kind":"login","time":"2026-11-24T09:30:00.123Z","user":"c@d.org","domain":"D.org","ip":"1.1.1.1","service":"webmail","success":false,"source":"mx1","session":"s1","pwhash":"0abc"}`, "", false},
	{"unknown field", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","success":true,"color":"red"}`, "color", false},
	{"missing kind", `{"time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1"}`, "kind", false},
	{"bad kind", `{"kind":"logout","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1"}`, "kind", false},
	{"missing time", `{"kind":"login","user":"a","ip":"1.1.1.1","success":true}`, "time", false},
	{"bad time", `{"kind":"login","time":"yesterday","user":"a","ip":"1.1.1.1","success":true}`, "time", false},
	{"time without zone", `{"kind":"login","time":"2026-11-24T09:30:00","user":"a","ip":"1.1.1.1","success":true}`, "time", false},
	{"future time", `{"kind":"login","time":"2026-11-24T12:06:00Z","user":"a","ip":"1.1.1.1","success":true}`, "time", true},
	{"near future ok", `{"kind":"login","time":"2026-11-24T12:04:00Z","user":"a","ip":"1.1.1.1","success":true}`, "", false},
	{"time as number", `{"kind":"login","time":5,"user":"a","ip":"1.1.1.1","success":true}`, "time", false},
	{"missing user", `{"kind":"login","time":"2026-11-24T09:30:00Z","ip":"1.1.1.1","success":true}`, "user", false},
	{"empty user", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"","ip":"1.1.1.1","success":true}`, "user", false},
	{"long user", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"` + strings.Repeat("u", 321) + `","ip":"1.1.1.1","success":true}`, "user", false},
	{"missing ip", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","success":true}`, "ip", false},
	{"bad ip", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.2.3","success":true}`, "ip", false},
	{"ip with zone", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"fe80::1%eth0","success":true}`, "ip", false},
	{"hostname ip", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"mail.example.org","success":true}`, "ip", false},
	{"bad service", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","service":"ftp","success":true}`, "service", false},
	{"login without success", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1"}`, "success", false},
	{"success as string", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","success":"yes"}`, "success", false},
	{"login with recipients", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","success":true,"recipients":1}`, "recipients", false},
	{"send without recipients", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1"}`, "recipients", false},
	{"zero recipients", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":0}`, "recipients", false},
	{"fractional recipients", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1.5}`, "recipients", false},
	{"negative size", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1,"size":-1}`, "size", false},
	{"send with success", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1,"success":true}`, "success", false},
	{"long id", `{"id":"` + strings.Repeat("i", 129) + `","kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1}`, "id", false},
	{"bad pwhash", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","success":true,"pwhash":"xyz"}`, "pwhash", false},
	{"invalid utf-8 user", "{\"kind\":\"login\",\"time\":\"2026-11-24T09:30:00Z\",\"user\":\"a\xffb\",\"ip\":\"1.1.1.1\",\"success\":true}", "user", true},
	{"lone surrogate user", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a\ud800b","ip":"1.1.1.1","success":true}`, "user", true},
	{"lone low surrogate source", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","success":true,"source":"\udc00"}`, "source", true},
	{"surrogate pair ok", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a\ud83d\ude00","ip":"1.1.1.1","success":true}`, "", false},
	{"upper-case field", `{"KIND":"login","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","success":true}`, "KIND", false},
	{"mixed-case field", `{"kind":"login","time":"2026-11-24T09:30:00Z","User":"a","ip":"1.1.1.1","success":true}`, "User", false},
	{"duplicate user", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","user":"b","ip":"1.1.1.1","success":true}`, "user", true},
	{"duplicate via escape", `{"kind":"login","time":"2026-11-24T09:30:00Z","user":"a","\u0075ser":"b","ip":"1.1.1.1","success":true}`, "user", true},
	{"quoted recipients", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":"5"}`, "recipients", false},
	{"quoted exponent recipients", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":"5e0"}`, "recipients", false},
	{"quoted size", `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1,"size":"10"}`, "size", false},
	{"id with space", `{"id":"a b","kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1}`, "id", false},
	{"non-ascii id", `{"id":"caf\u00e9","kind":"send","time":"2026-11-24T09:30:00Z","user":"a","ip":"1.1.1.1","recipients":1}`, "id", false},
	{"not an object", `[1]`, "", false},
}

func TestParse(t *testing.T) {
	for _, tt := range cases {
		if tt.name == "not an object" {
			continue
		}
		_, err := Parse([]byte(tt.in), now)
		if tt.field == "" {
			if err != nil {
				t.Errorf("%s: Parse(%q) = %v; want success", tt.name, tt.in, err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("%s: Parse(%q) = %v; want an error naming field %q", tt.name, tt.in, err, tt.field)
		}
	}
}

func TestNormalise(t *testing.T) {
	in := `{"kind":"login","time":"2026-11-24T10:30:00+01:00","user":" Alice@Example.ORG ","ip":"::ffff:81.2.69.142","success":true,"pwhash":"0ABC"}`
	got, err := Parse([]byte(in), now)
	if err != nil {
		t.Fatalf("Parse(%q) = %v", in, err)
	}
	want := Event{
		Kind: KindLogin, Time: time.Date(2026, 11, 24, 9, 30, 0, 0, time.UTC), User: "alice@example.org",
		Domain: "example.org", IP: netip.MustParseAddr("81.2.69.142"), Service: "other", Success: true, PWHash: "0abc",
	}
	want.ID = ContentID(&want)
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Parse(%q) mismatch (-want +got):\n%s", in, diff)
	}
	// The same content gives the same id, whatever its spelling.
	again, _ := Parse([]byte(`{"success":true,"ip":"81.2.69.142","user":"alice@example.org","time":"2026-11-24T09:30:00Z","kind":"login","pwhash":"0abc"}`), now)
	if again.ID != got.ID {
		t.Errorf("content ids differ for the same event: %s vs %s", again.ID, got.ID)
	}
}

func TestDecodeBatch(t *testing.T) {
	good := `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a@b.c","ip":"1.1.1.1","recipients":1}`
	bad := `{"kind":"send","time":"2026-11-24T09:30:00Z","user":"a@b.c","ip":"1.1.1","recipients":1}`

	items, err := DecodeBatch([]byte("["+good+","+bad+","+good+"]"), false, now)
	if err != nil || len(items) != 3 || items[0].Err != nil || items[1].Err == nil || items[2].Err != nil {
		t.Fatalf("DecodeBatch(array) = %+v, %v; want 3 items with only index 1 rejected", items, err)
	}
	items, err = DecodeBatch([]byte(good+"\n\n"+bad+"\n"+"{not json\n"+good), true, now)
	if err != nil || len(items) != 4 {
		t.Fatalf("DecodeBatch(ndjson) = %d items, %v; want 4", len(items), err)
	}
	if items[1].Index != 2 || items[1].Err == nil || items[2].Index != 3 || items[2].Err == nil || items[3].Err != nil {
		t.Errorf("NDJSON items = %+v; want line indexes 2 and 3 rejected, 4 accepted", items)
	}
	for _, body := range []string{"", "  ", "42", `"x"`, "[1,", "\n\n"} {
		if _, err := DecodeBatch([]byte(body), body == "\n\n", now); !errors.Is(err, ErrBadBody) {
			t.Errorf("DecodeBatch(%q) = %v; want ErrBadBody", body, err)
		}
	}
	many := "[" + strings.Repeat(good+",", MaxBatch) + good + "]"
	if _, err := DecodeBatch([]byte(many), false, now); !errors.Is(err, ErrBadBody) {
		t.Errorf("DecodeBatch(%d events) = %v; want ErrBadBody", MaxBatch+1, err)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	for _, tt := range cases[:3] {
		ev, err := Parse([]byte(tt.in), now)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Marshal(&ev)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal(%s) = %v", b, err)
		}
		if diff := cmp.Diff(ev, back, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", tt.name, diff)
		}
		// A normalised event re-parses to itself with the strict parser too.
		again, err := Parse(b, now)
		if err != nil || again.ID != ev.ID {
			t.Errorf("Parse(Marshal(%s)) = %v, id %s; want id %s", tt.name, err, again.ID, ev.ID)
		}
	}
}

func TestPartitionIsStable(t *testing.T) {
	// Fixed values: changing the hash would move users between detector instances.
	for user, want := range map[string]int{"alice@example.org": 1, "bob@example.org": 10, "": 5} {
		if got := Partition(user, 16); got != want {
			t.Errorf("Partition(%q, 16) = %d; want %d", user, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, tt := range cases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := Parse(data, now)
		if err != nil {
			return
		}
		b, err := Marshal(&ev)
		if err != nil {
			t.Fatalf("Marshal of accepted event: %v", err)
		}
		if err := checkStrict(data); err != nil && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
			t.Fatalf("Parse accepted %q, which the schema forbids: %v", data, err)
		}
		back, err := Parse(b, now)
		if err != nil {
			t.Fatalf("accepted event %q re-encodes to %s which is rejected: %v", data, b, err)
		}
		if back.ID != ev.ID || back.User != ev.User || back.IP != ev.IP {
			t.Fatalf("re-parse changed the event: %+v vs %+v", ev, back)
		}
	})
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add([]byte(cases[0].in+"\n"+cases[1].in), true)
	f.Add([]byte("["+cases[0].in+"]"), false)
	f.Fuzz(func(t *testing.T, data []byte, ndjson bool) {
		items, err := DecodeBatch(data, ndjson, now)
		if err != nil {
			return
		}
		for _, it := range items {
			if it.Err == nil && it.Event.ID == "" {
				t.Fatalf("accepted item without id: %+v", it)
			}
		}
	})
}
