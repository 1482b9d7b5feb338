#!/bin/bash
# test_gradcheck_ops.sh DNNCC SRCDIR - finite-difference gradient check for every op family.
#
# Writes one small model per op (every activation, math op, operator with broadcasting,
# matmul form, dense, conv1d/conv2d with stride/pad/dilation/groups, conv2d_transpose,
# pools, batchnorm, reductions, normalizers, layout ops, embedding, every loss, prelu,
# maxout, dropout, a user def) and runs `dnncc gradcheck` on each (double precision,
# analytic vs central differences), then on every examples/*.dnn. Fails if any case does.
set -u
DNNCC=${1:?usage: test_gradcheck_ops.sh DNNCC SRCDIR}
SRC=${2:?usage: test_gradcheck_ops.sh DNNCC SRCDIR}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# check NAME BATCH: the model text comes on stdin; it is written now and checked at the end.
check() {
  cat > "$TMP/$1.dnn"
  echo "$1 $2" >> "$TMP/list"
}

# run_one NAME BATCH: one gradient check; its verdict goes to $TMP/NAME.res.
run_one() {
  local out
  if out=$("$DNNCC" gradcheck "$TMP/$1.dnn" --batch "$2" --seed 3 2>&1); then
    echo "ok   $1   $(echo "$out" | tail -1)" > "$TMP/$1.res"
  else
    { echo "FAIL $1"; echo "$out" | sed 's/^/     /'; } > "$TMP/$1.res"
  fi
}
export -f run_one
export DNNCC TMP

# vec NAME EXPR: a model on x : [6] whose output o = EXPR (per-sample [4]) is fit by mse.
vec() {
  printf 'model %s\ninput x : [6]\ninput t : [4]\nh = dense(x, 4)\n%s\noutput o = %s\nloss = mse(o, t)\n' \
    "$1" "${3:-}" "$2" | check "$1" 2
}

