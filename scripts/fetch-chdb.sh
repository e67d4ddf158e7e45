#!/usr/bin/env bash
# Fetches chDB (ClickHouse 26.x as a library: libchdb.so, Apache-2.0) from the npm registry as the pinned
# @chdb/lib-linux-x64-gnu package, checks the tarball against the pinned integrity, and builds scripts/chdb-query.c,
# the small runner internal/sqlcheck uses to check Vigil's SQL against a current ClickHouse release.
# Cached under .cache/chdb (never committed). Idempotent: does nothing when the runner is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG="@chdb/lib-linux-x64-gnu"
VERSION="26.5.3"
INTEGRITY="sha512-fPrLmRt5Moor9yGz4mazbrNje4t7X9KB2mTGkXFWRxRBs2iKy8yh6jx11xsa0Qr3iDFMU/yHqd+bVdYJXu3QaQ=="
CACHE="${CHDB_CACHE:-.cache/chdb}"
DIR="$CACHE/$VERSION"
LIB="$DIR/package/libchdb.so"
RUNNER="$CACHE/chdb-query"

if [ "$(uname -sm)" != "Linux x86_64" ]; then
	echo "chdb: $PKG is for Linux x86_64 only; skipping" >&2
	exit 0
fi
mkdir -p "$CACHE"
tgz="$CACHE/chdb-lib-linux-x64-gnu-$VERSION.tgz"
if [ ! -f "$LIB" ]; then
	if [ ! -f "$tgz" ]; then
		command -v npm >/dev/null 2>&1 || { echo "chdb: npm is needed (make setup installs it)" >&2; exit 1; }
		echo "chdb: fetching $PKG@$VERSION from the npm registry (about 160 MB)"
		(cd "$CACHE" && npm pack --silent "$PKG@$VERSION" >/dev/null)
	fi
	got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
	if [ "$got" != "$INTEGRITY" ]; then
		echo "chdb: $tgz does not match the pinned integrity ($got); removing it" >&2
		rm -f "$tgz"
		exit 1
	fi
	rm -rf "$DIR"
	mkdir -p "$DIR"
	tar -xzf "$tgz" -C "$DIR" package/libchdb.so
	rm -f "$tgz" # the library is what the check needs; the tarball would double the cache
fi
if [ ! -x "$RUNNER" ] || [ scripts/chdb-query.c -nt "$RUNNER" ]; then
	cc -O2 -Wall -o "$RUNNER" scripts/chdb-query.c -ldl
fi
