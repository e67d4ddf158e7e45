// Package webmail2fa is the Go client of Vigil's mailbox two-factor API for webmail and control-panel integrators
// (docs/webmail-2fa.md): after the password check, ask Status what to do (Next), then Verify the code the user gave.
//
// The client depends on the standard library only. Every error means "do not open the mailbox": the package never
// turns an unreachable or confused Vigil into a successful login.
package webmail2fa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Next is what the webmail does after the password check.
type Next string

// The steps Status answers.
const (
	Open   Next = "open"   // open the mailbox
	Verify Next = "verify" // ask for one of Status.Methods; open only when Client.Verify succeeds
	Enroll Next = "enroll" // the domain requires 2FA and the user has none: call Client.Enroll, do not open
	Deny   Next = "deny"   // an open incident, no second factor, and the domain denies or requires 2FA: do not open
)

// Methods of Status.Methods.
const (
	MethodTOTP   = "totp"        // a code of the authenticator app
	MethodEmail  = "email"       // a code sent by Client.SendEmailCode
	MethodBackup = "backup_code" // one of the ten backup codes
)

// Status is a user's second factor as the API reports it.
type Status struct {
	User           string   `json:"user"`
	Policy         string   `json:"policy"` // the domain's: required, optional or off
	Enrolled       bool     `json:"enrolled"`
	Required       bool     `json:"required"`
	Methods        []string `json:"methods"`
	StepUpRequired bool     `json:"step_up_required"` // an open incident asks for a second factor now
	Locked         bool     `json:"locked"`
	Next           Next     `json:"next"`
	EmailTo        string   `json:"email_to,omitempty"` // masked address of an e-mailed step-up code, like a***@example.org
}

// Code is what the user typed: set exactly one field.
type Code struct {
	TOTP   string // six digits from the authenticator app
	Backup string // a backup code, like abcd-efgh-ijkm-npqr
	Email  string // six digits from the e-mailed code
}

// Result is a passed verification.
type Result struct {
	Result string `json:"result"` // "passed"
	Method string `json:"method"`
	StepUp bool   `json:"step_up"` // it was asked because of an open incident (and is recorded on it)
}

// Error is an error answer of the API.
type Error struct {
	Status     int           // HTTP status
	Code       string        // the API's error code, like invalid_credentials
	Message    string        // for logs, not for users
	RetryAfter time.Duration // with 429
}

func (e *Error) Error() string {
	return fmt.Sprintf("vigil mailbox 2fa: %d %s: %s", e.Status, e.Code, e.Message)
}

// Is matches ErrInvalidCode, ErrThrottled, ErrDenied, ErrNotEnrolled and ErrIncidentOpen.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalidCode:
		return e.Code == "invalid_credentials"
	case ErrThrottled:
		return e.Status == http.StatusTooManyRequests
	case ErrDenied:
		return e.Code == "step_up_denied"
	case ErrNotEnrolled:
		return e.Code == "not_enrolled"
	case ErrIncidentOpen:
		return e.Code == "incident_open"
	}
	return false
}

// Errors to test with errors.Is; each is also an *Error.
var (
	ErrInvalidCode  = errors.New("wrong, replayed or expired code, or the user is locked")
	ErrThrottled    = errors.New("too many attempts; retry later")
	ErrDenied       = errors.New("the login is denied while the user's incident is open")
	ErrNotEnrolled  = errors.New("the user has no second factor")
	ErrIncidentOpen = errors.New("no enrollment while the user has an open incident")
)

// Client calls one Vigil auth API with an API key of scope mailbox-2fa.
type Client struct {
	base string
	key  string
	hc   *http.Client
}

// maxAnswer bounds the answer body read.
const maxAnswer = 64 << 10

// New returns a client of the auth API at baseURL (like https://vigil.example.org) with an API key of scope
// mailbox-2fa. hc nil uses a client with a 5-second timeout.
func New(baseURL, apiKey string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("vigil mailbox 2fa: base URL %q: want http(s)://host[:port]", baseURL)
	}
	if apiKey == "" || strings.ContainsAny(apiKey, " \r\n") {
		return nil, errors.New("vigil mailbox 2fa: an API key is required")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Second}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), key: apiKey, hc: hc}, nil
}

