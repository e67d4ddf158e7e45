-- Mailbox 2FA step-up outcomes: a webmail login that asked for a second factor because the user had an open
-- incident, recorded on that incident so the console's incident page shows it. One row per attempt (attempt_id,
-- random); a retried insert of the same attempt collapses. result: passed, failed, denied (an unenrolled user on a
-- domain whose step-up policy is deny) or allowed (policy allow: no second factor asked).
CREATE TABLE IF NOT EXISTS {db}.mailbox_step_ups
(
    incident_id String,
    attempt_id  String,
    time        DateTime,
    user        String,
    result      String,
    method      String,
    client_ip   String,
    actor       String
)
ENGINE = ReplacingMergeTree()
ORDER BY (incident_id, attempt_id)
