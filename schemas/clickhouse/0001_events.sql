-- Enriched logins, one row per event id (ReplacingMergeTree collapses redeliveries; read with FINAL).
CREATE TABLE IF NOT EXISTS {db}.logins
(
    event_id String,
    time     DateTime,
    user     String,
    domain   String,
    ip       String,
    country  String,
    service  String,
    success  UInt8,
    trusted  UInt8,
    source   String,
    session  String,
    pwhash   String,
    inserted DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted)
PARTITION BY toYYYYMM(time)
ORDER BY (user, event_id)
;
-- Enriched sent messages, one row per event id.
CREATE TABLE IF NOT EXISTS {db}.sends
(
    event_id   String,
    time       DateTime,
    user       String,
    domain     String,
    ip         String,
    country    String,
    service    String,
    recipients UInt32,
    size       UInt64,
    message_id String,
    source     String,
    session    String,
    trusted    UInt8,
    inserted   DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(inserted)
PARTITION BY toYYYYMM(time)
ORDER BY (user, event_id)
