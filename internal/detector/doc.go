// Package detector consumes the events stream, runs the engine over each partition and commits rows and incidents
// to the store before acknowledging the messages.
package detector
