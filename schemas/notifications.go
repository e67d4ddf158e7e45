package schemas

import "embed"

// Notifications holds the JSON Schema of the notification envelope (notifications/v1/*.json).
//
//go:embed notifications/v1/*.json
var Notifications embed.FS