# activations
for a in relu sigmoid tanh softplus prelu; do vec "act_$a" "$a(h)"; done
vec act_elu "elu(h, alpha=0.7)"
vec act_leaky "leaky_relu(h, slope=0.2)"
vec act_leaky_neg "leaky_relu(h, slope=-0.5)"  # negative slope: its gradient reads x, not y
vec act_hardtanh "hardtanh(h, lo=-0.5, hi=0.5)"
vec act_rrelu "rrelu(h)"
vec act_step_sign "h * step(h) + h * sign(dense(x, 4))"
vec act_maxout "maxout(dense(x, 8), 2)"
vec act_swish "swish(h)" "def swish(v) = v * sigmoid(v)"
vec act_dropout "dropout(h, 0.3)"
# math
vec math_exp "exp(0.5 * h)"
vec math_log "log(sigmoid(h) + 0.1)"
vec math_sqrt "sqrt(square(h) + 1)"
vec math_abs "abs(h)"
vec math_square "square(h)"
vec math_sin_cos "sin(h) + cos(dense(x, 4))"
vec math_powc "pow(sigmoid(h) + 0.5, 1.5) + h ^ 2"
vec math_pow "(sigmoid(h) + 0.5) ^ tanh(dense(x, 4))"
vec math_max_min "max(h, q) + min(h, 0.2 * dense(x, 4))" "param q : [4]"
vec math_clamp "clamp(h, -0.5, 0.5)"
vec math_div "h / (square(dense(x, 4)) + 1) - 1 / (sigmoid(h) + 1)"
vec ops_broadcast "sum((P * h + q) / (square(P) + 1) - q * 2, axis=0) - h" "param P : [3, 4]
param q : [4]"
vec ops_scalar_param "s * h + s" "param s : []"
# matrix products
vec mm_matvec "W @ x" "param W : [4, 6]"
vec mm_vecmat "x @ M" "param M : [6, 4]"
vec mm_transpose "transpose(M) @ x" "param M : [6, 4]"
printf 'input X : [3, 6]\ninput t : [4]\nparam M : [6, 4]\nparam N : [3, 5]\nY = X @ M\noutput o = sum(Y, axis=0) + sum(transpose(Y) @ N, axis=1)\nloss = mse(o, t)\n' | check mm_matmat 2
printf 'input X : [3, 6]\ninput t : [3, 4]\noutput o = tanh(dense(X, 4))\nloss = mse(o, t)\n' | check dense_2d 2
# convolutions and pools
conv() {
  printf 'model %s\ninput img : [4, 7, 7]\ninput y : class(3)\nc = %s\noutput o = dense(flatten(c), 3)\nloss = cross_entropy(o, y)\n' \
    "$1" "$2" | check "$1" 2
}
conv conv2d_basic "conv2d(img, 3, kernel=3)"
conv conv2d_stride_pad_groups "conv2d(img, 6, kernel=3, stride=2, pad=1, groups=2)"
conv conv2d_dilation_same "conv2d(img, 2, kernel=[3, 2], dilation=2, pad=same)"
conv conv2d_transpose "conv2d_transpose(img, 3, kernel=3, stride=2, pad=1, output_pad=1)"
conv pool_max "maxpool(tanh(conv2d(img, 2, kernel=2)), 2)"
conv pool_avg "avgpool(tanh(conv2d(img, 2, kernel=2)), 3, stride=2, pad=1)"
conv pool_l2 "l2pool(tanh(conv2d(img, 2, kernel=2)), 2)"
conv pool_global "global_avgpool(conv2d(img, 3, kernel=3))"
conv batchnorm_conv "batchnorm(conv2d(img, 3, kernel=3))"
sig() {
  printf 'model %s\ninput s : [4, 11]\ninput t : [3]\nc = %s\noutput o = dense(flatten(c), 3)\nloss = mse(o, t)\n' \
    "$1" "$2" | check "$1" 2
}
sig conv1d_all "conv1d(s, 4, 3, stride=2, pad=1, dilation=2, groups=2)"
sig pool1d "maxpool1d(tanh(conv1d(s, 2, 2)), 2) + avgpool1d(conv1d(s, 2, 2), 2)"
printf 'input x : [6]\ninput t : [4]\noutput o = batchnorm(dense(x, 4))\nloss = mse(o, t)\n' | check batchnorm_dense 3
# reductions and normalizers
printf 'input X : [3, 5]\ninput t : [3]\nparam P : [3, 5]\nZ = P * X\noutput o = reduce_max(Z, axis=1) + logsumexp(Z, axis=-1) + mean(Z, axis=1) + sum(Z) + mean(Z)\nloss = mse(o, t)\n' | check reductions 2
printf 'input X : [3, 5]\ninput t : [3, 5]\nparam P : [3, 5]\nZ = P * X\noutput o = softmax(Z) + log_softmax(Z, axis=0) * 0.3\nloss = mse(o, t)\n' | check normalizers 2
# layout
vec layout_concat_slice "concat(h[1:3], h[0:2], axis=0) + h[2] * h"
printf 'input X : [3, 6]\ninput t : [4]\nparam P : [3, 6]\nZ = P * X\noutput o = dense(flatten(transpose(reshape(Z, [6, 3]))), 4) + dense(Z[1], 4)\nloss = mse(o, t)\n' | check layout_reshape 2
printf 'input c : class(7)[3]\ninput y : class(2)\ne = embedding(c, 7, 4)\noutput o = dense(flatten(e), 2)\nloss = cross_entropy(o, y)\n' | check embedding 3
# losses
printf 'input x : [6]\ninput y : class(4)\noutput o = dense(x, 4)\nloss = cross_entropy(o, y)\n' | check loss_ce_class 3
printf 'input x : [6]\ninput y : class(4)[3]\noutput o = reshape(dense(x, 12), [3, 4])\nloss = cross_entropy(o, y)\n' | check loss_ce_positions 2
printf 'input x : [6]\ninput t : [4]\noutput o = dense(x, 4)\nloss = cross_entropy(o, softmax(t))\n' | check loss_ce_soft 2
printf 'input x : [6]\ninput t : [4]\noutput o = dense(x, 4)\nloss = bce(sigmoid(o), sigmoid(t))\n' | check loss_bce 2
printf 'input x : [6]\ninput t : [4]\noutput o = dense(x, 4)\nloss = bce_logits(o, sigmoid(t))\n' | check loss_bce_logits 2
printf 'input x : [6]\ninput y : class(4)\noutput o = log_softmax(dense(x, 4))\nloss = nll(o, y)\n' | check loss_nll 2
printf 'input x : [6]\ninput t : [4]\nparam W : [4, 6]\noutput o = W @ x\nloss = 0.5 * sum((o - t) ^ 2)\n' | check loss_expr 2

# a parameter exactly at relu's kink (zeros): central differences give 1/2, the rule 0 (as
# PyTorch); passes only through the one-sided kink check (failed with error 1 before it)
printf 'input x : [3]\ninput t : [3]\nparam W : [3] init=zeros\noutput o = relu(W) + x\nloss = mse(o, t)\n' | check kink_relu_at_zero 2

for f in "$SRC"/examples/*.dnn; do
  [ -e "$f" ] || continue
  check "example_$(basename "$f" .dnn)" 2 < "$f"
done

# two at a time (the compile dominates), verdicts in list order
xargs -P 2 -L 1 bash -c 'run_one "$0" "$1"' < "$TMP/list"
count=0
fail=0
while read -r name batch; do
  count=$((count + 1))
  cat "$TMP/$name.res" 2>/dev/null || echo "FAIL $name (no result)"
  grep -q '^ok' "$TMP/$name.res" 2>/dev/null || fail=$((fail + 1))
done < "$TMP/list"
echo "$((count - fail)) of $count gradient checks passed"
[ "$fail" -eq 0 ]
