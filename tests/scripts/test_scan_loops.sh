#!/bin/bash
# test_scan_loops.sh DNNCC SRCDIR - recurrences compiled as time loops (unroll.c, scan_save.c,
# scan_hoist.c).
#
#  1. A scan of 100,000 steps (far beyond what unrolling allows) runs: h = h + x_t over ones
#     must give h[49999] = 50000 and h[-1] = 100000 exactly (integers below 2^24 in float).
#  2. BPTT through 1,500 steps: `dnncc gradcheck` of a tanh RNN with a user-written scan
#     (the adjoint is a reverse loop reading saved per-step values; parameter gradients are
#     summed after the loop over the stacked steps).
#  3. States whose new value is another state's previous value (a = b) or their own (k = k)
#     go through staging copies in the loop: gradcheck of such a model.
#  4. The generated C of a 32-step LSTM training step holds one loop per scan: its size does
#     not grow with T (the same model at T = 320 is less than 1.2 times larger).
set -u
DNNCC=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export PYTHONPATH="$(cd "$(dirname "$0")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"  # npy.py
fail() { echo "FAIL: $*" >&2; exit 1; }

cat > "$T/long.dnn" <<'DNN'
model long_scan
input x : [100000, 1]
scan x_t in x {
  state h : [1] = 0
  h = h + x_t
}
output last = h[-1]
output mid = h[49999]
DNN
python3 - "$T" <<'PY' || fail "writing the input"
import sys
import npy
n = 100000
npy.write(sys.argv[1] + "/x.npy", "<f4", [1, n, 1], [1.0] * n)
PY
"$DNNCC" run "$T/long.dnn" --input "$T/x.npy" -o "last=$T/last.npy" -o "mid=$T/mid.npy" || fail "run of the long scan"
python3 - "$T" <<'PY' || fail "long scan values"
import sys
import npy
for name, want in (("last", 100000.0), ("mid", 50000.0)):
    got = npy.read(sys.argv[1] + "/" + name + ".npy")[2][0]
    print(name, got)
    if got != want:
        sys.exit("%s = %r, want %r" % (name, got, want))
PY

cat > "$T/bptt.dnn" <<'DNN'
model long_bptt
input x : [1500, 3]
input y : class(2)
param W : [4, 3] init=normal(0.3)
param U : [4, 4] init=normal(0.3)
param b : [4]
scan x_t in x {
  state h : [4] = 0
  h = tanh(W @ x_t + U @ h + b)
}
output logits = dense(h[-1], 2)
loss = cross_entropy(logits, y)
DNN
"$DNNCC" gradcheck "$T/bptt.dnn" || fail "gradcheck through 1500 steps"

cat > "$T/swap.dnn" <<'DNN'
model swap
input x : [6, 3]
input y : class(2)
param W : [3, 3]
scan x_t in x {
  state a : [3] = 0
  state b : [3] = 1
  state k : [3] = 0.5
  a = b
  k = k
  b = tanh(W @ x_t + a)
}
output o = dense(a[-1] + b[-1] + k[-1], 2)
loss = cross_entropy(o, y)
DNN
"$DNNCC" gradcheck "$T/swap.dnn" || fail "gradcheck of states that alias each other"
"$DNNCC" "$T/swap.dnn" -o "$T/swap.c" --train || fail "emit swap"
grep -q "memcpy(st + " "$T/swap.c" || fail "no staging copy for aliasing states"

lstm() {
  cat <<DNN
model lstm_size
input x : [$1, 16]
input y : class(4)
h = lstm(x, 32)
output logits = dense(h[-1], 4)
loss = cross_entropy(logits, y)
DNN
}
lstm 32 > "$T/l32.dnn"
lstm 320 > "$T/l320.dnn"
"$DNNCC" "$T/l32.dnn" -o "$T/l32.c" --train || fail "emit T=32"
"$DNNCC" "$T/l320.dnn" -o "$T/l320.c" --train || fail "emit T=320"
s32=$(wc -c < "$T/l32.c")
s320=$(wc -c < "$T/l320.c")
echo "generated C: $s32 bytes at T=32, $s320 bytes at T=320"
[ $((s320 * 10)) -lt $((s32 * 12)) ] || fail "the C grows with T ($s32 -> $s320 bytes)"
echo "ok"
