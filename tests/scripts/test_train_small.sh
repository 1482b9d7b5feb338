#!/bin/bash
# test_train_small.sh DNNCC SRCDIR - end-to-end test of `dnncc train` and `dnncc eval`.
#
# Trains a tiny MLP on a synthetic csv: data set (three Gaussian blobs in 4-D, written here
# with awk) and checks: the loss decreases and accuracy beats chance; --log is a CSV with
# one row per epoch; --plot is a valid PNG; eval prints `loss` and `accuracy` last; a run
# killed with SIGKILL mid-run and continued with --resume ends with the same weights as an
# uninterrupted run (also with --threads 2, whose step splits the batch); bad labels and a
# diverging loss are clear errors that leave no file.
set -u
DNNCC=$1
SRCDIR=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export PYTHONPATH="$(cd "$(dirname "$0")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"  # npy.py
fail() { echo "FAIL: $*" >&2; exit 1; }

gen() {  # gen N SEED OUT [BADLABEL]
  awk -v n="$1" -v seed="$2" -v bad="${4:-}" 'BEGIN {
    srand(seed)
    for (i = 0; i < n; i++) {
      c = i % 3
      line = ""
      for (k = 0; k < 4; k++) {
        u1 = rand(); if (u1 < 1e-9) u1 = 1e-9
        z = sqrt(-2 * log(u1)) * cos(6.283185307 * rand())
        center = (k == c) ? 2.0 : (k == 3 && c == 2 ? -1.5 : 0.0)
        line = line sprintf("%.5f,", center + 0.8 * z)
      }
      if (bad != "" && i == 7) c = 5
      print line c
    }
  }' > "$3"
}
gen 600 1 "$T/train.csv"
gen 90 2 "$T/bad.csv" bad

cat > "$T/mlp.dnn" <<'DNN'
input x : [4]
input y : class(3)
h = relu(dense(x, 16))
output logits = dense(h, 3)
loss = cross_entropy(logits, y)
train {
  optimizer = adam(lr=0.01)
  batch = 16
  epochs = 6
  seed = 3
}
DNN

# 1. training with validation, log, plot, checkpoint
"$DNNCC" train "$T/mlp.dnn" --data "csv:$T/train.csv" --val 0.2 --log "$T/log.csv" --plot "$T/plot.png" \
  --checkpoint "$T/ck" -o "$T/w.safetensors" > "$T/out.txt" 2> "$T/err.txt" || { cat "$T/err.txt"; fail "train failed"; }
[ -s "$T/w.safetensors" ] || fail "no weights written"
grep -q '^wall time ' "$T/out.txt" || fail "no wall time line"
grep -q '^samples/s ' "$T/out.txt" || fail "no samples/s line"
head -1 "$T/log.csv" | grep -q '^epoch,step,train_loss,val_loss,val_acc,test_loss,test_acc,seconds$' || fail "log header"
[ "$(wc -l < "$T/log.csv")" -eq 7 ] || fail "log should have 6 epoch rows: $(cat "$T/log.csv")"
awk -F, 'NR == 2 { first = $3 } NR == 7 { last = $3; acc = $5 }
  END { if (!(last < first)) { print "loss did not decrease: " first " -> " last; exit 1 }
        if (!(acc > 0.6)) { print "validation accuracy " acc " not above chance"; exit 1 } }' "$T/log.csv" \
  || fail "training did not learn"
[ "$(head -c 8 "$T/plot.png" | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "plot is not a PNG"
[ "$(tail -c 8 "$T/plot.png" | head -c 4)" = "IEND" ] || fail "plot PNG does not end with IEND"
[ -s "$T/ck/checkpoint.dnck" ] || fail "no checkpoint"

# 2. eval: the last two lines
"$DNNCC" eval "$T/mlp.dnn" --weights "$T/w.safetensors" --data "csv:$T/train.csv" > "$T/eval.txt" 2>&1 \
  || { cat "$T/eval.txt"; fail "eval failed"; }
tail -2 "$T/eval.txt" | head -1 | grep -Eq '^loss [0-9.eE+-]+$' || fail "eval: no loss line: $(cat "$T/eval.txt")"
tail -1 "$T/eval.txt" | awk '/^accuracy / { if ($2 > 0.6 && $2 <= 1) ok = 1 } END { exit !ok }' \
  || fail "eval: accuracy line: $(cat "$T/eval.txt")"

# the padded last batch counts exactly: batch 64 (9 full + 24 of 600) agrees with batch 40 (no remainder)
"$DNNCC" eval "$T/mlp.dnn" --weights "$T/w.safetensors" --data "csv:$T/train.csv" --batch 40 > "$T/eval40.txt" 2>&1 \
  || fail "eval --batch 40 failed"
paste <(tail -2 "$T/eval.txt") <(tail -2 "$T/eval40.txt") | awk '{ d = $2 - $4; if (d < 0) d = -d; if (d > 1e-4 * ($2 + 1e-3)) bad = 1 }
  END { exit bad }' || fail "eval depends on the batch: $(cat "$T/eval.txt" "$T/eval40.txt")"

# 3. SIGKILL during training, then --resume: same weights as an uninterrupted run
gen 3000 4 "$T/big.csv"
# killed_resumed WHAT CKDIR ARGS...: runs `dnncc ARGS --checkpoint CKDIR` quietly, kills it
# once a checkpoint exists, then continues it with --resume, which must say it starts
# before the last of the E epochs (E = 200 epochs of 188 steps: 12 were often over before
# the kill, leaving only the resumption of a finished run to test). WHAT prefixes the
# failure messages.
E=200
killed_resumed() {
  local what=$1 ck=$2
  shift 2
  "$DNNCC" "$@" --checkpoint "$ck" -q > /dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 600); do [ -s "$ck/checkpoint.dnck" ] && break; sleep 0.02; done
  kill -9 $pid 2> /dev/null
  wait $pid 2> /dev/null
  [ -s "$ck/checkpoint.dnck" ] || fail "${what}no checkpoint before the kill"
  ls "$ck" | grep -v '^checkpoint.dnck$' && fail "${what}temporary files left in the checkpoint directory"
  "$DNNCC" "$@" --checkpoint "$ck" --resume > /dev/null 2> "$ck.resume.txt" ||
    { cat "$ck.resume.txt"; fail "${what}resume failed"; }
  awk -v e="$E" '/resuming after epoch/ { n = $5 } END { exit !(n >= 1 && n < e) }' "$ck.resume.txt" ||
    fail "${what}the kill did not land mid-run: $(grep resum "$ck.resume.txt")"
}
"$DNNCC" train "$T/mlp.dnn" --data "csv:$T/big.csv" --epochs "$E" --log "$T/full.csv" -o "$T/full.safetensors" -q \
  > /dev/null 2>&1 || fail "uninterrupted run failed"
