-- The console's incident list: every evidence version of every incident without its evidence JSON, ordered by
-- last_seen so the newest page reads only the newest granules instead of merging the whole incidents table with
-- FINAL. It is fed at insert time by a materialized view on incidents and filled once from the incidents already
-- stored (a row written twice, by the view and the fill, is harmless: queries keep each incident's highest version,
-- and ReplacingMergeTree collapses equal rows). Queries rely on an incident's last_seen never decreasing from one
-- version to the next (it is the newest evidence of its window). id64 (cityHash64 of the id) makes distinct counts
-- cheap; views and fills set it.
CREATE TABLE IF NOT EXISTS {db}.incident_list
(
    incident_id    String,
    id64           UInt64 DEFAULT cityHash64(incident_id),
    rule           String,
    user           String,
    domain         String,
    status         String,
    window_start   DateTime,
    first_seen     DateTime,
    last_seen      DateTime,
    countries      Array(String),
    ips            Array(String),
    logins         UInt32,
    messages_24h   UInt32,
    recipients_24h UInt32,
    version        UInt64
)
ENGINE = ReplacingMergeTree(version)
PARTITION BY toYYYYMM(last_seen)
ORDER BY (last_seen, incident_id)
;
CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.incident_list_feed TO {db}.incident_list AS
SELECT incident_id, cityHash64(incident_id) AS id64, rule, user, domain, status, window_start, first_seen, last_seen,
    countries, ips, logins, messages_24h, recipients_24h, version
FROM {db}.incidents
;
INSERT INTO {db}.incident_list (incident_id, id64, rule, user, domain, status, window_start, first_seen, last_seen,
    countries, ips, logins, messages_24h, recipients_24h, version)
SELECT incident_id, cityHash64(incident_id) AS id64, rule, user, domain, status, window_start, first_seen, last_seen,
    countries, ips, logins, messages_24h, recipients_24h, version
FROM {db}.incidents
