#!/bin/sh
# Installs the npm dependencies when node_modules is missing or older than the lockfile.
set -e
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
  # better-sqlite3 builds its native addon with the machine's compiler when no prebuilt one fits.
  npm rebuild better-sqlite3 >/dev/null
fi
