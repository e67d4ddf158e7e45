// Package httpapi holds what every Vigil HTTP server shares: the JSON error shape, health and metrics endpoints,
// and graceful serving.
package httpapi
