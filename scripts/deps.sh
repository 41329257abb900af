#!/bin/sh
# Installs the npm dependencies when node_modules is missing or older than the lockfile.
set -e
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# better-sqlite3's native addon is compiled at install; build it if that step was skipped.
node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null || npm rebuild better-sqlite3
