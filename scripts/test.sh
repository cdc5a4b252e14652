#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit and integration) through
# CTest twice: a normal build, then one under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo) =="
bash scripts/build.sh build -DTOURBUS_TESTS=ON  # explicit: run.sh and bench/run build it without tests
echo "== tests =="
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== build (ASan + UBSan) =="
bash scripts/build.sh build-asan -DTOURBUS_TESTS=ON -DTOURBUS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1"
echo "== tests under ASan + UBSan =="
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs"
