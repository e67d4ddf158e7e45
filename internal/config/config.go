// Package config reads Vigil's configuration from flags with VIGIL_* environment fallbacks.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-ids/vigil/internal/rule"
)

// Config is the configuration of every Vigil process; each binary uses and validates the parts it runs.
type Config struct {
	LogLevel  string
	LogFormat string

	NATSURL    string // external NATS (cmd/ingest, cmd/detector, CLI)
	DataDir    string // single node: embedded JetStream and private ClickHouse
	NATSListen string // single node: client address of the embedded NATS server; "" disables

	Partitions     int
	StreamReplicas int
	StreamMaxAge   time.Duration
	Duplicates     time.Duration

	IngestAddr    string
	IngestTokens  []string
	IngestMaxBody int64

	AuthAddr        string
	AuthKey         string
	AuthKeyFile     string
	AuthIssuer      string
	AuthSessionTTL  time.Duration
	AuthIdleTimeout time.Duration
	AuthRequire2FA  []string
	TrustedProxies  string

	DovecotTokens []string
	DovecotHeader string
	PostfixAddr   string

	Enforce         string // "on": the mail-server endpoints answer from the decisions; "off": they only watch
	BlockMessage    string // Dovecot's message for a block_login decision without a reason
	DecisionsBucket string

	DetectorAddr       string // cmd/detector: /healthz, /readyz, /metrics
	DetectorPartitions string // owned partitions, like "0-7,12"; "" = all
	BatchSize          int
	FlushInterval      time.Duration
	DetectorGroup      string        // "on": join the detector group instead of owning DetectorPartitions; "off"
	DetectorGroupTTL   time.Duration // group lease: a member silent for this long has left

	GeoIPDB     string
	GeoIPCityDB []string // City files for impossible_travel (VIGIL_GEOIP_CITY_DB); empty: the rule is off unless GeoIPDB is a City file

	ClickHouseAddr         string
	ClickHouseDatabase     string
	ClickHouseUser         string
	ClickHousePassword     string
	ClickHousePasswordFile string
	ClickHouseStart        string // single node: auto | never
	ClickHouseCluster      string // cluster name for ON CLUSTER migrations; empty = one server

	MultiCountry  int
	SendVolume    int
	BruteForce    int
	NewCountry    int
	TravelKmh     int // impossible_travel threshold in km/h; 0 takes the rule's default
	DomainRules   string
	TrustedBucket string
	PasswordSpray int // password_spray: distinct users failed from one address or prefix in 24h

	// Mailbox-user 2FA (internal/mailbox2fa); off while Mailbox2FAURL is empty.
	Mailbox2FAURL                string
	Mailbox2FASMTP               string
	Mailbox2FAFrom               string
	Mailbox2FALinkTTL            time.Duration
	Mailbox2FAQRTTL              time.Duration
	Mailbox2FACodeTTL            time.Duration
	Mailbox2FAIssuers            string
	Mailbox2FAPolicy             string
	Mailbox2FAPolicies           string
	Mailbox2FAUnenrolled         string
	Mailbox2FAUnenrolledPolicies string

	// Notifications (internal/notify); each sink is off while its address is empty.
	NotifyWebhooks         []string
	NotifyWebhookSecrets   string
	NotifyTimeout          time.Duration
	NotifyMaxDeliver       int
	NotifyBackoff          time.Duration
	NotifyBackoffMax       time.Duration
	AlertmanagerURL        string
	AlertmanagerResend     time.Duration
	ConsoleURL             string
	NotifySMTP             string
	NotifySMTPUser         string
	NotifySMTPPasswordFile string
	NotifySMTPStartTLS     string
	NotifyMailFrom         string
	NotifyMailTo           []string
	NotifyMailDigest       time.Duration
	NotifyMailOwner        string

	// Quarantine: the mail host's name and, for vigil mailhost, Postfix's tools.
	MailhostName          string
	MailhostPostsuper     string
	MailhostSudo          string
	MailhostPostqueue     string
	MailhostPostfixConfig string
	MailhostAddr          string

	// Containment (internal/respond).
	Responder         string // on | off
	ContainmentPolicy string
	PolicyCheck       time.Duration // how often the containment policy file is checked for a change
	DoveadmURL        string
	DoveadmKeyFile    string
}

// Var describes one setting: its flag, environment variable, default and meaning (the README's reference), and the
// Config field it sets.
type Var struct {
	Flag, Env, Default, Usage string
	field                     func(*Config) any
}

