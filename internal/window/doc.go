// Package window keeps per-user rolling 24-hour windows of login countries and sent messages, on event time.
//
// # Memory
//
// A user's whole window is one backing array of 32-bit words, so a user costs one small struct, one allocation
// and no per-kind slice headers:
//
//	[event records, ordered by time][address records][country history]
//
// An event record (8 bytes) is the event id's 32-bit hash (HashID) and a word holding the event time modulo 2^17 s
// (the window is 86,400 s < 2^17, so the full time is recovered from the user's newest time), a kind (counted
// login, message, continuation) and a 12-bit value (a message's recipients; a message with more than 4,095
// recipients takes a second record for them). Every counted event keeps one record, which is what recognises the
// event id when it is delivered again, exactly (2^-32 collision chance per pair of one user's ids within 2 s), so
// messages are counted from their records and need no separate per-second counters.
//
// An address record is 16 bytes for IPv4 and 28 for IPv6: the first login time (full), the last login time
// (modulo 2^17, with the IPv6 flag), the login count (16 bits) with the country code, then the address words.
//
// A failed login (brute_force) is an event record followed by continuation records of the same time holding the
// password hash's HashID and the address (the /64 of IPv6): 24 bytes, 32 for IPv6; a (password hash, network) pair
// keeps its newest MaxPairFailures. The country history (new_country, history.go) outlives the window: 8 bytes of
// header and 4 per country, kept while a country was used within HistoryTTL.
//
// Measured by the engine's BenchmarkMemoryPerUser (100,000 users, a generated day of 6 logins and 4 messages per
// ordinary user on average, the real country database; live heap growth after GC divided by users), every rule on:
// 302.4 bytes per tracked user. Of that, 64 bytes are the engine's user struct (User itself, 64 with
// impossible_travel's newest located login; the engine keeps open incidents in a map of its own so the struct stays
// in the allocator's 64-byte size class), 168 the backing array (about ten event records and one or two
// addresses, rounded up to the allocator's size class), 26 the user-name string the engine's map is keyed by and
// about 44 the map's slot and control bytes.
//
// An address window (Addr, addr.go) keeps the failures from one client address or prefix: 12 bytes per counted
// failure, 20 per distinct password attempt, a name and 8 bytes per targeted user, 16 per user with a successful
// login (the user by a keyed hash; names only of targets, of the first MaxAddrNamed others and of those the
// engine asks for while the key has an incident) and 32 per client address of a prefix.
package window
