// Package schemas embeds Vigil's schema files: ClickHouse migrations, the event JSON Schema and OpenAPI documents.
package schemas
