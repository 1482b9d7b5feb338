#!/usr/bin/env bash
# test_bench_tools.sh DNNCC SRCDIR - the measuring tools bench/run relies on, without timing
# anything: bench/kernel_flops.py's copy of a generated training step must compile, run and
# report one KERNEL line per matrix product and convolution, with the flop count of the
# emitter's comment; its SHAPES file must give every single product's M N K, with
# 2 * M * N * K equal to that flop count (per thread for the --threads 2 split) and the
# transposed operand named by the "/* gemm: ... */" comment; bench/shapes.c must run such a
# shape through OpenBLAS on 1 and 2 threads and print two positive figures, and refuse bad
# arguments with exit status 2.
set -u
DNNCC=${1:?usage: test_bench_tools.sh DNNCC SRCDIR}
SRC=${2:?usage: test_bench_tools.sh DNNCC SRCDIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
command -v cc >/dev/null || { echo "skipped: no cc"; exit 0; }
PY=$(command -v python3) || { echo "skipped: no python3"; exit 0; }
fail=0
bad() { echo "FAIL: $*"; fail=1; }

for th in 1 2; do
  d="$T/t$th"; mkdir -p "$d"
  topt=""; omp=""
  [ "$th" -gt 1 ] && topt="--threads $th" && omp="-fopenmp"
  "$DNNCC" "$SRC/bench/models/cifar_cnn.dnn" -o "$d/bm.c" --prefix bm --batch 8 --train $topt || { bad "dnncc ($th)"; continue; }
  "$PY" "$SRC/bench/kernel_flops.py" "$d/bm.c" "$d/bmk.c" "$d/shapes" || { bad "kernel_flops.py ($th)"; continue; }
  cc -std=c99 -O1 $omp -D_POSIX_C_SOURCE=200809L -DBM_TRAIN -I"$d" "$d/bmk.c" "$SRC/bench/harness.c" -o "$d/h" -lm \
    || { bad "the timed copy does not compile ($th)"; continue; }
  OMP_NUM_THREADS=$th "$d/h" train 1 0 2> "$d/k" > /dev/null || bad "the timed copy failed to run ($th)"
  # the emitter's flop counts, per node (the first body's, as the report's names)
  grep -o '^/\* %[0-9]* = [A-Z0-9_]* \[[^]]*\], [0-9]* flop' "$d/bm.c" | sort -u > "$d/flops"
  nk=$(grep -c '^KERNEL' "$d/k"); nf=$(sed 's/\].*//' "$d/flops" | sort -u | wc -l)
  [ "$nk" -gt 0 ] && [ "$nk" = "$nf" ] || bad "$nk KERNEL lines for $nf kernel nodes ($th)"
  # every KERNEL line's flop: the node's count times the threads that ran it
  while read -r _ id _ rest; do
    set -- $rest
    flop=${@: -3:1}
    want=$(grep "^/\* $id = " "$d/flops" | head -n1 | sed 's/.*, \([0-9]*\) flop/\1/')
    [ -n "$want" ] && [ "$flop" = $((want * th)) ] || bad "$id reports $flop flop, the node $want x $th"
  done < <(grep '^KERNEL' "$d/k")
  # shapes: 2 M N K is the node's flop count; transposes as the comment says
  ns=0
  while read -r id m n k ta tb; do
    ns=$((ns + 1))
    want=$(grep "^/\* $id = GEMM" "$d/flops" | head -n1 | sed 's/.*, \([0-9]*\) flop/\1/')
    [ "$((2 * m * n * k))" = "$want" ] || bad "$id shape $m x $n x $k: 2MNK $((2 * m * n * k)), the node $want flop"
    line=$(grep -A1 "^/\* $id = GEMM" "$d/bm.c" | grep 'gemm:' | head -n1)
    case "$line" in *"A transposed"*) [ "$ta$tb" = 10 ] ;; *"B transposed"*) [ "$ta$tb" = 01 ] ;; *) [ "$ta$tb" = 00 ] ;; esac \
      || bad "$id transposes $ta $tb for: $line"
  done < "$d/shapes"
  [ "$ns" -ge 5 ] || bad "$ns shapes, expected the 6 products of the CIFAR CNN step ($th)"
done

cblas_inc=$(dirname "$(find /usr/include -name cblas.h 2>/dev/null | head -n1)")
if [ -n "$cblas_inc" ] && [ -f "$cblas_inc/cblas.h" ]; then
  cc -O1 -fopenmp -D_POSIX_C_SOURCE=200809L -I"$cblas_inc" "$SRC/bench/shapes.c" -o "$T/shapes" -lopenblas \
    || bad "bench/shapes.c does not build"
  if [ -x "$T/shapes" ]; then
    for th in 1 2; do
      out=$(OPENBLAS_NUM_THREADS=1 "$T/shapes" $th 16 10 64 0 1) || bad "shapes $th failed"
      echo "$out" | awk '{ exit !(NF == 2 && $1 > 0 && $2 > 0) }' || bad "shapes $th printed '$out'"
    done
    for args in "1 2 3" "0 4 4 4 0 0" "1 4 4 4 2 0" "1 4 x 4 0 0" "1 0 4 4 0 0" "17 4 4 4 0 0"; do
      "$T/shapes" $args > /dev/null 2>&1
      [ $? = 2 ] || bad "shapes $args: expected exit status 2"
    done
  fi
else
  echo "note: no cblas.h, bench/shapes.c not checked"
fi
[ $fail = 0 ] && echo "bench tools: ok"
exit $fail
