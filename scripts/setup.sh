#!/usr/bin/env bash
# Installs what Vigil's tests and demo need on Debian/Ubuntu when it is missing: ClickHouse, Dovecot, Postfix,
# promtool (prometheus), Alertmanager, chromium with fonts (the console's browser tests) and GeoIP source data from the OS
# packages, Node's npm for the CC BY 4.0 GeoIP data, and the Go modules.
# Idempotent and quiet when everything is there already.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/usr/bin/$1" ]; }
have clickhouse-server || need+=(clickhouse-server clickhouse-client)
have dovecot || need+=(dovecot-imapd)
have postfix || need+=(postfix)
[ -f /usr/share/tor/geoip ] || need+=(tor-geoipdb)
have npm || need+=(npm)
have curl || need+=(curl ca-certificates)
have promtool || need+=(prometheus)
have prometheus-alertmanager || need+=(prometheus-alertmanager) # the notifier's Alertmanager test
[ -f /usr/share/java/zookeeper.jar ] || need+=(zookeeper) # the replicated ClickHouse tests' coordinator
have cc || need+=(gcc libc6-dev)                          # builds scripts/chdb-query.c
have openssl || need+=(openssl)
have chromium || need+=(chromium fonts-dejavu-core fonts-liberation) # the console's browser tests

if [ ${#need[@]} -gt 0 ]; then
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "setup: need root or sudo to install: ${need[*]}" >&2; exit 1; }
		sudo="sudo"
	fi
	echo "setup: installing ${need[*]}"
	echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
have go || { echo "setup: Go 1.26 or newer is required (https://go.dev/doc/install)" >&2; exit 1; }
go mod download
