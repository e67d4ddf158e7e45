package schemas

import "embed"

// Events holds the event JSON Schema and its examples (events/v1/*.json).
//
//go:embed events/v1/*.json
var Events embed.FS
