package schemas

import "embed"

// OpenAPI holds the OpenAPI documents of Vigil's HTTP APIs (openapi/*.yaml).
//
//go:embed openapi/*.yaml
var OpenAPI embed.FS
