package console

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiResult is one answer of the auth API.
type apiResult struct {
	Status int
	Header http.Header
	Body   []byte
}

// OK reports a 2xx answer.
func (a *apiResult) OK() bool { return a.Status >= 200 && a.Status < 300 }

// Decode reads the JSON body into v.
func (a *apiResult) Decode(v any) error {
	if err := json.Unmarshal(a.Body, v); err != nil {
		return fmt.Errorf("decode API answer: %w", err)
	}
	return nil
}

// Problem is the API's error message for a failed answer ("" for a 2xx).
func (a *apiResult) Problem() string {
	if a.OK() {
		return ""
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(a.Body, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	return http.StatusText(a.Status)
}

// recorder is the in-process response of an API call.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if r.body.Len()+len(b) > maxAPIAnswer {
		return 0, fmt.Errorf("API answer larger than %d bytes", maxAPIAnswer)
	}
	return r.body.Write(b)
}

// maxAPIAnswer bounds what the console reads from one API answer.
const maxAPIAnswer = 8 << 20

// call sends one request to the auth API in-process, as the browser's request r: the same peer address,
// forwarding headers and session cookie, so the API applies its allow list, client-address rules, rate limits,
// roles and audit exactly as to any other client. body is JSON-encoded unless nil.
func (c *Console) call(r *http.Request, method, path string, body any) (*apiResult, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(r.Context(), method, path, rd)
	if err != nil {
		return nil, err
	}
	req.RemoteAddr = r.RemoteAddr
	req.Host = r.Host
	req.TLS = r.TLS
	for _, h := range []string{"X-Forwarded-For", "User-Agent"} {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = v
		}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := sessionToken(r); tok != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: tok})
	}
	rec := &recorder{header: http.Header{}}
	c.api.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	return &apiResult{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}, nil
}

// sessionCookie is the auth API's session cookie (HttpOnly, SameSite=Strict, Secure), set by its login answers.
const sessionCookie = "vigil_session"

func sessionToken(r *http.Request) string {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) > 256 || !strings.HasPrefix(c.Value, "vs_") {
		return ""
	}
	return c.Value
}

// passCookies copies the API's Set-Cookie headers (a new or cleared session) to the browser.
func passCookies(w http.ResponseWriter, a *apiResult) {
	for _, v := range a.Header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", v)
	}
}
