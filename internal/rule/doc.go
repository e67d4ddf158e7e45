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
// address-keyed rule needs (failed logins, slimmed to time, address, user, domain, event id) to a subject
// partitioned by address, vigil.events.addr.<p> with p = hash(address) mod N, and the owner of that address
// partition runs an engine whose windows are keyed on the address. Every failure from one address thus reaches one
// instance exactly once, in JetStream order, and that engine stays what it is now: single-owner, lock-free and
// deterministic on replay, with incident ids derived from (rule, key, window start). Password-hash rules
// (one leaked password tried on many accounts) use the same scheme with vigil.events.pw.<p>. The republish is an
// at-least-once JetStream publish with the original event id as Nats-Msg-Id, and windows already count an event id
// once, so redelivery does not double-count.
//
// Alternatives rejected: querying ClickHouse for per-address counts (seconds of latency, load that grows with
// traffic, and not exact under ingest lag); broadcasting failures to every instance (N-fold traffic and memory, and
// N instances raising the same incident); summing per-partition sketches (needs coordination between instances and
// is approximate). The engine therefore evaluates only the rules keyed on what its windows hold (KeyUser today)
// and skips the others, so the table can already hold address-keyed rules before the address consumer exists.
package rule
