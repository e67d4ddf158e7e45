package natsbus

import (
	"fmt"
	"strconv"

	"github.com/vigil-ids/vigil/internal/event"
)

// Every NATS name Vigil uses is defined here: streams, subjects, partition filters, incident and audit subjects.
//
// Event subjects are vigil.events.<kind>.<partition>, with partition = event.Partition(user, partitions).
const (
	// EventsStream is the default name of the stream holding every event.
	EventsStream = "VIGIL_EVENTS"
	// SubjectPrefix starts every event subject: vigil.events.<kind>.<partition>.
	SubjectPrefix = "vigil.events."
	// EventSubjects is the subject filter of the events stream.
	EventSubjects = SubjectPrefix + ">"
	// DefaultPartitions is the partition count of the event subjects when none is configured.
	DefaultPartitions = 16

	// DLQStream keeps messages that cannot be processed, with the reason.
	DLQStream = "VIGIL_DLQ"
	// DLQSubjects is the subject filter of the dead-letter stream.
	DLQSubjects = "vigil.dlq.>"
	// DLQEvents is the dead-letter subject of undecodable event messages.
	DLQEvents = "vigil.dlq.events"
	// DLQNotifyPrefix starts the dead-letter subjects of notifications: vigil.dlq.notify.<sink>.
	DLQNotifyPrefix = "vigil.dlq.notify."

	// IncidentSubjectPrefix starts the subjects incidents are published on: vigil.incidents.<rule>.
	IncidentSubjectPrefix = "vigil.incidents."
	// AuditSubjectPrefix starts the subjects audit records are published on: vigil.audit.<action>.
	AuditSubjectPrefix = "vigil.audit."

	// AddrStream holds the logins republished by address for the address-keyed rules (see internal/rule's doc):
	// its own stream, so the user partitions' filter vigil.events.*.<p> never matches them.
	AddrStream = "VIGIL_ADDR"
	// AddrSubjectPrefix starts the address partitions' subjects: vigil.addr.<partition>.
	AddrSubjectPrefix = "vigil.addr."
	// AddrSubjects is the subject filter of the address stream.
	AddrSubjects = AddrSubjectPrefix + ">"
	// AddrConsumerPrefix starts the names of the address partitions' durable consumers: vigil-addr-p<partition>.
	AddrConsumerPrefix = "vigil-addr-"

	// DetectorConsumerPrefix starts the names of the detectors' durable consumers: vigil-detector-p<partition>, and
	// DetectorWholeConsumer.
	DetectorConsumerPrefix = "vigil-detector-"
	// DetectorWholeConsumer is the durable consumer of a detector that owns every partition in static mode: one
	// consumer over the whole events stream.
	DetectorWholeConsumer = DetectorConsumerPrefix + "all"
	// DetectorGroupBucket is the KV bucket where detectors in group mode keep their membership leases.
	DetectorGroupBucket = "vigil-detectors"
	// DetectorPriorityGroup is the priority group (pinned client) of the detectors' consumers in group mode.
	DetectorPriorityGroup = "vigil"
)

// EventSubject returns the subject of an event of the given kind in the given partition.
func EventSubject(kind event.Kind, partition int) string {
	return SubjectPrefix + string(kind) + "." + strconv.Itoa(partition)
}

// SubjectOf returns the subject of an event for a stream with the given partition count.
func SubjectOf(e *event.Event, partitions int) string {
	return EventSubject(e.Kind, event.Partition(e.User, partitions))
}

// PartitionFilter matches both kinds of partition p (vigil.events.*.<p>): one wildcard filter is much cheaper for
// the server than a list of subjects.
func PartitionFilter(p int) string { return SubjectPrefix + "*." + strconv.Itoa(p) }

// DetectorConsumer returns the durable consumer name of partition p, like vigil-detector-p007.
func DetectorConsumer(p int) string { return fmt.Sprintf("%sp%03d", DetectorConsumerPrefix, p) }

// IncidentSubject returns the subject incidents of a rule are published on.
func IncidentSubject(rule string) string { return IncidentSubjectPrefix + rule }

// DLQNotify returns the dead-letter subject of the notifications a sink gave up on.
func DLQNotify(sink string) string { return DLQNotifyPrefix + sink }

// AuditSubject returns the subject audit records of an action are published on.
func AuditSubject(action string) string { return AuditSubjectPrefix + action }

// AddrSubject returns the subject of address partition p.
func AddrSubject(p int) string { return AddrSubjectPrefix + strconv.Itoa(p) }

// AddrConsumer returns the durable consumer name of address partition p, like vigil-addr-p007.
func AddrConsumer(p int) string { return fmt.Sprintf("%sp%03d", AddrConsumerPrefix, p) }
