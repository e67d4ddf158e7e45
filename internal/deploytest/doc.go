// Package deploytest checks the files under deploy/ and docker-compose.yml against the code: metric names, config
// variables, pinned images, the alert rules (with promtool) and the Grafana dashboard.
package deploytest
