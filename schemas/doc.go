// Package schemas embeds Vigil's schema files: ClickHouse migrations, the event and notification JSON Schemas and OpenAPI documents.
package schemas
