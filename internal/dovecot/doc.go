// Package dovecot serves Dovecot's auth policy protocol and turns its authentication reports into login events.
//
// Dovecot calls POST <url>?command=allow before (and after) authentication and POST <url>?command=report after it.
// allow is answered from memory by a decision index (Options.Decisions): a block_login decision on the user or on
// a network containing the client address answers {"status":-1,"msg":"<reason>"} (the login fails even with the
// right password), a tarpit on the address {"status":<seconds>}; anything else, a body Vigil cannot read, an
// index not yet loaded and an endpoint without an index answer {"status":0}. SMTP AUTH (protocol smtp) of a user
// whose mail is held is not refused by that user's block_login, so its submissions land in the hold queue.
//
// report becomes a login event that is queued in a bounded buffer and published by a background flusher (Run), so
// a slow event store never slows a login; a report the buffer cannot hold is counted and logged, never waited for.
//
// Deduplication (package mailid): a successful login of session S has the id "dovecot:S:ok", the n-th failed
// attempt of S "dovecot:S:fail:n" — the ids the log reader derives from the same session's log line, so a login
// seen by both is stored once. Reports without a session (SMTP AUTH through Dovecot SASL) get a content-derived id.
package dovecot
