-- Messages Postfix holds because of a hold_mail decision, one row per (host, queue id) and status change. The
-- ingest side records each held message (status held); the auth API adds a row for every release or delete an admin
-- asks for (release_requested, delete_requested) and for the mail-host agent's result (released, deleted, failed).
-- The highest version is the current state: a held record's version is its hold time, a change's is the time of the
-- change (later), so a repeated held record never undoes a release.
CREATE TABLE IF NOT EXISTS {db}.held_messages
(
    host        String,
    queue_id    String,
    incident_id String,
    decision_id String,
    user        String,
    domain      String,
    sender      String,
    recipients  UInt32,
    size        UInt64,
    held_at     DateTime,
    status      String,
    actor       String,
    changed_at  DateTime,
    detail      String,
    version     UInt64
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (host, queue_id)
