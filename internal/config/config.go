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

	DetectorAddr       string // cmd/detector: /healthz, /readyz, /metrics
	DetectorPartitions string // owned partitions, like "0-7,12"; "" = all
	BatchSize          int
	FlushInterval      time.Duration

	GeoIPDB string

	ClickHouseAddr     string
	ClickHouseDatabase string
	ClickHouseUser     string
	ClickHousePassword string
	ClickHouseStart    string // single node: auto | never

	MultiCountry  int
	SendVolume    int
	DomainRules   string
	TrustedBucket string
}

// Var describes one setting: its flag, environment variable, default and meaning (the README's reference).
type Var struct {
	Flag, Env, Default, Usage string
}

// Load parses args (without the program name) with environment fallbacks from getenv.
func Load(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tokens, dovecotTokens, require2FA string
	str := func(p *string, v Var) {
		fs.StringVar(p, v.Flag, envOr(getenv, v.Env, v.Default), v.Usage+" ("+v.Env+")")
	}
	var errs []error
	num := func(p *int, v Var) {
		n, err := strconv.Atoi(envOr(getenv, v.Env, v.Default))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not an integer", v.Env, getenv(v.Env)))
		}
		fs.IntVar(p, v.Flag, n, v.Usage+" ("+v.Env+")")
	}
	dur := func(p *time.Duration, v Var) {
		d, err := time.ParseDuration(envOr(getenv, v.Env, v.Default))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a duration like 1s or 25h", v.Env, getenv(v.Env)))
		}
		fs.DurationVar(p, v.Flag, d, v.Usage+" ("+v.Env+")")
	}
	var maxBody int
	for _, v := range Vars {
		switch v.Env {
		case "VIGIL_LOG_LEVEL":
			str(&c.LogLevel, v)
		case "VIGIL_LOG_FORMAT":
			str(&c.LogFormat, v)
		case "VIGIL_NATS_URL":
			str(&c.NATSURL, v)
		case "VIGIL_DATA_DIR":
			str(&c.DataDir, v)
		case "VIGIL_NATS_LISTEN":
			str(&c.NATSListen, v)
		case "VIGIL_PARTITIONS":
			num(&c.Partitions, v)
		case "VIGIL_STREAM_REPLICAS":
			num(&c.StreamReplicas, v)
		case "VIGIL_STREAM_MAX_AGE":
			dur(&c.StreamMaxAge, v)
		case "VIGIL_STREAM_DUPLICATES":
			dur(&c.Duplicates, v)
		case "VIGIL_INGEST_ADDR":
			str(&c.IngestAddr, v)
		case "VIGIL_INGEST_TOKENS":
			str(&tokens, v)
		case "VIGIL_INGEST_MAX_BODY":
			num(&maxBody, v)
		case "VIGIL_AUTH_ADDR":
			str(&c.AuthAddr, v)
		case "VIGIL_AUTH_KEY":
			str(&c.AuthKey, v)
		case "VIGIL_AUTH_KEY_FILE":
			str(&c.AuthKeyFile, v)
		case "VIGIL_AUTH_ISSUER":
			str(&c.AuthIssuer, v)
		case "VIGIL_AUTH_SESSION_TTL":
			dur(&c.AuthSessionTTL, v)
		case "VIGIL_AUTH_IDLE_TIMEOUT":
			dur(&c.AuthIdleTimeout, v)
		case "VIGIL_AUTH_REQUIRE_2FA":
			str(&require2FA, v)
		case "VIGIL_TRUSTED_PROXIES":
			str(&c.TrustedProxies, v)
		case "VIGIL_DOVECOT_TOKENS":
			str(&dovecotTokens, v)
		case "VIGIL_DOVECOT_HEADER":
			str(&c.DovecotHeader, v)
		case "VIGIL_POSTFIX_ADDR":
			str(&c.PostfixAddr, v)
		case "VIGIL_DETECTOR_ADDR":
			str(&c.DetectorAddr, v)
		case "VIGIL_DETECTOR_PARTITIONS":
			str(&c.DetectorPartitions, v)
		case "VIGIL_BATCH_SIZE":
			num(&c.BatchSize, v)
		case "VIGIL_FLUSH_INTERVAL":
			dur(&c.FlushInterval, v)
		case "VIGIL_GEOIP_DB":
			str(&c.GeoIPDB, v)
		case "VIGIL_CLICKHOUSE_ADDR":
			str(&c.ClickHouseAddr, v)
		case "VIGIL_CLICKHOUSE_DATABASE":
			str(&c.ClickHouseDatabase, v)
		case "VIGIL_CLICKHOUSE_USER":
			str(&c.ClickHouseUser, v)
		case "VIGIL_CLICKHOUSE_PASSWORD":
			str(&c.ClickHousePassword, v)
		case "VIGIL_CLICKHOUSE_START":
			str(&c.ClickHouseStart, v)
		case "VIGIL_RULE_MULTI_COUNTRY":
			num(&c.MultiCountry, v)
		case "VIGIL_RULE_SEND_VOLUME":
			num(&c.SendVolume, v)
		case "VIGIL_RULE_DOMAINS":
			str(&c.DomainRules, v)
		case "VIGIL_TRUSTED_BUCKET":
			str(&c.TrustedBucket, v)
		default:
			panic("config: unhandled variable " + v.Env)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	c.IngestMaxBody = int64(maxBody)
	c.IngestTokens = splitList(tokens)
	c.DovecotTokens = splitList(dovecotTokens)
	c.AuthRequire2FA = splitList(require2FA)
	if c.AuthRequire2FA == nil {
		c.AuthRequire2FA = []string{}
	}
	return c, nil
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
	r := rule.Config{Global: rule.Thresholds{MultiCountry: c.MultiCountry, SendVolume: c.SendVolume}, Domains: domains}
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
