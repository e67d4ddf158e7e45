package dovecot

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/event"
)

// Options configures the endpoint. The zero value of every field but Tokens is a usable default.
type Options struct {
	Header   string           // header carrying the token (auth_policy_server_api_header); default X-API-Key
	Tokens   []string         // accepted tokens; at least one
	Source   string           // name of the reporting server on events; default the peer's address
	Buffer   int              // reports held while the event store is slow; default 10,000
	MaxBody  int64            // largest request body; default 64 KiB
	Sessions int              // sessions whose failed attempts are numbered; default 100,000
	Now      func() time.Time // clock; default time.Now
	// Decisions answers allow requests (block_login, tarpit); nil observes only: every allow is {"status":0}.
	Decisions *decision.Index
	// BlockMessage is what a refused client is told when its decision has no reason; default DefaultBlockMessage.
	BlockMessage string
}

// Defaults of Options.
const (
	DefaultHeader   = "X-API-Key"
	DefaultBuffer   = 10000
	DefaultMaxBody  = 64 << 10
	DefaultSessions = 100000
)

func (o *Options) setDefaults() {
	if o.Header == "" {
		o.Header = DefaultHeader
	}
	if o.Buffer == 0 {
		o.Buffer = DefaultBuffer
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Sessions == 0 {
		o.Sessions = DefaultSessions
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.BlockMessage == "" {
		o.BlockMessage = DefaultBlockMessage
	}
}

// Validate reports every problem with the options (after defaults).
func (o Options) Validate() error {
	o.setDefaults()
	var errs []error
	if len(o.Tokens) == 0 {
		errs = append(errs, errors.New("dovecot policy: at least one API token is required (VIGIL_DOVECOT_TOKENS)"))
	}
	for i, t := range o.Tokens {
		if t == "" || strings.ContainsFunc(t, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("dovecot policy: token %d is empty or holds spaces or control characters", i+1))
		}
	}
	if !validHeaderName(o.Header) {
		errs = append(errs, fmt.Errorf("dovecot policy: %q is not a header name", o.Header))
	}
	if len(o.Source) > event.MaxSourceLen {
		errs = append(errs, fmt.Errorf("dovecot policy: source name longer than %d bytes", event.MaxSourceLen))
	}
	if o.Buffer < 1 || o.Buffer > 10_000_000 {
		errs = append(errs, fmt.Errorf("dovecot policy: buffer %d: want 1-10000000", o.Buffer))
	}
	if o.MaxBody < 1<<10 || o.MaxBody > 16<<20 {
		errs = append(errs, fmt.Errorf("dovecot policy: body limit %d: want 1 KiB-16 MiB", o.MaxBody))
	}
	if o.Sessions < 1 || o.Sessions > 10_000_000 {
		errs = append(errs, fmt.Errorf("dovecot policy: sessions %d: want 1-10000000", o.Sessions))
	}
	if len(o.BlockMessage) > decision.MaxReasonLen || strings.ContainsFunc(o.BlockMessage, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errs = append(errs, fmt.Errorf("dovecot policy: block message: at most %d bytes without control characters (VIGIL_BLOCK_MESSAGE)", decision.MaxReasonLen))
	}
	return errors.Join(errs...)
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}
