// Package quarantine records mail Postfix holds for Vigil and carries out its release or deletion on the mail host.
//
// Three parts talk over JetStream:
//
//   - the ingest side (Recorder) publishes each held message to the VIGIL_QUARANTINE stream
//     (vigil.quarantine.held.<host>, message id "held.<host>.<queue id>" so a repeat is stored once), from a
//     bounded buffer that never blocks the policy answer;
//   - the authapi side (Manager) writes held records and the agents' results into ClickHouse (held_messages) and
//     publishes release and delete commands to the VIGIL_MAILHOST stream (vigil.mailhost.<host>.cmd);
//   - the mail-host agent (Agent, "vigil mailhost") consumes its host's commands durably, validates the queue id,
//     checks that the message is in Postfix's hold queue (postqueue -j), runs postsuper -H or -d without a shell,
//     and reports the outcome on vigil.quarantine.result.<host>.
package quarantine
