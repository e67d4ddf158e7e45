package config

import (
	"flag"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsRunWithNoFlags(t *testing.T) {
	c, err := Load("vigil", nil, env(nil), io.Discard)
	if err != nil {
		t.Fatalf("Load with nothing set = %v", err)
	}
	if c.IngestAddr != "127.0.0.1:8080" || c.ClickHouseAddr != "127.0.0.1:9000" || c.Partitions != 16 || c.StreamMaxAge != 25*time.Hour || c.SendVolume != 500 {
		t.Errorf("defaults = %+v", c)
	}
	r, err := c.Rules()
	if err != nil || r.Global["multi_country"] != 2 {
		t.Errorf("Rules() = %+v, %v", r, err)
	}
}

func TestFlagsOverrideEnvironment(t *testing.T) {
	c, err := Load("vigil", []string{"-partitions", "64", "-ingest-tokens", "a,b"}, env(map[string]string{
		"VIGIL_PARTITIONS": "8", "VIGIL_RULE_SEND_VOLUME": "2000", "VIGIL_INGEST_TOKENS": "x",
	}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Partitions != 64 || c.SendVolume != 2000 || strings.Join(c.IngestTokens, ",") != "a,b" {
		t.Errorf("got partitions %d, send volume %d, tokens %v; want 64, 2000 (env), a,b (flag)", c.Partitions, c.SendVolume, c.IngestTokens)
	}
}

func TestDetectorGroupSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
		want string // "" = valid
	}{
		{"group on", map[string]string{"VIGIL_DETECTOR_GROUP": "on"}, ""},
		{"group off with ranges", map[string]string{"VIGIL_DETECTOR_GROUP": "off", "VIGIL_DETECTOR_PARTITIONS": "0-3"}, ""},
		{"group on with ranges", map[string]string{"VIGIL_DETECTOR_GROUP": "on", "VIGIL_DETECTOR_PARTITIONS": "0-3"}, "exclude each other"},
		{"bad mode", map[string]string{"VIGIL_DETECTOR_GROUP": "yes"}, `VIGIL_DETECTOR_GROUP "yes": want on or off`},
		{"ttl too short", map[string]string{"VIGIL_DETECTOR_GROUP_TTL": "500ms"}, "VIGIL_DETECTOR_GROUP_TTL 500ms: must be 1s-1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load("vigil", nil, env(tc.vars), io.Discard)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Load(%v) = %v; want no error", tc.vars, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Load(%v) = %v; want an error containing %q", tc.vars, err, tc.want)
			case tc.want == "" && tc.vars["VIGIL_DETECTOR_GROUP"] == "on" && c.DetectorGroupTTL != 6*time.Second:
				t.Errorf("Load(%v).DetectorGroupTTL = %s; want the default 6s", tc.vars, c.DetectorGroupTTL)
			}
		})
	}
}

