// Package window keeps per-user rolling 24-hour windows of login countries and sent messages, on event time.
package window
