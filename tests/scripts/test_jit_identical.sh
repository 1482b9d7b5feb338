#!/usr/bin/env bash
# test_jit_identical.sh DNNCC SRCDIR - the LLVM JIT and the cc + dlopen path give
# bit-identical results: for every conformance case, `dnncc run` outputs and `dnncc grad`
# gradients and loss line are compared byte for byte between the default back end (LLVM in
# an LLVM build) and DNNCC_JIT=cc. Skipped (status 0 with a note) in a build without LLVM,
# where both would be the same path.
set -u
DNNCC=${1:?usage: test_jit_identical.sh DNNCC SRCDIR}
SRC=${2:?usage: test_jit_identical.sh DNNCC SRCDIR}
CASES="$SRC/../shared/conformance/cases"
if ! "$DNNCC" --version | grep -q 'JIT: llvm'; then
  echo "skipped: dnncc was built without the LLVM JIT"
  exit 0
fi
[ -d "$CASES" ] || { echo "skipped: no conformance cases at $CASES"; exit 0; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME=$T/cache
fail=0
n=0
field() {  # field CASE_JSON KEY [FALLBACK_KEY]: the list as words
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print(" ".join(d.get(sys.argv[2], d.get(sys.argv[3], []))))' "$@"
}
for c in "$CASES"/*/; do
  name=$(basename "$c")
  run_in=() grad_in=() outs_l=() outs_c=()
  for k in $(field "$c/case.json" infer_inputs inputs); do run_in+=(--input "$k=$c/in_$k.npy"); done
  for k in $(field "$c/case.json" inputs inputs); do grad_in+=(--input "$k=$c/in_$k.npy"); done
  for o in $(field "$c/case.json" outputs outputs); do
    outs_l+=(-o "$o=$T/$name.$o.llvm.npy")
    outs_c+=(-o "$o=$T/$name.$o.cc.npy")
  done
  W=(--weights "$c/weights.safetensors")
  "$DNNCC" run "$c/model.dnn" "${W[@]}" "${run_in[@]}" "${outs_l[@]}" > /dev/null 2> "$T/err"
  if grep -q "cannot load the LLVM JIT" "$T/err"; then cat "$T/err"; echo "FAIL: the LLVM JIT did not load"; exit 1; fi
  DNNCC_JIT=cc "$DNNCC" run "$c/model.dnn" "${W[@]}" "${run_in[@]}" "${outs_c[@]}" > /dev/null
  for o in $(field "$c/case.json" outputs outputs); do
    n=$((n + 1))
    if cmp -s "$T/$name.$o.llvm.npy" "$T/$name.$o.cc.npy"; then echo "ok   $name run $o"; else echo "FAIL $name run $o differs"; fail=$((fail + 1)); fi
  done
  if [ "$(field "$c/case.json" trainable trainable)" ]; then
    n=$((n + 1))
    "$DNNCC" grad "$c/model.dnn" "${W[@]}" "${grad_in[@]}" -o "$T/$name.llvm.st" > "$T/$name.llvm.txt"
    DNNCC_JIT=cc "$DNNCC" grad "$c/model.dnn" "${W[@]}" "${grad_in[@]}" -o "$T/$name.cc.st" > "$T/$name.cc.txt"
    if cmp -s "$T/$name.llvm.st" "$T/$name.cc.st" && cmp -s "$T/$name.llvm.txt" "$T/$name.cc.txt"; then
      echo "ok   $name grad ($(cat "$T/$name.llvm.txt"))"
    else
      echo "FAIL $name grad or loss differs"; fail=$((fail + 1))
    fi
  fi
done
echo "$((n - fail)) passed, $fail failed"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
