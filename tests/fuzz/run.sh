#!/bin/bash
# run.sh SECONDS [BUILD_DIR] - builds the libFuzzer targets (the .dnn front end and the
# runtime's readers) with clang and runs each for SECONDS, JOBS at a time (environment
# FUZZ_JOBS, default: the number of cores), starting from seed corpora made of small valid
# files. Corpora and crash artifacts go to BUILD_DIR/fuzz-work/<target>/; the last line of
# each run (with its exec count) is printed and collected in BUILD_DIR/fuzz-work/summary.txt.
# Exit status 1 when any target found a crash, a leak, a timeout or undefined behaviour.
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [BUILD_DIR]}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-$(nproc)}
targets="fuzz_dnn fuzz_npy fuzz_safetensors fuzz_json fuzz_idx fuzz_csv fuzz_text fuzz_augment fuzz_cifar"

CC=clang cmake -S "$root" -B "$build" -DDNNCC_FUZZ=ON -DDNNCC_JIT=CC -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# only the fuzz targets: they compile the sources they test themselves
make -C "$build" -j"$jobs" $targets >/dev/null

work=$build/fuzz-work
mkdir -p "$work"
python3 "$root/tests/fuzz/seeds.py" "$work"

# one target: SECONDS of fuzzing, then "<target>: <execs> executions ..." on stdout
fuzz_one() {
  local t=$1 log=$work/$1/log.txt
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -n "$work/seeds/$t"/* "$work/$t/corpus/" 2>/dev/null || true
  local verdict=ok
  # -close_fd_mask=2: the targets' own diagnostics stay out of the log (libFuzzer and the
  # sanitizers still report there)
  # -timeout=60: an input near the unroll limit takes seconds through autodiff under ASan
  "$build/tests/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=60 \
    -close_fd_mask=2 -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1 "$work/$t/corpus" \
    > "$log" 2>&1 || verdict="FAILED (see $log and $work/$t/artifacts/)"
  local runs
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  echo "$t: $runs executions in $secs s: $verdict"
}
export -f fuzz_one
export build work secs

printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'fuzz_one {}' | tee "$work/summary.txt"
! grep -q FAILED "$work/summary.txt"
