#!/usr/bin/env bash
# test_fuzz.sh DNNCC SRCDIR - a crash-free libFuzzer run of every fuzz target (the .dnn
# front end and the runtime's readers) for DNNCC_FUZZ_SECONDS each (default 60), two at a
# time, through tests/fuzz/run.sh in a build directory next to dnncc's. Needs clang with
# libFuzzer (Debian clang and libclang-rt-14-dev, both in packages.txt): without them the
# test fails rather than passing vacuously.
set -u
DNNCC=${1:?usage: test_fuzz.sh DNNCC SRCDIR}
SRC=${2:?usage: test_fuzz.sh DNNCC SRCDIR}
secs=${DNNCC_FUZZ_SECONDS:-60}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' > "$T/probe.c"
if ! clang -fsanitize=fuzzer,address,undefined "$T/probe.c" -o "$T/probe" 2> "$T/err"; then
  cat "$T/err"
  echo "FAIL: clang cannot build libFuzzer targets (apt-get install clang libclang-rt-14-dev)"
  exit 1
fi
FUZZ_JOBS=2 bash "$SRC/tests/fuzz/run.sh" "$secs" "$(dirname "$DNNCC")/fuzz-build"
