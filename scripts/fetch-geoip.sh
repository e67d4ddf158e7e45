#!/usr/bin/env bash
# Fetches the CC BY 4.0 ip-location-db whois country database from the npm registry, checks the tarball against the
# pinned integrity, and converts it into a GeoIP2-Country file with `vigil geoip import`. Falls back to Debian's
# tor-geoipdb (CC BY-SA 4.0) when npm is unavailable. Idempotent: does nothing when the output is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG="@ip-location-db/geo-whois-asn-country-mmdb"
VERSION="2.3.2026061719"
INTEGRITY="sha512-xemBDNQl4mCYDuVbqe3jKGKsVDykZGkfvebhtOh/3VGLadq8vsp7t7ontpMUt3hH7sAGT0eLDyJ99SV+0waxZg=="
CACHE="${GEOIP_CACHE:-.cache/geoip}"
OUT="$CACHE/country.mmdb"
IMPORT="${GEOIP_IMPORT:-go run ./cmd/vigil geoip import}"

mkdir -p "$CACHE"
tgz="$CACHE/ip-location-db-geo-whois-asn-country-mmdb-$VERSION.tgz"
src=""
if command -v npm >/dev/null 2>&1; then
	if [ ! -f "$tgz" ]; then
		echo "geoip: fetching $PKG@$VERSION from the npm registry"
		(cd "$CACHE" && npm pack --silent "$PKG@$VERSION" >/dev/null 2>&1) || echo "geoip: npm pack failed" >&2
	fi
	if [ -f "$tgz" ]; then
		got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
		if [ "$got" != "$INTEGRITY" ]; then
			echo "geoip: $tgz does not match the pinned integrity ($got); removing it" >&2
			rm -f "$tgz"
			exit 1
		fi
		dir="$CACHE/whois-$VERSION"
		if [ ! -d "$dir" ]; then
			mkdir -p "$dir"
			tar -xzf "$tgz" -C "$dir"
		fi
		src=$(find "$dir" -name '*.mmdb' | head -n 1)
	fi
fi
if [ -z "$src" ]; then
	if [ -f /usr/share/tor/geoip ]; then
		echo "geoip: using Debian's tor-geoipdb instead"
		src="/usr/share/tor/geoip /usr/share/tor/geoip6"
	else
		echo "geoip: neither npm nor tor-geoipdb is available (make setup installs them)" >&2
		exit 1
	fi
fi
first=${src%% *}
if [ -f "$OUT" ] && [ "$OUT" -nt "$first" ]; then
	exit 0
fi
# shellcheck disable=SC2086
$IMPORT -out "$OUT" $src