func TestBadValuesAreReportedTogether(t *testing.T) {
	_, err := Load("vigil", nil, env(map[string]string{"VIGIL_PARTITIONS": "many", "VIGIL_FLUSH_INTERVAL": "soon"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "VIGIL_PARTITIONS") || !strings.Contains(err.Error(), "VIGIL_FLUSH_INTERVAL") {
		t.Errorf("Load = %v; want both bad variables named", err)
	}
	_, err = Load("vigil", nil, env(map[string]string{"VIGIL_RULE_DOMAINS": "x.org:nope=1", "VIGIL_PARTITIONS": "0", "VIGIL_STREAM_MAX_AGE": "1h"}), io.Discard)
	for _, name := range []string{"VIGIL_RULE_DOMAINS", "VIGIL_PARTITIONS", "VIGIL_STREAM_MAX_AGE"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Load = %v; want %s named", err, name)
		}
	}
}

func TestEveryVariableSetsItsField(t *testing.T) {
	// Setting each variable to its own default through the environment and through its flag must both load.
	for _, v := range Vars {
		if v.Default == "" {
			continue
		}
		if _, err := Load("vigil", nil, env(map[string]string{v.Env: v.Default}), io.Discard); err != nil {
			t.Errorf("%s=%q: %v", v.Env, v.Default, err)
		}
		if _, err := Load("vigil", []string{"-" + v.Flag + "=" + v.Default}, env(nil), io.Discard); err != nil {
			t.Errorf("-%s=%q: %v", v.Flag, v.Default, err)
		}
	}
	c, err := Load("vigil", []string{"-ingest-max-body", "4096", "-dovecot-tokens", " a, b ,"}, env(nil), io.Discard)
	if err != nil || c.IngestMaxBody != 4096 || strings.Join(c.DovecotTokens, "|") != "a|b" {
		t.Errorf("Load = %+v, %v; want max body 4096 and tokens a|b", c, err)
	}
}

func TestPasswordFromFile(t *testing.T) {
	path := t.TempDir() + "/ch.pw"
	if err := os.WriteFile(path, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("vigil", nil, env(map[string]string{"VIGIL_CLICKHOUSE_PASSWORD_FILE": path}), io.Discard)
	if err != nil || c.ClickHousePassword != "s3cret" {
		t.Errorf("password from file = %q, %v; want s3cret", c.ClickHousePassword, err)
	}
	_, err = Load("vigil", []string{"-clickhouse-password", "x"}, env(map[string]string{"VIGIL_CLICKHOUSE_PASSWORD_FILE": path}), io.Discard)
	if err == nil {
		t.Error("both a password and a password file: want an error")
	}
	if _, err := Load("vigil", nil, env(map[string]string{"VIGIL_CLICKHOUSE_PASSWORD_FILE": path + ".missing"}), io.Discard); err == nil || !strings.Contains(err.Error(), "VIGIL_CLICKHOUSE_PASSWORD_FILE") {
		t.Errorf("missing password file: %v; want the variable named", err)
	}
}

func TestParseRanges(t *testing.T) {
	got, err := ParseRanges("0-3, 7,2", 16)
	if err != nil || len(got) != 5 || got[4] != 7 {
		t.Errorf("ParseRanges = %v, %v; want [0 1 2 3 7]", got, err)
	}
	for _, bad := range []string{"16", "3-1", "x", "-1", "0-"} {
		if _, err := ParseRanges(bad, 16); err == nil {
			t.Errorf("ParseRanges(%q) = nil error", bad)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the README's configuration table")

// TestReadmeConfigTable keeps the README's configuration reference equal to Vars.
func TestReadmeConfigTable(t *testing.T) {
	const path = "../../README.md"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	begin := strings.Index(s, "<!-- config:begin")
	end := strings.Index(s, "<!-- config:end -->")
	if begin < 0 || end < begin {
		t.Fatal("README has no config:begin/config:end markers")
	}
	begin += strings.Index(s[begin:], "-->\n") + len("-->\n")
	if got, want := s[begin:end], Reference(); got != want {
		if *update {
			if err := os.WriteFile(path, []byte(s[:begin]+want+s[end:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("README configuration table is out of date; run go test ./internal/config -update")
	}
	for _, v := range Vars {
		if !strings.Contains(s, "`"+v.Env+"`") {
			t.Errorf("README does not document %s", v.Env)
		}
	}
}

func TestMailbox2FAConfig(t *testing.T) {
	load := func(env map[string]string) error {
		_, err := Load("vigil", nil, func(k string) string { return env[k] }, io.Discard)
		return err
	}
	if err := load(map[string]string{}); err != nil {
		t.Errorf("defaults (mailbox 2FA off): %v", err)
	}
	if err := load(map[string]string{"VIGIL_MAILBOX_2FA_URL": "https://vigil.example.org", "VIGIL_MAILBOX_2FA_POLICIES": "example.org=required",
		"VIGIL_MAILBOX_2FA_ISSUERS": "example.org=Example Mail", "VIGIL_MAILBOX_2FA_UNENROLLED": "deny", "VIGIL_MAILBOX_2FA_UNENROLLED_POLICIES": "example.net=allow"}); err != nil {
		t.Errorf("valid mailbox 2FA settings: %v", err)
	}
	err := load(map[string]string{"VIGIL_MAILBOX_2FA_URL": "ftp://x", "VIGIL_MAILBOX_2FA_POLICIES": "example.org=sometimes",
		"VIGIL_MAILBOX_2FA_ISSUERS": "example.org=a:b", "VIGIL_MAILBOX_2FA_LINK_TTL": "1s", "VIGIL_MAILBOX_2FA_UNENROLLED": "sms",
		"VIGIL_MAILBOX_2FA_UNENROLLED_POLICIES": "example.org=maybe"})
	for _, want := range []string{"VIGIL_MAILBOX_2FA_POLICIES", "VIGIL_MAILBOX_2FA_ISSUERS", "public URL", "link TTL", "VIGIL_MAILBOX_2FA_UNENROLLED_POLICIES", "unenrolled users \"sms\""} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load(bad mailbox 2FA settings) = %v; want it to name %s", err, want)
		}
	}
}

func TestContainmentPolicyCheck(t *testing.T) {
	for _, tc := range []struct {
		value string
		want  string // "" = valid
	}{
		{"", ""},
		{"1s", ""},
		{"500ms", "VIGIL_CONTAINMENT_POLICY_CHECK 500ms: want 1s-1h"},
		{"2h", "VIGIL_CONTAINMENT_POLICY_CHECK 2h0m0s: want 1s-1h"},
	} {
		c, err := Load("vigil", nil, env(map[string]string{"VIGIL_CONTAINMENT_POLICY_CHECK": tc.value}), io.Discard)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Load(VIGIL_CONTAINMENT_POLICY_CHECK=%q) = %v; want no error", tc.value, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Load(VIGIL_CONTAINMENT_POLICY_CHECK=%q) = %v; want an error containing %q", tc.value, err, tc.want)
		case tc.value == "" && c.PolicyCheck != 10*time.Second:
			t.Errorf("Load().PolicyCheck = %s; want the default 10s", c.PolicyCheck)
		}
	}
}
