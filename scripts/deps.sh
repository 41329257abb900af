#!/bin/sh
# Installs the npm dependencies when node_modules is missing or older than the lockfile.
set -e
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# better-sqlite3's native addon is compiled at install; build it if that step was skipped.
node -e "new (require('better-sqlite3'))(':memory:')" 2>/dev/null || npm rebuild better-sqlite3
# The local block store's fast I/O addon (native/fastio), rebuilt when its source changes.
# Without it (no C compiler, say) Pithos works the same; see native/fastio/fastio.c for what it adds.
addon=native/fastio/build/Release/fastio.node
if [ ! -f "$addon" ] || [ -n "$(find native/fastio -maxdepth 1 -newer "$addon" \( -name '*.c' -o -name '*.h' -o -name binding.gyp \))" ]; then
  npm run --silent --prefix native/fastio build >/dev/null 2>&1 ||
    echo "note: native/fastio could not be built; uploads will use more CPU" >&2
fi
