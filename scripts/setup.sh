#!/usr/bin/env bash
# Installs every Debian package tourbus needs to build, run and test (idempotent; root on Debian 12).
set -euo pipefail

packages=(
  build-essential cmake pkg-config git ca-certificates
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libcli11-dev libsqlite3-dev libcurl4-openssl-dev libtomlplusplus-dev libspdlog-dev
  libssl-dev libsystemd-dev libhowardhinnant-date-dev libmagic-dev libxml2-dev tzdata catch2
  clang libclang-rt-14-dev
  curl sqlite3 procps util-linux openssl libxml2-utils python3 python3-websockets python3-aiosmtpd python3-cryptography python3-h2 tmux chromium
  # Socket.IO clients for the tests: socket.io-client in Node (its packages from the npm registry,
  # by lock file), python3-socketio (v5) with its transports (requests, websocket-client)
  nodejs python3-socketio python3-engineio python3-requests python3-websocket
  # Machine translation (docs/translation.md): the Apertium APy engine and its language pairs
  # (en, es, it, pt, fr, ca; pairs without a package of their own go through Spanish)
  apertium-apy apertium-eng-spa apertium-spa-ita apertium-es-pt apertium-fr-es apertium-eng-cat apertium-spa-cat
  # Calls (docs/calls.md): coturn for the TURN relay the browser call test goes through, and ip
  # (iproute2) for the network namespace it runs in
  coturn iproute2
  # Tour previews (docs/previews.md): Janus with its VideoRoom plugin, janus-pp-rec (janus-tools)
  # to convert recordings, ffprobe (ffmpeg) to check them, aiortc as a browser-free WebRTC peer
  janus janus-tools ffmpeg python3-aiortc
  # Scale-out (docs/scaling.md): PostgreSQL as the shared store, libpq to build against, the server
  # and psql for the tests (tests/postgres.py runs a cluster of its own; the packaged one is unused)
  postgresql postgresql-client libpq-dev
  # Several nodes (docs/scaling.md): the NATS C client pushes travel by, and the server for tests
  libnats-dev nats-server
)
# Debian's npm comes apart from its nodejs; a Node.js of another origin (NodeSource) brings its own.
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if [[ $(id -u) -eq 0 ]]; then sudo=; else sudo=sudo; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
