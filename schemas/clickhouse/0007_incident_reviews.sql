-- Reviews of incidents (acknowledge, resolve, reopen), kept apart from the detector's evidence versions so that a new
-- evidence version never undoes a review. The authoritative record is the NATS KV bucket vigil_incident_reviews
-- (compare-and-set by revision); the auth API mirrors every revision here so the incident list can filter and count
-- by the status shown (the review's when present, else the incident's). The highest revision wins.
CREATE TABLE IF NOT EXISTS {db}.incident_reviews
(
    incident_id String,
    status      String,
    reason      String,
    note        String,
    actor       String,
    time        DateTime,
    revision    UInt64,
    updated     DateTime DEFAULT now()
)
ENGINE = ReplacingMergeTree(revision)
ORDER BY incident_id
