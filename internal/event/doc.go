// Package event defines Vigil's event schema v1: decoding, validation and normalisation of login and send events.
package event
