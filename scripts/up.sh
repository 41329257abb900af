#!/bin/sh
# Starts the whole cloud on embedded defaults: installs and builds what is needed first.
# Extra arguments go to `synnefo up` (e.g. --port 9090 --data-dir /srv/snf).
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
npm run build --silent
exec node dist/bin/synnefo.js up "$@"