// Status asks what to do with user's login (after the password check). clientIP is the user's address as the
// webmail saw it ("" for none); a denied or allowed step-up is recorded on the incident with it.
func (c *Client) Status(ctx context.Context, user, clientIP string) (*Status, error) {
	path := ""
	if clientIP != "" {
		path = "?client_ip=" + url.QueryEscape(clientIP)
	}
	var st Status
	if err := c.do(ctx, http.MethodGet, user, path, nil, http.StatusOK, &st); err != nil {
		return nil, err
	}
	switch st.Next {
	case Open, Verify, Enroll, Deny:
		return &st, nil
	}
	return nil, fmt.Errorf("vigil mailbox 2fa: status of %s: unknown next step %q (a newer server? deny to be safe)", user, st.Next)
}

// Verify checks the code the user typed; only a nil error opens the mailbox. clientIP is the user's address.
func (c *Client) Verify(ctx context.Context, user string, code Code, clientIP string) (*Result, error) {
	body := map[string]string{}
	for k, v := range map[string]string{"code": code.TOTP, "backup_code": code.Backup, "email_code": code.Email} {
		if v != "" {
			body[k] = v
		}
	}
	if len(body) != 1 {
		return nil, errors.New("vigil mailbox 2fa: set exactly one of Code.TOTP, Code.Backup and Code.Email")
	}
	if clientIP != "" {
		body["client_ip"] = clientIP
	}
	var res Result
	if err := c.do(ctx, http.MethodPost, user, "/verify", body, http.StatusOK, &res); err != nil {
		return nil, err
	}
	if res.Result != "passed" {
		return nil, fmt.Errorf("vigil mailbox 2fa: verify of %s answered %q", user, res.Result)
	}
	return &res, nil
}

// SendEmailCode mails the user a one-time code (Status.Methods has "email", or Status.EmailTo is set during a
// step-up); at most one a minute.
func (c *Client) SendEmailCode(ctx context.Context, user string) error {
	return c.do(ctx, http.MethodPost, user, "/email-code", nil, http.StatusAccepted, nil)
}

// Enroll mails the user a single-use link to the enrollment page (ErrIncidentOpen while the user has an open
// incident). recovery ("" for none) receives e-mailed codes
// when emailCodes is set. It returns when the link expires.
func (c *Client) Enroll(ctx context.Context, user, recovery string, emailCodes bool) (time.Time, error) {
	body := map[string]any{}
	if recovery != "" {
		body["recovery_address"] = recovery
	}
	if emailCodes {
		body["email_codes"] = true
	}
	var res struct {
		Expires time.Time `json:"link_expires"`
	}
	err := c.do(ctx, http.MethodPost, user, "/enroll", body, http.StatusAccepted, &res)
	return res.Expires, err
}

// Disable removes the user's second factor with a current code (refused where the domain requires 2FA).
func (c *Client) Disable(ctx context.Context, user string, code Code) error {
	body := map[string]string{}
	for k, v := range map[string]string{"code": code.TOTP, "backup_code": code.Backup, "email_code": code.Email} {
		if v != "" {
			body[k] = v
		}
	}
	if len(body) != 1 {
		return errors.New("vigil mailbox 2fa: set exactly one of Code.TOTP, Code.Backup and Code.Email")
	}
	return c.do(ctx, http.MethodPost, user, "/disable", body, http.StatusNoContent, nil)
}

// do sends one request for user's path and decodes the answer into out when the status is want.
func (c *Client) do(ctx context.Context, method, user, path string, body any, want int, out any) error {
	if user == "" || len(user) > 320 {
		return errors.New("vigil mailbox 2fa: user: a mailbox address of at most 320 bytes")
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+"/v1/mailbox-2fa/"+url.PathEscape(user)+path, rd)
	if err != nil {
		return fmt.Errorf("vigil mailbox 2fa: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("vigil mailbox 2fa: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("vigil mailbox 2fa: read answer: %w", err)
	}
	if resp.StatusCode != want {
		e := &Error{Status: resp.StatusCode, Code: "unexpected_status", Message: http.StatusText(resp.StatusCode)}
		var ans struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &ans) == nil && ans.Error.Code != "" {
			e.Code, e.Message = ans.Error.Code, ans.Error.Message
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("vigil mailbox 2fa: answer: %w", err)
	}
	return nil
}