// Load parses args (without the program name) with environment fallbacks from getenv. Every malformed value is
// reported at once; a -h or -help answers flag.ErrHelp after printing the usage to stderr.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, err := Register(fs, getenv)
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return c, c.Resolve()
}

// Register binds every setting's flag on fs, with the environment's value (from getenv) or the default as its
// starting value, and returns the Config that fs.Parse fills; call Resolve after parsing. The error reports every
// malformed environment value at once (the flags are registered all the same).
func Register(fs *flag.FlagSet, getenv func(string) string) (*Config, error) {
	c := &Config{}
	var errs []error
	for _, v := range Vars {
		if err := bind(fs, v, c, envOr(getenv, v.Env, v.Default)); err != nil {
			errs = append(errs, err)
		}
	}
	return c, errors.Join(errs...)
}

// Resolve completes a Config filled by parsing the flags Register bound: it validates every setting and reads the
// ClickHouse password file.
func (c *Config) Resolve() error {
	if c.AuthRequire2FA == nil {
		c.AuthRequire2FA = []string{}
	}
	if err := c.Validate(); err != nil {
		return err
	}
	if c.ClickHousePasswordFile != "" {
		if c.ClickHousePassword != "" {
			return errors.New("VIGIL_CLICKHOUSE_PASSWORD and VIGIL_CLICKHOUSE_PASSWORD_FILE are both set: use one")
		}
		b, err := os.ReadFile(c.ClickHousePasswordFile)
		if err != nil {
			return fmt.Errorf("VIGIL_CLICKHOUSE_PASSWORD_FILE: %w", err)
		}
		c.ClickHousePassword = strings.TrimRight(string(b), "\r\n")
	}
	return nil
}

// bind registers v's flag on fs with def (the environment's value or the default) as its starting value.
func bind(fs *flag.FlagSet, v Var, c *Config, def string) error {
	usage := v.Usage + " (" + v.Env + ")"
	switch p := v.field(c).(type) {
	case *string:
		fs.StringVar(p, v.Flag, def, usage)
	case *[]string:
		*p = splitList(def)
		fs.Func(v.Flag, usage, func(s string) error { *p = splitList(s); return nil })
	case *int:
		n, err := strconv.Atoi(def)
		fs.IntVar(p, v.Flag, n, usage)
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", v.Env, def)
		}
	case *int64:
		n, err := strconv.ParseInt(def, 10, 64)
		fs.Int64Var(p, v.Flag, n, usage)
		if err != nil {
			return fmt.Errorf("%s: %q is not an integer", v.Env, def)
		}
	case *time.Duration:
		d, err := time.ParseDuration(def)
		fs.DurationVar(p, v.Flag, d, usage)
		if err != nil {
			return fmt.Errorf("%s: %q is not a duration like 1s or 25h", v.Env, def)
		}
	default:
		return fmt.Errorf("config: %s has a field of unsupported type %T", v.Env, p)
	}
	return nil
}

