#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit and integration) through
# CTest twice: a normal build, then one under AddressSanitizer + UndefinedBehaviorSanitizer (all
# but the headless-browser pages, label "browser"); in between, each libFuzzer target runs for 10
# seconds over its seed corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each stage's start, with the seconds since this script began (where CI's time goes).
stage() { echo "== $1 (at ${SECONDS} s) =="; }
bash scripts/setup.sh
jobs=$(nproc)

stage "build (RelWithDebInfo)"
bash scripts/build.sh build -DTOURBUS_TESTS=ON  # explicit: run.sh and bench/run build it without tests
# After a failed ctest: why each test failed, again at the end of the log (scripts/failures.py).
run_ctest() {
  local dir=$1
  shift
  if ! ctest --test-dir "$dir" --output-on-failure -j "$jobs" "$@"; then
    /usr/bin/python3 scripts/failures.py "$dir"
    return 1
  fi
}

stage "tests"
run_ctest build

stage "fuzz smoke (libFuzzer + ASan + UBSan, clang; docs/testing.md)"
cmake -S . -B build-fuzz -DTOURBUS_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" >/dev/null
cmake --build build-fuzz -j "$jobs" --target fuzz
for target in ws_frame_fuzz http_request_fuzz ws_event_fuzz config_fuzz socketio_fuzz schedule_fuzz cap_fuzz translate_fuzz relay_fuzz; do
  # New inputs go to a scratch corpus; the seeds in tests/fuzz/corpus stay as they are.
  rm -rf "build-fuzz/corpus/$target" && mkdir -p "build-fuzz/corpus/$target"
  if ! "build-fuzz/tests/fuzz/$target" "build-fuzz/corpus/$target" "tests/fuzz/corpus/$target" \
      -max_total_time=10 -rss_limit_mb=2048 -artifact_prefix=build-fuzz/ >"build-fuzz/$target.log" 2>&1; then
    tail -n 60 "build-fuzz/$target.log"
    echo "fuzz: $target found a failure (the input is saved as crash-* / leak-* / timeout-*)" >&2
    exit 1
  fi
  echo "$target: $(grep -E 'DONE' "build-fuzz/$target.log")"
done

stage "build (ASan + UBSan)"
bash scripts/build.sh build-asan -DTOURBUS_TESTS=ON -DTOURBUS_BENCH=OFF -DTOURBUS_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O0 -g1"
stage "tests under ASan + UBSan"
# The scenarios' second run on PostgreSQL (label postgres-scenario) drives the same daemon code as
# their SQLite run; the store's PostgreSQL engine runs under the sanitizers in `unit (postgres)`.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  run_ctest build-asan -LE 'browser|postgres-scenario'
stage "done"
