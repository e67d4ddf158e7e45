// Package postfix serves Postfix's SMTP access policy delegation protocol and turns authenticated messages into
// send events.
//
// Postfix (check_policy_service) sends one request per protocol stage over persistent connections: name=value
// lines ended by an empty line. An END-OF-MESSAGE request with a sasl_username is one message sent by an
// authenticated user; it is answered from a decision index held in memory (Options.Decisions): a defer_mail
// decision on the user answers "451 4.7.1 <reason>" (the client tries again later), a hold_mail decision
// "HOLD <reason>" (the client sees success, the message waits in Postfix's hold queue, Options.Held is told).
// Every other request, and every request while the index is not loaded or absent, is answered action=DUNNO.
//
// The answer never waits for the event store: Postfix holds the client's end-of-data reply until the policy
// service answers, so a JetStream hiccup must not stall mail. Events go to a bounded buffer that a background
// flusher publishes with retries; an event the buffer cannot hold is counted and logged, never waited for.
//
// Deduplication (package mailid): a message's event id is "postfix:<queue_id>" ("postfix:<instance>" when Postfix
// sends no queue id), the id the log reader derives from the same message's log lines. Postfix's short queue ids
// repeat over months; enable_long_queue_ids = yes makes them unique.
package postfix
