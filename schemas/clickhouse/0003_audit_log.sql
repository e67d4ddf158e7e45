-- Security-relevant actions of the admin panel, one row per audit event id.
CREATE TABLE IF NOT EXISTS {db}.audit_log
(
    event_id  String,
    time      DateTime,
    action    String,
    actor     String,
    client_ip String,
    target    String,
    result    String,
    before    String,
    after     String,
    details   String
)
ENGINE = ReplacingMergeTree()
PARTITION BY toYYYYMM(time)
ORDER BY (time, event_id)
