#!/usr/bin/env bash
# test_threads_step.sh DNNCC SRCDIR - the training step that --threads N splits by samples
# (codegen/emit.c part_body: N copies of the training body for batch B / N, one per thread,
# then the mean of their gradients and the update, each thread a slice of the parameters).
# For each model: the C of `dnncc --train` with and without --threads N, compiled with
# -fopenmp, runs 3 training steps from the same initial state on the same pseudo-random
# batches (the C driver below), then P_grad_v (which runs the same split when the step
# does); the losses must agree to rel. err. 1e-5 and every parameter and gradient tensor to
# 1e-4 (max |a - b| over max |a|): the two differ only in summation order. Models where
# samples mix (batchnorm's batch statistics) or whose batch N does not divide must fall
# back to the kernel-threaded step (no P_body_grad_part), which must agree the same way. The cases cover convolutions and pooling with Adam, loops (LSTM),
# dropout (the parts must draw the serial step's masks), 3 threads with slices ending inside
# a parameter (SGD with momentum, Nesterov, weight decay, clip_value), -O0, and clip_norm, whose
# update stays after the threads (a norm over all gradients; here too large to act, or a
# scale-invariant update would hide a wrong gradient mean). After the steps the driver calls
# P_evaluate_v and P_forward_v, which --threads N splits the same way (N copies of the
# inference bodies for batch B / N, codegen/emit.c infer_part_bodies; batchnorm's running
# statistics split too): their loss and outputs must agree alike.
set -u
DNNCC=${1:?usage: test_threads_step.sh DNNCC SRCDIR}
SRC=${2:?usage: test_threads_step.sh DNNCC SRCDIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v cc >/dev/null || { echo "skipped: no cc"; exit 0; }
echo 'int main(void) { return 0; }' > "$T/omp.c"
cc -fopenmp "$T/omp.c" -o "$T/omp" 2>/dev/null || { echo "skipped: cc has no -fopenmp"; exit 0; }

# The driver: inputs given as NAME:f (float) or NAME:c (class), in declaration order (their
# sizes are the header's bm_NAME_SIZE); writes the losses to stdout and "name offset count" of every parameter
# and gradient to argv[2], the state up to the step counter to argv[3].
cat > "$T/drv.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bm.h"
double bm_train_step_v(void *state, void *const *in);
double bm_grad_v(void *state, void *const *in);
INPUT_DECLS
OUTPUT_DECLS
int main(int argc, char **argv) {
  (void)argc;
  void *st = calloc(1, (bm_STATE_BYTES + 63) / 64 * 64 + 64);
  void *al = (void *)(((uintptr_t)st + 63) & ~(uintptr_t)63);
  void *in[] = {INPUT_PTRS};
  size_t sizes[] = {INPUT_SIZES};
  int cls[] = {INPUT_CLASS};
  unsigned s = 12345;
  bm_init(al, 7);
  for (int k = 0; k < 3; k++) {
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
      for (size_t j = 0; j < sizes[i]; j++) {
        s = s * 1103515245u + 12345u;
        if (cls[i]) ((int32_t *)in[i])[j] = (int32_t)((j * 7 + (size_t)k) % 3);
        else ((float *)in[i])[j] = (float)((s >> 8) % 2001) / 1000.0f - 1.0f;
      }
    printf("%.9g\n", bm_train_step_v(al, in));
  }
  printf("%.9g\n", bm_grad_v(al, in));  /* the gradients written below are P_grad_v's */
  /* P_evaluate_v (all inputs) and P_forward_v (the float ones, here the inference inputs):
   * their outputs go after the state in argv[2] */
  void *eo[] = {OUTPUT_PTRS(e)}, *fo[] = {OUTPUT_PTRS(f)}, *xin[] = {INFER_PTRS};
  size_t osz[] = {OUTPUT_SIZES};
  printf("%.9g\n", bm_evaluate_v(al, in, eo));
  bm_forward_v(al, xin, fo);
  FILE *f = fopen(argv[1], "w");
  for (int i = 0; i < bm_n_params; i++) {
    long n = 1;
    for (int d = 0; d < bm_params[i].rank; d++) n *= bm_params[i].shape[d];
    fprintf(f, "%s %zu %ld\n", bm_params[i].name, bm_params[i].offset, n);
  }
  for (int i = 0; i < bm_n_grads; i++) fprintf(f, "grad:%s %zu %zu\n", bm_grads[i].name, bm_grads[i].offset, bm_grads[i].count);
  size_t at = (size_t)bm_step_offset;
  for (size_t i = 0; i < sizeof osz / sizeof osz[0]; i++) {
    fprintf(f, "evaluate:out%zu %zu %zu\nforward:out%zu %zu %zu\n", i, at, osz[i], i, at + osz[i] * 4, osz[i]);
    at += osz[i] * 8;
  }
  fclose(f);
  f = fopen(argv[2], "wb");
  fwrite(al, 1, (size_t)bm_step_offset, f);
  for (size_t i = 0; i < sizeof osz / sizeof osz[0]; i++) {
    fwrite(eo[i], 4, osz[i], f);
    fwrite(fo[i], 4, osz[i], f);
  }
  fclose(f);
  free(st);
  return 0;
}
EOF

compare() {  # compare DIR1 DIR2
  python3 - "$1" "$2" <<'EOF'
import struct, sys
def load(d):
    idx = [l.split() for l in open(d + "/index.txt")]
    blob = open(d + "/state.bin", "rb").read()
    losses = [float(x) for x in open(d + "/loss.txt").read().split()]
    return {n: struct.unpack_from("<%df" % int(c), blob, int(o)) for n, o, c in idx}, losses
(a, la), (b, lb) = load(sys.argv[1]), load(sys.argv[2])
if len(la) != 5 or len(lb) != 5: sys.exit("no losses")
for x, y in zip(la, lb):
    if not abs(x - y) <= 1e-5 * max(abs(x), 1): sys.exit("loss %r vs %r" % (x, y))
worst = 0.0
for k in a:
    scale = max(max(abs(v) for v in a[k]), 1e-30)
    err = max(abs(x - y) for x, y in zip(a[k], b[k])) / scale
    if not err <= 1e-4: sys.exit("%s: rel. err. %.3g" % (k, err))
    worst = max(worst, err)
print("max rel. err. %.2g over %d tensors" % (worst, len(a)))
EOF
}

fail=0
n=0
OPT=  # dnncc's -O level for the next checks (default: -O2)
# check NAME MODEL BATCH THREADS SPLIT ISPLIT INPUTS... (SPLIT 1: the split training step is
# expected, 0: not; ISPLIT the same for the split P_forward_v and P_evaluate_v)
check() {
  local name=$1 model=$2 batch=$3 threads=$4 split=$5 isplit=$6
  shift 6
  local decls="" ptrs="" sizes="" cls="" xptrs=""
  for spec in "$@"; do
    local nm=${spec%:*} ty=${spec#*:}
    [ "$ty" = c ] && decls+="static int32_t ${nm}_d[bm_${nm^^}_SIZE]; " || decls+="static float ${nm}_d[bm_${nm^^}_SIZE]; "
    ptrs+="${nm}_d, "; sizes+="bm_${nm^^}_SIZE, "; [ "$ty" = c ] && cls+="1, " || { cls+="0, "; xptrs+="${nm}_d, "; }
  done
  n=$((n + 1))
  for v in 1 "$threads"; do
    local d="$T/$name.$v" topt=""
    mkdir -p "$d"
    [ "$v" != 1 ] && topt="--threads $v"
    if ! "$DNNCC" "$model" -o "$d/bm.c" --prefix bm --train --batch "$batch" $OPT $topt > "$d/log" 2>&1; then
      echo "FAIL $name ($v threads): $(tail -5 "$d/log")"; fail=$((fail + 1)); return
    fi
    # the outputs: the header's sizes other than the inputs'
    local odecls="" osizes="" onames
    onames=$(grep -o '^#define bm_[A-Z0-9_]*_SIZE' "$d/bm.h" | sed 's/^#define //' | grep -v -x -F -e "$(printf '%s\n' $sizes | tr -d ',')")
    for o in $onames; do odecls+="static float e_$o[$o], f_$o[$o]; "; osizes+="$o, "; done
    sed -e "s/INPUT_DECLS/$decls/" -e "s/INPUT_PTRS/$ptrs/" -e "s/INPUT_SIZES/$sizes/" -e "s/INPUT_CLASS/$cls/" \
        -e "s/OUTPUT_DECLS/$odecls/" -e "s/OUTPUT_SIZES/$osizes/" -e "s/INFER_PTRS/$xptrs/" \
        -e "s/OUTPUT_PTRS(e)/$(printf 'e_%s, ' $onames)/" -e "s/OUTPUT_PTRS(f)/$(printf 'f_%s, ' $onames)/" "$T/drv.c" > "$d/drv.c"
    if ! cc -std=c99 -O2 -fopenmp -I"$d" "$d/bm.c" "$d/drv.c" -o "$d/drv" -lm >> "$d/log" 2>&1 ||
       ! (cd "$d" && ./drv index.txt state.bin > loss.txt 2>> log); then
      echo "FAIL $name ($v threads): $(tail -5 "$d/log")"; fail=$((fail + 1)); return
    fi
  done
  local got kind
  for kind in "grad $split step" "forward $isplit inference"; do  # BODY EXPECTED WHAT
    set -- $kind
    got=$(grep -c "_body_$1_part(char" "$T/$name.$threads/bm.c")
    if [ "$got" != "$2" ]; then
      echo "FAIL $name: split $3 expected $2, found $got"; fail=$((fail + 1)); return
    fi
  done
  local msg
  if ! msg=$(compare "$T/$name.1" "$T/$name.$threads" 2>&1); then echo "FAIL $name: $msg"; fail=$((fail + 1)); return; fi
  echo "ok   $name ($threads threads, split $split: $msg)"
}

cat > "$T/mlp3.dnn" <<'EOF'
input x : [7]
input y : class(3)
h = tanh(dense(x, 13))
output logits = dense(h, 3)
loss = cross_entropy(logits, y)
train { optimizer = sgd(lr=0.1, momentum=0.9, nesterov=true, weight_decay=0.01) clip_value = 0.5 batch = 12 }
EOF
cat > "$T/clip.dnn" <<'EOF'
input x : [5]
input y : class(3)
h = relu(dense(x, 9))
output logits = dense(h, 3)
loss = cross_entropy(logits, y)
train { optimizer = sgd(lr=0.1) clip_norm = 100 batch = 8 }
EOF
check lenet5_adam "$SRC/examples/lenet5.dnn" 64 2 1 1 x:f y:c
check lstm_sgd "$SRC/bench/models/lstm.dnn" 16 2 1 1 x:f y:c
check mlp_3threads "$T/mlp3.dnn" 12 3 1 1 x:f y:c
check clip_norm "$T/clip.dnn" 8 2 1 1 x:f y:c
# SGD: after Adam's first steps (about lr * sign(g)) a gradient element near 0 may flip the
# sign of its update between summation orders (this model: 1.5e-3 in one tensor)
sed 's/optimizer = adam([^)]*)/optimizer = sgd(lr=0.01, momentum=0.9)/' "$SRC/examples/lenet5_bn.dnn" > "$T/lenet5_bn.dnn"
check batchnorm "$T/lenet5_bn.dnn" 8 2 0 1 x:f y:c
sed 's/optimizer = adam([^)]*)/optimizer = sgd(lr=0.05, momentum=0.9)/' "$SRC/examples/mlp.dnn" > "$T/mlp_sgd.dnn"
check dropout "$T/mlp_sgd.dnn" 8 2 1 1 x:f y:c
check one_sample_parts "$T/mlp_sgd.dnn" 3 3 1 1 x:f y:c
check indivisible "$T/mlp3.dnn" 10 4 0 0 x:f y:c
OPT=-O0  # no fusion: one loop nest per node in both bodies
check lenet5_O0 "$SRC/examples/lenet5.dnn" 64 2 1 1 x:f y:c
check dropout_O0 "$T/mlp_sgd.dnn" 8 2 1 1 x:f y:c
echo "$((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