killed_resumed "" "$T/ck2" train "$T/mlp.dnn" --data "csv:$T/big.csv" --epochs "$E" --log "$T/res.csv" -o "$T/res.safetensors"
cmp -s "$T/full.safetensors" "$T/res.safetensors" || fail "resumed run ends with different weights"
diff <(cut -d, -f1-7 "$T/full.csv") <(cut -d, -f1-7 "$T/res.csv") > /dev/null || fail "resumed log differs"

# 3b. the same with --threads 2, whose step splits the batch (8 samples per thread, as the
# banner says): deterministic, so a killed and resumed run again ends with the same weights
targs=(train "$T/mlp.dnn" --data "csv:$T/big.csv" --epochs "$E" --threads 2)
"$DNNCC" "${targs[@]}" -o "$T/tfull.safetensors" > /dev/null 2> "$T/tfull.txt" ||
  { cat "$T/tfull.txt"; fail "--threads 2 run failed"; }
grep -q 'batch 16, 2 threads (8 samples each)' "$T/tfull.txt" || fail "--threads 2 banner: $(head -1 "$T/tfull.txt")"
killed_resumed "--threads 2: " "$T/ck3" "${targs[@]}" -o "$T/tres.safetensors"
cmp -s "$T/tfull.safetensors" "$T/tres.safetensors" || fail "--threads 2: resumed run ends with different weights"

# 4. bad data: a label out of range is an error before training; no weights file
"$DNNCC" train "$T/mlp.dnn" --data "csv:$T/bad.csv" -o "$T/bad.safetensors" > /dev/null 2> "$T/bad.txt"
[ $? -eq 1 ] || fail "bad labels: exit status"
grep -q 'out of range' "$T/bad.txt" || fail "bad labels: message: $(cat "$T/bad.txt")"
[ ! -e "$T/bad.safetensors" ] || fail "bad labels: weights written"
sed 's/input x : \[4\]/input x : [5]/' "$T/mlp.dnn" > "$T/wide.dnn"
"$DNNCC" train "$T/wide.dnn" --data "csv:$T/train.csv" > /dev/null 2> "$T/wide.txt"
[ $? -eq 1 ] || fail "feature size mismatch: exit status"
grep -q '\[5\]' "$T/wide.txt" && grep -q '\[4\]' "$T/wide.txt" || fail "size mismatch message: $(cat "$T/wide.txt")"
"$DNNCC" train "$T/mlp.dnn" --data "csv:$T/missing.csv" > /dev/null 2>&1
[ $? -eq 1 ] || fail "missing data: exit status"

# 5. a diverging loss stops with a message naming the step
sed 's/adam(lr=0.01)/sgd(lr=1e30)/' "$T/mlp.dnn" > "$T/div.dnn"
"$DNNCC" train "$T/div.dnn" --data "csv:$T/train.csv" -o "$T/div.safetensors" > /dev/null 2> "$T/div.txt"
[ $? -eq 1 ] || fail "divergence: exit status"
grep -q 'at step [0-9]' "$T/div.txt" || fail "divergence: message: $(cat "$T/div.txt")"

# 6. a NaN in an input of `dnncc run` is an error naming the input, the element and the sample
python3 - "$T/nan.npy" <<'PY'
import sys
import npy
npy.write(sys.argv[1], "<f4", [2, 4], [0.5, 1, 2, 3, 4, float("nan"), 6, 7])
PY
"$DNNCC" run "$T/mlp.dnn" --weights "$T/full.safetensors" --input "x=$T/nan.npy" -o "$T/nan_out.npy" > /dev/null 2> "$T/nan.txt"
[ $? -eq 1 ] || fail "NaN input: exit status"
grep -q "input 'x' holds NaN at element 5 (sample 1)" "$T/nan.txt" || fail "NaN input: message: $(cat "$T/nan.txt")"
[ ! -e "$T/nan_out.npy" ] || fail "NaN input: output written"
echo "test_train_small: ok"
