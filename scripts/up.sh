#!/bin/sh
# Starts the whole cloud on embedded defaults: installs and builds what is needed first.
# Extra arguments go to `synnefo up` (e.g. --port 9090 --data-dir /srv/snf).
set -e
cd "$(dirname "$0")/.."
sh scripts/deps.sh
npm run build --silent
# The node flags the synnefo command's first line asks for (heap sizing for a server).
exec node $(sed -n '1s/^#!.* -S node //p' dist/bin/synnefo.js) dist/bin/synnefo.js up "$@"