// Validate reports every setting out of range at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Partitions < 1 || c.Partitions > 1024 {
		errs = append(errs, fmt.Errorf("VIGIL_PARTITIONS %d: must be 1-1024", c.Partitions))
	}
	if c.StreamReplicas < 1 || c.StreamReplicas > 5 {
		errs = append(errs, fmt.Errorf("VIGIL_STREAM_REPLICAS %d: must be 1-5", c.StreamReplicas))
	}
	if c.StreamMaxAge < 25*time.Hour {
		errs = append(errs, fmt.Errorf("VIGIL_STREAM_MAX_AGE %s: must be at least 25h (the detector replays 24h)", c.StreamMaxAge))
	}
	if c.Duplicates <= 0 || c.Duplicates > c.StreamMaxAge {
		errs = append(errs, fmt.Errorf("VIGIL_STREAM_DUPLICATES %s: must be positive and at most VIGIL_STREAM_MAX_AGE", c.Duplicates))
	}
	if c.IngestMaxBody < 1024 {
		errs = append(errs, fmt.Errorf("VIGIL_INGEST_MAX_BODY %d: must be at least 1024 bytes", c.IngestMaxBody))
	}
	if c.BatchSize < 1 {
		errs = append(errs, fmt.Errorf("VIGIL_BATCH_SIZE %d: must be positive", c.BatchSize))
	}
	if c.FlushInterval <= 0 {
		errs = append(errs, fmt.Errorf("VIGIL_FLUSH_INTERVAL %s: must be positive", c.FlushInterval))
	}
	if c.ClickHouseStart != "auto" && c.ClickHouseStart != "never" {
		errs = append(errs, fmt.Errorf("VIGIL_CLICKHOUSE_START %q: want auto or never", c.ClickHouseStart))
	}
	if len(c.GeoIPCityDB) > 2 {
		errs = append(errs, fmt.Errorf("VIGIL_GEOIP_CITY_DB: %d files; want one City file, or DB-IP's IPv4 and IPv6 files", len(c.GeoIPCityDB)))
	}
	if _, err := c.OwnedPartitions(); err != nil {
		errs = append(errs, fmt.Errorf("VIGIL_DETECTOR_PARTITIONS: %w", err))
	}
	if c.PolicyCheck < time.Second || c.PolicyCheck > time.Hour {
		errs = append(errs, fmt.Errorf("VIGIL_CONTAINMENT_POLICY_CHECK %s: want 1s-1h", c.PolicyCheck))
	}
	if c.Responder != "on" && c.Responder != "off" {
		errs = append(errs, fmt.Errorf("VIGIL_RESPONDER %q: want on or off", c.Responder))
	}
	if (c.DoveadmURL == "") != (c.DoveadmKeyFile == "") {
		errs = append(errs, errors.New("VIGIL_DOVEADM_URL and VIGIL_DOVEADM_KEY_FILE come together: the kick action needs both"))
	}
	switch c.DetectorGroup {
	case "", "off":
	case "on":
		if c.DetectorPartitions != "" {
			errs = append(errs, errors.New("VIGIL_DETECTOR_GROUP=on and VIGIL_DETECTOR_PARTITIONS exclude each other: a group member owns what the group assigns it"))
		}
	default:
		errs = append(errs, fmt.Errorf("VIGIL_DETECTOR_GROUP %q: want on or off", c.DetectorGroup))
	}
	if c.Enforce != "on" && c.Enforce != "off" {
		errs = append(errs, fmt.Errorf("VIGIL_ENFORCE %q: want on or off", c.Enforce))
	}
	if len(c.BlockMessage) > 200 || strings.ContainsFunc(c.BlockMessage, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errs = append(errs, errors.New("VIGIL_BLOCK_MESSAGE: at most 200 bytes, no line breaks or control characters"))
	}
	if c.DetectorGroupTTL != 0 && (c.DetectorGroupTTL < time.Second || c.DetectorGroupTTL > time.Minute) {
		errs = append(errs, fmt.Errorf("VIGIL_DETECTOR_GROUP_TTL %s: must be 1s-1m", c.DetectorGroupTTL))
	}
	if _, err := c.Rules(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Logger(io.Discard); err != nil {
		errs = append(errs, err)
	}
	if _, _, err := c.Mailbox2FA(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.Notify(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func splitList(s string) []string {
	var out []string
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

// Rules returns the detection thresholds.
func (c *Config) Rules() (rule.Config, error) {
	domains, err := rule.ParseDomains(c.DomainRules)
	if err != nil {
		return rule.Config{}, fmt.Errorf("VIGIL_RULE_DOMAINS: %w", err)
	}
	r := rule.Config{Global: rule.Thresholds{"multi_country": c.MultiCountry, "send_volume": c.SendVolume, "brute_force": c.BruteForce, "new_country": c.NewCountry}, Domains: domains}
	if c.TravelKmh != 0 {
		r.Global["impossible_travel"] = c.TravelKmh
	}
	r.Global[rule.PasswordSprayName] = c.PasswordSpray
	return r, r.Validate()
}

// OwnedPartitions parses DetectorPartitions ("0-7,12"); nil means all.
func (c *Config) OwnedPartitions() ([]int, error) {
	return ParseRanges(c.DetectorPartitions, c.Partitions)
}

// ParseRanges parses "0-7,12" into partition numbers below n.
func ParseRanges(s string, n int) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || a < 0 || b < a || b >= n {
			return nil, fmt.Errorf("partitions %q: %q is not a partition or range within 0-%d", s, part, n-1)
		}
		for p := a; p <= b; p++ {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// Logger builds the process's logger.
func (c *Config) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("VIGIL_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("VIGIL_LOG_FORMAT %q: want text or json", c.LogFormat)
}

// Getenv is os.Getenv, for mains.
var Getenv = os.Getenv
