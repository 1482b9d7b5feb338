#!/usr/bin/env bash
# The whole test suite: a clean build with warnings as errors, then every test
# (Check unit tests, golden and error programs, the conformance suite, gradient checks,
# generated code under sanitizers) through ctest.
set -euo pipefail
cd "$(dirname "$0")"
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDNNCC_WERROR=ON >/dev/null
cmake --build build-test -j"$(nproc)"
export XDG_CACHE_HOME="$PWD/build-test/cache"
ctest --test-dir build-test --output-on-failure -j"$(nproc)" "$@"
