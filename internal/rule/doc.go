// Package rule holds the detection rules as a table: each rule is one unit naming what it is keyed on, the events
// that wake it, when it fires, its threshold (global and per domain) and the evidence it puts on its incident.
//
// Adding a rule is one file here (a type implementing Rule, appended to All) and its tests. Its threshold is set per
// domain by name (VIGIL_RULE_DOMAINS "example.org:<name>=N" or "<name>=off") with no new struct field, and no
// transport, storage or wiring code changes: the engine walks the table, and incidents are stored by rule name.
//
// # Keys and partitions
//
// A rule is keyed on a user, a client address or a password hash (KeyKind). Events are partitioned by user
// (vigil.events.<p>, p = hash(user) mod N), so one detector instance sees every event of a user exactly once and a
// user-keyed rule needs nothing more. An address-keyed rule (password spraying: one address failing against many
// users) cannot be evaluated there, because the users it hits live in different partitions and detectors.
//
// The chosen design repartitions by key: the detector that owns a user partition republishes the events an
// address-keyed rule needs to the address stream VIGIL_ADDR, subject vigil.addr.<p> with p = hash(the address's
// /24 or /64) mod N, so an address and its prefix land in one partition. It republishes every untrusted failed
// login, slimmed to time, address, user, domain, service, pwhash and event id (event.AddrEvent), marked "known"
// when the user logged in successfully from that address within the user's window (the user's own device); and
// an untrusted successful login when it is the user's first from that address in the window, so a sprayer's
// victim is seen without republishing every login. The owner of address partition p is the owner of user
// partition p (the same Owned list, or in detector group mode the same assignment, each address partition's
// consumer pinned, taken over and handed over like the user partition's), and runs an AddrEngine whose windows (window.Addr) are keyed on the address
// and on its prefix. Every login from one address thus reaches one instance exactly once, in JetStream order, and
// that engine is single-owner, lock-free and deterministic on replay, with incident ids derived from (rule,
// "addr:"+key, window start); the window opens with the event that first satisfies the rule in the address
// stream's order, which a replay repeats. Password-hash rules would use the same scheme with their own partitions.
// The republish is at least once: the copies are grouped into one message per address partition and batch (up to
// 1,000 logins, newline-separated, since a JetStream message costs far more than its bytes) and acknowledged by
// JetStream before the user-partition batch holding their events is acknowledged. The Nats-Msg-Id is a hash of
// the message's event ids (a retried publish is deduplicated); a copy republished after a redelivery is grouped
// differently, and the address windows count an event id once and otherwise read only distinct sets (attempts,
// users), so redelivery does not double-count.
//
// The address subjects are a stream of their own rather than vigil.events.addr.<p> (the first plan): the user
// partitions' filter vigil.events.*.<p> would match vigil.events.addr.<p>, and the copies need their own
// retention and deduplication window.
//
// Alternatives rejected: querying ClickHouse for per-address counts (seconds of latency, load that grows with
// traffic, and not exact under ingest lag); broadcasting failures to every instance (N-fold traffic and memory, and
// N instances raising the same incident); summing per-partition sketches (needs coordination between instances and
// is approximate). The user engine evaluates only the rules keyed on users and skips the others; the address engine
// runs AddrRules. password_spray is in All (its threshold and per-domain switch are set by name) and an AddrRule;
// brute_force's address half (BruteForceAddr) shares the user-keyed rule's name and per-domain switch but keeps
// its own threshold, since the configured brute_force level counts failures against one user.
package rule
