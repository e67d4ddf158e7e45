-- Security incidents: one row per (user, rule, window), updated as evidence grows; the highest version wins.
CREATE TABLE IF NOT EXISTS {db}.incidents
(
    incident_id    String,
    rule           String,
    user           String,
    domain         String,
    status         String,
    window_start   DateTime,
    first_seen     DateTime,
    last_seen      DateTime,
    countries      Array(String),
    ips            Array(String),
    detail         String,
    logins         UInt32,
    messages_24h   UInt32,
    recipients_24h UInt32,
    version        UInt64,
    updated        DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(window_start)
ORDER BY incident_id
