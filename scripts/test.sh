#!/bin/sh
# The test command: installs dependencies when needed, builds, and runs every test file.
# Set SNF_TEST_PG_URL=postgres://... to run the database suites on PostgreSQL too.
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
npm run build --silent
files=$(find dist -name '*.test.js' | sort)
[ -n "$*" ] && files=$(for f in "$@"; do find dist -path "*$f*" -name '*.test.js'; done | sort -u)
exec node --test --test-concurrency=2 --test-timeout=300000 $files
