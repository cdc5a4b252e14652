#!/usr/bin/env bash
# Installs what is missing, builds, and runs tourbusd in the foreground on its embedded defaults:
# SQLite under ./tourbus-data, HTTP/WebSocket on 127.0.0.1:3001, control socket in the state dir.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build -DTOURBUS_TESTS=OFF
cat <<EOT

tourbusd is starting (Ctrl-C stops it). In another terminal, from $(pwd):
  build/cmd/tourbus status
  build/cmd/tourbus user add anna --name "Anna Rossi" --tz Europe/Rome
  curl --unix-socket tourbus-data/tourbusd.sock http://localhost/v1/status
See README.md and 'build/cmd/tourbus --help' for more.

EOT
exec build/daemon/tourbusd "$@"
