#!/usr/bin/env bash
# test_sanitize.sh DNNCC SRCDIR - the sanitizer job: dnncc, its runtime and the unit tests
# built with DNNCC_SANITIZE=ON (AddressSanitizer + UndefinedBehaviorSanitizer, no recovery)
# in a build directory next to dnncc's, then the Check unit tests, the conformance suite and
# the error programs run on that build. (The generated code of every example runs under
# the sanitizers in test_compile_examples.sh, and test_kernels' generated kernels here.)
# The cc + dlopen JIT is used: LLVM's shared libraries are not built with the sanitizers.
set -u
DNNCC=${1:?usage: test_sanitize.sh DNNCC SRCDIR}
SRC=${2:?usage: test_sanitize.sh DNNCC SRCDIR}
B="$(dirname "$DNNCC")/sanitize-build"
cmake -S "$SRC" -B "$B" -DCMAKE_BUILD_TYPE=Debug -DDNNCC_SANITIZE=ON -DDNNCC_JIT=CC -DDNNCC_WERROR=ON > "$B.log" 2>&1 \
  && cmake --build "$B" -j2 >> "$B.log" 2>&1 || { tail -40 "$B.log"; echo "FAIL: sanitizer build"; exit 1; }
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# the kernels test_kernels generates are compiled with the sanitizers too (the process that
# loads them carries the runtime): its -march=native configurations run the AVX-512 direct
# convolutions on machines that have AVX-512
export DNK_CFLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
export XDG_CACHE_HOME="$B/cache"
for t in conformance error_programs; do  # both need python3 and ../shared/conformance
  ctest --test-dir "$B" -N -R "^$t\$" | grep -q "Total Tests: 1" || { echo "FAIL: no '$t' test in $B"; exit 1; }
done
ctest --test-dir "$B" --output-on-failure -R '^(unit\.|conformance$|error_programs$)'
