#!/bin/bash
# mlp_vs_cnn.sh - trains examples/mlp.dnn and examples/lenet5.dnn on Fashion-MNIST and
# plots both loss curves into one PNG (mlp_vs_cnn.png).
#
# usage: examples/mlp_vs_cnn.sh [DNNCC] [EPOCHS]     (defaults: build/dnncc, 2)
# Each run writes its own CSV log (--log) and plot (--plot); the combined figure is drawn
# by dnncc's own PNG plotter (runtime/plot.c, linked from libdnrt.a next to DNNCC), else
# with matplotlib, else gnuplot, else the two per-run plots are left as they are.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
DNNCC=${1:-$HERE/../build/dnncc}
EPOCHS=${2:-2}
OUT=${OUT:-$PWD/mlp_vs_cnn}
mkdir -p "$OUT"

for m in mlp lenet5; do
  echo "== $m"
  "$DNNCC" train "$HERE/$m.dnn" --data fashion-mnist --epochs "$EPOCHS" --val 0.1 \
    --log "$OUT/$m.csv" --plot "$OUT/$m.png" -o "$OUT/$m.safetensors"
done

LIB=$(dirname "$DNNCC")/libdnrt.a
if [ -f "$LIB" ] && command -v cc > /dev/null; then
  # dnncc's own PNG plotter (runtime/plot.c): train loss (left) and test accuracy (right);
  # mlp blue, lenet5 red.
  cat > "$OUT/plot2.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include "dnrt_train.h"
static int rd(const char *path, double *ep, double *loss, double *acc) {
  FILE *f = fopen(path, "r");
  char line[512];
  int n = 0;
  if (!f || !fgets(line, sizeof line, f)) return 0;
  while (n < 1000 && fgets(line, sizeof line, f)) {
    double e, s, tl, vl, va, sl, sa, sec;
    if (sscanf(line, "%lf,%lf,%lf,%lf,%lf,%lf,%lf,%lf", &e, &s, &tl, &vl, &va, &sl, &sa, &sec) == 8)
      ep[n] = e, loss[n] = tl, acc[n] = sa, n++;
  }
  fclose(f);
  return n;
}
int main(int argc, char **argv) {
  static double e1[1000], l1[1000], a1[1000], e2[1000], l2[1000], a2[1000];
  if (argc != 4) return 2;
  int n1 = rd(argv[1], e1, l1, a1), n2 = rd(argv[2], e2, l2, a2);
  dnrt_series loss[2] = {{"mlp", e1, l1, n1, 0x1f77b4}, {"lenet5", e2, l2, n2, 0xd62728}};
  dnrt_series acc[2] = {{"mlp", e1, a1, n1, 0x1f77b4}, {"lenet5", e2, a2, n2, 0xd62728}};
  dnrt_panel p[2] = {{loss, 2}, {acc, 2}};
  return dnrt_plot_png(argv[3], p, 2, 960, 400) ? 1 : 0;
}
C
  cc -O1 -I"$HERE/../runtime" -o "$OUT/plot2" "$OUT/plot2.c" "$LIB" -lz -lm
  "$OUT/plot2" "$OUT/mlp.csv" "$OUT/lenet5.csv" "$OUT/mlp_vs_cnn.png"
  rm -f "$OUT/plot2" "$OUT/plot2.c"
elif /usr/bin/python3 -c 'import matplotlib' 2> /dev/null; then
  /usr/bin/python3 - "$OUT" <<'PY'
import csv, sys, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
out = sys.argv[1]
fig, ax = plt.subplots(1, 2, figsize=(10, 4))
for m in ("mlp", "lenet5"):
    rows = list(csv.DictReader(open(os.path.join(out, m + ".csv"))))
    ep = [int(r["epoch"]) for r in rows]
    ax[0].plot(ep, [float(r["train_loss"]) for r in rows], marker="o", label=m + " train")
    ax[0].plot(ep, [float(r["val_loss"]) for r in rows], linestyle="--", label=m + " val")
    ax[1].plot(ep, [float(r["test_acc"]) for r in rows], marker="o", label=m)
ax[0].set_xlabel("epoch"); ax[0].set_ylabel("loss"); ax[0].legend()
ax[1].set_xlabel("epoch"); ax[1].set_ylabel("test accuracy"); ax[1].legend()
fig.tight_layout()
fig.savefig(os.path.join(out, "mlp_vs_cnn.png"))
PY
elif command -v gnuplot > /dev/null; then
  gnuplot <<GP
set terminal png size 800,400
set output "$OUT/mlp_vs_cnn.png"
set datafile separator ","
set key autotitle columnhead
set xlabel "epoch"; set ylabel "train loss"
plot "$OUT/mlp.csv" using 1:3 with linespoints title "mlp", "$OUT/lenet5.csv" using 1:3 with linespoints title "lenet5"
GP
else
  echo "neither matplotlib nor gnuplot found: see $OUT/mlp.png and $OUT/lenet5.png" >&2
  exit 0
fi
echo "wrote $OUT/mlp_vs_cnn.png"
