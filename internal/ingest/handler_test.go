package ingest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-ids/vigil/internal/event"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/testenv"
)

const token = "test-token-0123456789"

type fixture struct {
	srv    *httptest.Server
	stream jetstream.Stream
	js     jetstream.JetStream
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ns := testenv.NATS(t)
	nc := testenv.Connect(t, ns)
	js, err := natsbus.NewJetStream(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	stream, err := natsbus.EnsureStream(ctx, js, natsbus.StreamOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := NewHandler(Options{Tokens: []string{token}, MaxBody: 64 << 10, Timeout: 2 * time.Second}, natsbus.NewPublisher(js, 4, reg), slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, stream: stream, js: js}
}

func (f *fixture) post(t *testing.T, contentType, body, tok string) (int, http.Header, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/events", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, resp.Header, m
}

func (f *fixture) stored(t *testing.T) uint64 {
	t.Helper()
	info, err := f.stream.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func ev(user, ip string) string {
	return `{"kind":"login","time":"` + time.Now().UTC().Format(time.RFC3339) + `","user":"` + user + `","ip":"` + ip + `","success":true,"service":"imap"}`
}

func TestAcceptsObjectArrayAndNDJSON(t *testing.T) {
	f := setup(t)
	code, _, m := f.post(t, "application/json", ev("a@example.org", "81.2.69.142"), token)
	if code != 200 || m["accepted"] != 1.0 {
		t.Fatalf("object: %d %v; want 200 accepted 1", code, m)
	}
	code, _, m = f.post(t, "application/json", "["+ev("b@example.org", "8.8.8.8")+","+ev("c@example.org", "1.1.1.1")+"]", token)
	if code != 200 || m["accepted"] != 2.0 {
		t.Fatalf("array: %d %v; want 200 accepted 2", code, m)
	}
	code, _, m = f.post(t, "application/x-ndjson", ev("d@example.org", "::ffff:8.8.4.4")+"\n"+ev("e@example.org", "2001:db8::1")+"\n", token)
	if code != 200 || m["accepted"] != 2.0 {
		t.Fatalf("ndjson: %d %v; want 200 accepted 2", code, m)
	}
	if n := f.stored(t); n != 5 {
		t.Fatalf("stream holds %d messages; want 5", n)
	}
	// The message for d@ is normalised, carries its id as Nats-Msg-Id and sits on its partition's subject.
	want := event.Event{User: "d@example.org", Kind: event.KindLogin}
	msg, err := f.stream.GetLastMsgForSubject(context.Background(), natsbus.SubjectOf(&want, 4))
	if err != nil {
		t.Fatal(err)
	}
	var got event.Event
	if err := event.Unmarshal(msg.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.IP.String() != "8.8.4.4" || msg.Header.Get("Nats-Msg-Id") != got.ID {
		t.Errorf("stored %+v with Nats-Msg-Id %q; want unmapped IP and the event id", got, msg.Header.Get("Nats-Msg-Id"))
	}
}

func TestPartialBatchReportsEachRejection(t *testing.T) {
	f := setup(t)
	body := ev("a@example.org", "81.2.69.142") + "\n" + ev("b@example.org", "999.1.1.1") + "\n" + `{"kind":"login"}` + "\n" + ev("c@example.org", "8.8.8.8")
	code, _, m := f.post(t, "application/x-ndjson", body, token)
	if code != 200 || m["accepted"] != 2.0 {
		t.Fatalf("mixed batch: %d %v; want 200 with 2 accepted", code, m)
	}
	rej := m["rejected"].([]any)
	if len(rej) != 2 || rej[0].(map[string]any)["index"] != 1.0 || rej[0].(map[string]any)["field"] != "ip" || rej[1].(map[string]any)["index"] != 2.0 {
		t.Errorf("rejected = %v; want index 1 (ip) and index 2", rej)
	}
	if n := f.stored(t); n != 2 {
		t.Errorf("stream holds %d; want the 2 valid events", n)
	}
	code, _, m = f.post(t, "application/json", `[{"kind":"x"}]`, token)
	if code != 400 || m["error"] == nil {
		t.Errorf("all rejected: %d %v; want 400 with an error body", code, m)
	}
}

func TestRetriesAreDeduplicated(t *testing.T) {
	f := setup(t)
	body := ev("a@example.org", "81.2.69.142")
	for range 3 {
		if code, _, m := f.post(t, "application/json", body, token); code != 200 {
			t.Fatalf("post: %d %v", code, m)
		}
	}
	if n := f.stored(t); n != 1 {
		t.Errorf("stream holds %d after three identical posts; want 1", n)
	}
}

func TestRejectsUnauthorisedAndBadBodies(t *testing.T) {
	f := setup(t)
	tests := []struct {
		name, ct, body, tok string
		code                int
	}{
		{"no token", "application/json", ev("a@b.c", "1.1.1.1"), "", 401},
		{"wrong token", "application/json", ev("a@b.c", "1.1.1.1"), "nope-nope-nope-nope", 401},
		{"xml", "application/xml", "<e/>", token, 415},
		{"too large", "application/json", "[" + strings.Repeat(" ", 70<<10) + "]", token, 413},
		{"not json", "application/json", "hello", token, 400},
		{"empty", "application/json", "", token, 400},
	}
	for _, tt := range tests {
		code, _, m := f.post(t, tt.ct, tt.body, tt.tok)
		e, _ := m["error"].(map[string]any)
		if code != tt.code || e["code"] == nil || e["message"] == nil {
			t.Errorf("%s: %d %v; want %d with an error body", tt.name, code, m, tt.code)
		}
	}
	if n := f.stored(t); n != 0 {
		t.Errorf("stream holds %d; want 0", n)
	}
}

func TestUnavailableJetStreamAnswers503(t *testing.T) {
	f := setup(t)
	if err := f.js.DeleteStream(context.Background(), natsbus.DefaultStream); err != nil {
		t.Fatal(err)
	}
	code, hdr, m := f.post(t, "application/json", ev("a@example.org", "81.2.69.142"), token)
	if code != 503 || hdr.Get("Retry-After") == "" {
		t.Fatalf("without a stream: %d %v Retry-After=%q; want 503 with Retry-After", code, m, hdr.Get("Retry-After"))
	}
}

func TestServerDownAnswers503(t *testing.T) {
	ns := testenv.NATS(t)
	nc := testenv.Connect(t, ns)
	js, _ := natsbus.NewJetStream(nc)
	if _, err := natsbus.EnsureStream(context.Background(), js, natsbus.StreamOptions{}); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, _ := NewHandler(Options{Tokens: []string{token}, Timeout: 500 * time.Millisecond}, natsbus.NewPublisher(js, 4, reg), slog.New(slog.DiscardHandler), reg)
	ns.Shutdown()
	req := httptest.NewRequest("POST", "/v1/events", bytes.NewBufferString(ev("a@example.org", "8.8.8.8")))
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	mux := http.NewServeMux()
	h.Register(mux)
	mux.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("NATS down: %d %s; want 503 with Retry-After", rec.Code, rec.Body)
	}
}

func (f *fixture) do(t *testing.T, hdr map[string]string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+"/v1/events", bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultTransport.RoundTrip(req) // no transparent decoding
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("response %q is not JSON: %v", raw, err)
	}
	return resp.StatusCode, m
}

func gzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := setup(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		code, m := f.do(t, map[string]string{"Authorization": scheme + " " + token}, []byte(ev("a@example.org", "81.2.69.142")))
		if code != 200 {
			t.Errorf("Authorization: %s <token>: %d %v; want 200", scheme, code, m)
		}
	}
}

func TestContentEncoding(t *testing.T) {
	f := setup(t)
	auth := "Bearer " + token
	body := []byte(ev("a@example.org", "81.2.69.142") + "\n" + ev("b@example.org", "8.8.8.8"))
	code, m := f.do(t, map[string]string{"Authorization": auth, "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"}, gzipped(t, body))
	if code != 200 || m["accepted"] != 2.0 {
		t.Fatalf("gzip NDJSON: %d %v; want 200 with 2 accepted", code, m)
	}
	// 64 KiB limit in setup: 1 MiB of spaces compresses to about 1 KiB and must still be refused.
	bomb := gzipped(t, append(append([]byte("["), bytes.Repeat([]byte(" "), 1<<20)...), ']'))
	if code, m := f.do(t, map[string]string{"Authorization": auth, "Content-Encoding": "gzip"}, bomb); code != 413 {
		t.Errorf("gzip bomb (%d bytes compressed): %d %v; want 413", len(bomb), code, m)
	}
	if code, m := f.do(t, map[string]string{"Authorization": auth, "Content-Encoding": "gzip"}, body); code != 400 {
		t.Errorf("plain body labelled gzip: %d %v; want 400", code, m)
	}
	if code, m := f.do(t, map[string]string{"Authorization": auth, "Content-Encoding": "br"}, body); code != 415 {
		t.Errorf("Content-Encoding: br: %d %v; want 415", code, m)
	}
	if n := f.stored(t); n != 2 {
		t.Errorf("stream holds %d; want 2", n)
	}
}

func TestEmptyArrayLikeEmptyNDJSON(t *testing.T) {
	f := setup(t)
	auth := "Bearer " + token
	c1, arr := f.do(t, map[string]string{"Authorization": auth, "Content-Type": "application/json"}, []byte("[]"))
	c2, nd := f.do(t, map[string]string{"Authorization": auth, "Content-Type": "application/x-ndjson"}, []byte("\n"))
	msg := func(m map[string]any) any { e, _ := m["error"].(map[string]any); return e["message"] }
	if c1 != 400 || c2 != 400 || msg(arr) != msg(nd) {
		t.Errorf("[] = %d %v; empty NDJSON = %d %v; want the same 400", c1, arr, c2, nd)
	}
}

func TestStrictFieldsNamed(t *testing.T) {
	f := setup(t)
	now := time.Now().UTC().Format(time.RFC3339)
	for _, tt := range []struct{ body, field string }{
		{`{"kind":"login","time":"` + now + `","user":"a\ud800","ip":"1.1.1.1","success":true}`, "user"},
		{`{"KIND":"login","time":"` + now + `","user":"a","ip":"1.1.1.1","success":true}`, "KIND"},
		{`{"kind":"login","time":"` + now + `","user":"a","user":"b","ip":"1.1.1.1","success":true}`, "user"},
		{`{"kind":"send","time":"` + now + `","user":"a","ip":"1.1.1.1","recipients":"5"}`, "recipients"},
		{"{\"kind\":\"login\",\"time\":\"" + now + "\",\"user\":\"a\xff\",\"ip\":\"1.1.1.1\",\"success\":true}", "user"},
	} {
		code, m := f.do(t, map[string]string{"Authorization": "Bearer " + token}, []byte(tt.body))
		rej, _ := m["rejected"].([]any)
		if code != 400 || len(rej) != 1 || rej[0].(map[string]any)["field"] != tt.field {
			t.Errorf("POST %q = %d %v; want 400 naming %s", tt.body, code, m, tt.field)
		}
	}
}
