#!/bin/bash
# run.sh SECONDS [BUILD_DIR] - builds the runtime's libFuzzer targets with clang and runs
# each for SECONDS, starting from seed corpora made of small valid files. Corpora and
# crash artifacts go to BUILD_DIR/fuzz-work/<target>/; the last line of each run (with
# its exec count) is printed and collected in BUILD_DIR/fuzz-work/summary.txt.
set -euo pipefail
secs=${1:?usage: run.sh SECONDS [BUILD_DIR]}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build-fuzz}
targets="fuzz_npy fuzz_safetensors fuzz_json fuzz_idx fuzz_csv fuzz_text fuzz_augment fuzz_cifar"

CC=clang cmake -S "$root" -B "$build" -DDNNCC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# only the fuzz targets: they compile the runtime sources themselves
make -C "$build" -j2 $targets >/dev/null

work=$build/fuzz-work
mkdir -p "$work"
python3 "$root/tests/fuzz/seeds.py" "$work"
: > "$work/summary.txt"
status=0
for t in $targets; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  cp -n "$work/seeds/$t"/* "$work/$t/corpus/" 2>/dev/null || true
  echo "== $t ($secs s)"
  if ! "$build/tests/fuzz/$t" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
       -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1 "$work/$t/corpus" > "$work/$t/log.txt" 2>&1; then
    echo "$t: FAILED (see $work/$t/log.txt and $work/$t/artifacts/)"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t/log.txt" | grep -o '[0-9]*$' || echo '?')
  echo "$t: $runs executions in $secs s" | tee -a "$work/summary.txt"
done
exit $status
