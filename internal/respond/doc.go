// Package respond is the containment responder: it turns incidents into decisions by the containment policy,
// observing or enforcing them, and lifts them when an incident is resolved as harmless or a trusted range covers
// them.
//
// # Policy format
//
// VIGIL_CONTAINMENT_POLICY names a JSON file (at most 1 MiB; unknown fields are refused; the comments below explain
// and are not part of the format):
//
//	{
//	  "mode": "observe",                      // the default of every entry: observe (the default) or enforce
//	  "entries": [
//	    {"name": "hijacked-sender",           // 1-64 of a-z 0-9 - _, unique
//	     "rules": ["multi_country", "send_volume"], // one of Vigil's rules, or a combination on one account
//	     "within": "24h",                     // a combination: the incidents' newest evidence this close (1m-168h)
//	     "target": "user",                    // user (default), network (address-keyed incidents), victims
//	     "mode": "enforce",
//	     "actions": ["hold_mail"],            // user: hold_mail defer_mail block_login kick; network: block_login tarpit
//	     "duration": "24h",                   // 1m-720h; default 24h
//	     "tarpit_delay": "5s",                // tarpit only, whole seconds 1s-15s; default 5s
//	     "then": {"after": "15m", "actions": ["block_login"]}, // network only: escalate while the address goes on
//	     "reason": "shown to the mail client"} // at most 200 bytes, one line
//	  ],
//	  "domains": {
//	    "example.org": {"mode": "enforce",    // switches the global entries for this domain's accounts
//	                    "entries": [{"name": "hijacked-sender", "actions": ["defer_mail"]}]} // override or add
//	  }
//	}
//
// A domain entry with the name of a global entry overrides the fields it sets (not its rules or target); one with a
// new name adds an entry for the domain. The mode of an entry for a domain's account is the domain entry's own,
// else the domain's, else the global entry's, else the policy's, else observe. Network decisions follow the global
// entries only. Without a file the policy is Recommended, all in observe mode.
//
// # Reloading
//
// With Options.PolicyFile the responder reads the file again on every Options.Reload (SIGHUP) and when its
// content's hash changed (checked every Options.PolicyCheck). A file that does not load keeps the policy in force;
// a new one is swapped in atomically and decides the next incident versions, each version by one policy. Decisions
// already stored are not changed by a reload.
package respond
