package respond

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Doveadm kicks users through Dovecot's doveadm HTTP API (service doveadm { inet_listener http }), authenticated
// with doveadm_api_key.
type Doveadm struct {
	endpoint string
	auth     string
	client   *http.Client
}

// NewDoveadm returns a client for the doveadm HTTP API at rawURL (http://host:8080, or the full
// http://host:8080/doveadm/v1) with the API key.
func NewDoveadm(rawURL, key string) (*Doveadm, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" {
		return nil, fmt.Errorf("doveadm URL %.80q: want http(s)://host:port[/doveadm/v1] without credentials or query", rawURL)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/doveadm/v1"
	}
	key = strings.TrimSpace(key)
	if key == "" || len(key) > 1024 || strings.ContainsFunc(key, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
		return nil, errors.New("doveadm API key: 1-1024 printable characters without spaces")
	}
	return &Doveadm{endpoint: u.String(), auth: "X-Dovecot-API " + base64.StdEncoding.EncodeToString([]byte(key)),
		client: &http.Client{Timeout: 10 * time.Second}}, nil
}

// Kick ends every IMAP/POP3 session of user (doveadm kick <user>); a user without sessions is no error. It reports
// an error when the API refuses the command or does not answer.
func (c *Doveadm) Kick(ctx context.Context, user string) error {
	body, err := json.Marshal([]any{[]any{"kick", map[string]any{"mask": []string{user}}, "vigil"}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", c.auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return fmt.Errorf("doveadm kick: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("doveadm kick: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("doveadm kick: HTTP %d", resp.StatusCode)
	}
	return parseDoveadm(data)
}

// exitNotFound is doveadm's exit code when kick found no session of the user (DOVEADM_EX_NOTFOUND).
const exitNotFound = 68

// parseDoveadm reads the answer to one command: [["doveadmResponse",[...],"vigil"]] or
// [["error",{"type":"exitCode","exitCode":68},"vigil"]]; the latter, no session found, is success for a kick.
func parseDoveadm(data []byte) error {
	var answers [][]json.RawMessage
	if err := json.Unmarshal(data, &answers); err != nil || len(answers) != 1 || len(answers[0]) < 2 {
		return fmt.Errorf("doveadm kick: unexpected answer %.120q", data)
	}
	var kind string
	if err := json.Unmarshal(answers[0][0], &kind); err != nil {
		return fmt.Errorf("doveadm kick: unexpected answer %.120q", data)
	}
	switch kind {
	case "doveadmResponse":
		return nil
	case "error":
		var e struct {
			Type     string `json:"type"`
			ExitCode int    `json:"exitCode"`
		}
		_ = json.Unmarshal(answers[0][1], &e)
		if e.Type == "exitCode" && e.ExitCode == exitNotFound {
			return nil // no session of the user was open: nothing left to end
		}
		return fmt.Errorf("doveadm kick: %s (exit code %d)", e.Type, e.ExitCode)
	}
	return fmt.Errorf("doveadm kick: unexpected answer %.120q", data)
}
