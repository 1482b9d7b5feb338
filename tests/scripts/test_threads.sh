#!/usr/bin/env bash
# test_threads.sh DNNCC SRCDIR - the OpenMP build (--threads 2) computes the same gradients
# as the serial one at a batch large enough for its threaded paths: for the conformance
# cases with trainable parameters, `dnncc grad` at batch 64 (random inputs, the case's
# weights) with and without --threads 2 must agree to rel. err. 1e-4 per tensor (max |a - b|
# over max |a|) and in the loss. Batch 64 makes the elementwise loops threaded (32768
# elements and more: `parallel for simd`), the convolutions split their samples over the
# threads with per-thread partial weight gradients, sums over the batch axis use per-thread
# chunks, and the larger products run their tiles on both threads. The two builds differ
# only in summation order (chunked sums), so bitwise equality is not expected.
# DNNCC_THREAD_ALL=1 threads every kernel whatever its size: by default the kernels under
# 32768 elements or 4 MFLOP run serially (codegen/kernels.h), which is most of these small
# cases' convolutions, pooling and softmax. In an LLVM
# build the threaded code is also run through the cc + dlopen JIT (DNNCC_JIT=cc): same
# gradients, and a clean exit (libgomp's worker threads once crashed dnncc when the model
# library was unloaded).
set -u
DNNCC=${1:?usage: test_threads.sh DNNCC SRCDIR}
SRC=${2:?usage: test_threads.sh DNNCC SRCDIR}
CASES="$SRC/../shared/conformance/cases"
[ -d "$CASES" ] || { echo "skipped: no conformance cases at $CASES"; exit 0; }
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME=$T/cache
export PYTHONPATH="$(cd "$(dirname "$0")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"  # npy.py
fail=0
n=0
llvm=0
"$DNNCC" --version | grep -q 'JIT: llvm' && llvm=1

# batch64 IN.npy OUT.npy: the same dtype and trailing shape with batch 64; floats N(0, 1),
# int labels cycling through 0 .. max(IN) (every value the case itself uses).
batch64() {
  python3 - "$1" "$2" <<'EOF'
import random, sys
import npy
descr, shape, vals = npy.read(sys.argv[1])
shape[0] = 64
n = 1
for d in shape: n *= d
random.seed(11)
if descr in ("<i4", "<i8"):
    top = max(vals) + 1
    npy.write(sys.argv[2], descr, shape, [i % top for i in range(n)])
else:
    npy.write(sys.argv[2], descr, shape, [random.gauss(0, 1) for _ in range(n)])
EOF
}

# compare A.st B.st: max |a - b| / max |a| per tensor <= 1e-4
compare() {
  python3 - "$1" "$2" <<'EOF'
import json, struct, sys
def load(p):
    b = open(p, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n]); base = 8 + n; out = {}
    for k, v in h.items():
        if k == "__metadata__": continue
        s, e = v["data_offsets"]
        out[k] = struct.unpack("<%df" % ((e - s) // 4), b[base + s:base + e])
    return out
a, b = load(sys.argv[1]), load(sys.argv[2])
if sorted(a) != sorted(b): sys.exit("different tensors: %s vs %s" % (sorted(a), sorted(b)))
worst = 0.0
for k in a:
    scale = max(max(abs(x) for x in a[k]), 1e-30)
    err = max(abs(x - y) for x, y in zip(a[k], b[k])) / scale
    if not err <= 1e-4: sys.exit("%s: rel. err. %.3g" % (k, err))
    worst = max(worst, err)
print("max rel. err. %.2g" % worst)
EOF
}

field() {  # field CASE_JSON KEY: the list as words
  python3 -c 'import json, sys; print(" ".join(json.load(open(sys.argv[1])).get(sys.argv[2], [])))' "$@"
}
for c in "$CASES"/*/; do
  name=$(basename "$c")
  [ "$(field "$c/case.json" trainable)" ] || continue
  ins=()
  for k in $(field "$c/case.json" inputs); do
    batch64 "$c/in_$k.npy" "$T/$name.$k.npy" || { echo "FAIL $name: cannot make inputs"; fail=$((fail + 1)); continue 2; }
    ins+=(--input "$k=$T/$name.$k.npy")
  done
  n=$((n + 1))
  if ! "$DNNCC" grad "$c/model.dnn" --weights "$c/weights.safetensors" "${ins[@]}" -o "$T/$name.1.st" > "$T/$name.1.txt" 2>&1 ||
     ! DNNCC_THREAD_ALL=1 "$DNNCC" grad "$c/model.dnn" --weights "$c/weights.safetensors" "${ins[@]}" --threads 2 -o "$T/$name.2.st" > "$T/$name.2.txt" 2>&1; then
    echo "FAIL $name: dnncc grad: $(cat "$T/$name.1.txt" "$T/$name.2.txt" | head -5)"; fail=$((fail + 1)); continue
  fi
  if ! msg=$(compare "$T/$name.1.st" "$T/$name.2.st" 2>&1); then echo "FAIL $name: $msg"; fail=$((fail + 1)); continue; fi
  if [ "$llvm" = 1 ]; then
    DNNCC_THREAD_ALL=1 DNNCC_JIT=cc "$DNNCC" grad "$c/model.dnn" --weights "$c/weights.safetensors" "${ins[@]}" --threads 2 -o "$T/$name.3.st" > "$T/$name.3.txt" 2>&1
    st=$?
    if [ $st -ne 0 ]; then
      echo "FAIL $name: DNNCC_JIT=cc dnncc grad --threads 2 exited with status $st: $(head -5 "$T/$name.3.txt")"; fail=$((fail + 1)); continue
    fi
    if ! m3=$(compare "$T/$name.2.st" "$T/$name.3.st" 2>&1); then echo "FAIL $name: cc JIT vs LLVM JIT: $m3"; fail=$((fail + 1)); continue; fi
  fi
  l1=$(awk '/^loss/ {print $2}' "$T/$name.1.txt") l2=$(awk '/^loss/ {print $2}' "$T/$name.2.txt")
  if ! awk -v a="$l1" -v b="$l2" 'BEGIN { d = a - b; if (d < 0) d = -d; s = a < 0 ? -a : a; exit !(a != "" && d <= 1e-5 * (s > 1 ? s : 1)) }'; then
    echo "FAIL $name: loss $l1 (serial) vs $l2 (2 threads)"; fail=$((fail + 1)); continue
  fi
  echo "ok   $name (loss $l1, $msg)"
done
echo "$((n - fail)) passed, $fail failed"
[ "$n" -gt 0 ] && [ "$fail" -eq 0 ]
