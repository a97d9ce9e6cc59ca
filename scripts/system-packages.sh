#!/usr/bin/env bash
# Debian packages the test suite drives for real: Chromium (the board's browser tests) and the
# PostgreSQL server (the board's tests run on PostgreSQL as well as SQLite). As root, whatever
# is missing is installed with apt-get; otherwise the missing ones are named, and the tests
# that need them say so when they skip.
set -euo pipefail

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Progress stays visible: Chromium is a download of a few hundred megabytes.
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "system-packages: missing ${missing[*]} (as root: apt-get install ${missing[*]});" \
       "the tests that need them will skip" >&2
fi
