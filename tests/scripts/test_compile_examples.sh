#!/usr/bin/env bash
# test_compile_examples.sh DNNCC SRCDIR - every examples/*.dnn through `dnncc -o`:
#   1. the C (inference, and training when the model has a loss) compiles with
#      cc -std=c99 -Wall -Wextra -pedantic -Werror, also with -march=native (the vector
#      helpers a file may not use; there also with --threads 2 and -fopenmp), with clang when
#      it is installed, and (training) with
#      --blas openblas (with and without -march=native);
#   2. with --emit-main at -O0 and -O2, built under ASan/UBSan when cc supports it, a
#      forward pass on random inputs runs clean and both levels agree (rel. err. <= 1e-4),
#      and so does the -O2 C compiled with -march=native (the intrinsic kernels);
#   3. the same -O2 program with --blas openblas --threads 2 (cblas_sgemm, OpenMP), compiled
#      strictly as in 1 and with -march=native (the threaded intrinsic kernels), agrees
#      with the plain one (rel. err. <= 1e-4);
set -u
DNNCC=${1:?usage: test_compile_examples.sh DNNCC SRCDIR}
SRC=${2:?usage: test_compile_examples.sh DNNCC SRCDIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME=$T/cache
STRICT="-std=c99 -Wall -Wextra -pedantic -Werror"
SAN=""
echo 'int main(void){return 0;}' > "$T/san.c"
if cc -fsanitize=address,undefined -o "$T/san" "$T/san.c" 2>/dev/null && "$T/san"; then
  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
fi
CLANG=$(command -v clang || command -v clang-14 || true)
CBLAS_H=$(find /usr/include -name cblas.h | head -n1)
CBLAS_INC=-I$(dirname "${CBLAS_H:-/nonexistent/cblas.h}")
[ -n "$CBLAS_H" ] || echo "note: no cblas.h (libopenblas-dev): the --blas openblas builds are skipped"
fail=0
n=0

# make_inputs and compare (random .npy inputs for a --emit-main program; max rel. error)
. "$(dirname "$0")/npy_lib.sh"

for m in "$SRC"/examples/*.dnn; do
  [ -e "$m" ] || continue
  base=$(basename "$m" .dnn)
  d=$T/$base
  mkdir -p "$d"
  n=$((n + 1))
  if ! "$DNNCC" "$m" -o "$d/m.c" >"$d/log" 2>&1; then
    echo "FAIL $base: dnncc -o: $(tail -3 "$d/log")"; fail=1; continue
  fi
  if ! cc $STRICT -c "$d/m.c" -o "$d/m.o" >"$d/log" 2>&1; then
    echo "FAIL $base: strict C99 compile: $(head -5 "$d/log")"; fail=1; continue
  fi
  if "$DNNCC" "$m" -o "$d/t.c" --train >"$d/log" 2>&1; then
    if ! cc $STRICT -c "$d/t.c" -o "$d/t.o" >"$d/log" 2>&1; then
      echo "FAIL $base: strict C99 compile of --train: $(head -5 "$d/log")"; fail=1; continue
    fi
    if [ -n "$CBLAS_H" ] && "$DNNCC" "$m" -o "$d/tb.c" --train --blas openblas >"$d/log" 2>&1; then
      # with and without AVX-512: dnncc's kernels replace some cblas_sgemm calls only there
      for arch in -march=native ""; do
        if ! cc $STRICT $arch $CBLAS_INC -c "$d/tb.c" -o "$d/tb.o" >"$d/log" 2>&1; then
          echo "FAIL $base: strict ${arch:-plain} compile of --train --blas openblas: $(head -5 "$d/log")"; fail=1; continue 2
        fi
      done
    fi
  fi
  bad=""
  # and with --threads 2 (one sample: the kernels split inside it; a training batch: by samples)
  "$DNNCC" "$m" -o "$d/mp.c" --threads 2 >"$d/log" 2>&1 || bad="dnncc --threads 2: $(tail -3 "$d/log")"
  [ -f "$d/t.c" ] && { "$DNNCC" "$m" -o "$d/tp.c" --train --threads 2 >"$d/log" 2>&1 || bad="dnncc --train --threads 2: $(tail -3 "$d/log")"; }
  for c in cc $CLANG; do
    for f in m t mp tp; do
      [ -f "$d/$f.c" ] || continue
      omp=""; case $f in *p) omp=-fopenmp ;; esac
      $c $STRICT -march=native $omp -c "$d/$f.c" -o "$d/$f.o" >"$d/log" 2>&1 || bad="$c $f.c: $(head -5 "$d/log")"
    done
  done
  [ -z "$bad" ] || { echo "FAIL $base: strict -march=native compile ($bad)"; fail=1; continue; }
  ok=1
  for O in 0 2; do
    if ! "$DNNCC" "$m" -o "$d/main$O.c" --emit-main --batch 2 -O$O >"$d/log" 2>&1 ||
       ! cc -std=c99 -O0 $SAN -o "$d/main$O" "$d/main$O.c" -lm >"$d/log" 2>&1; then
      echo "FAIL $base: --emit-main -O$O build: $(head -5 "$d/log")"; ok=0; break
    fi
  done
  [ $ok = 1 ] || { fail=1; continue; }
  ins=$(make_inputs "$d/main2" "$d") || { echo "FAIL $base: inputs"; fail=1; continue; }
  outs0="" outs2="" k=0
  nout=$(grep -o 'OUTPUT.npy x[0-9]*' "$d/main2.c" | head -1 | sed 's/.*x//')
  for ((k = 0; k < nout; k++)); do outs0="$outs0 $d/o0_$k.npy"; outs2="$outs2 $d/o2_$k.npy"; done
  # shellcheck disable=SC2086
  if ! "$d/main0" $ins $outs0 >"$d/log" 2>&1 || ! "$d/main2" $ins $outs2 >>"$d/log" 2>&1; then
    echo "FAIL $base: forward pass: $(head -8 "$d/log")"; fail=1; continue
  fi
  for ((k = 0; k < nout; k++)); do
    if ! msg=$(compare "$d/o0_$k.npy" "$d/o2_$k.npy" 2>&1); then echo "FAIL $base: output $k: $msg"; fail=1; ok=0; fi
  done
  # 2b. the same C for this machine's vector ISA (intrinsic micro-kernels; on AVX-512 the
  # direct convolutions), also under the sanitizers
  outsn="" k=0
  for ((k = 0; k < nout; k++)); do outsn="$outsn $d/on_$k.npy"; done
  # shellcheck disable=SC2086
  if ! cc -std=c99 -O1 -march=native $SAN -o "$d/mainn" "$d/main2.c" -lm >"$d/log" 2>&1 || ! "$d/mainn" $ins $outsn >"$d/log" 2>&1; then
    echo "FAIL $base: -march=native build: $(head -8 "$d/log")"; fail=1; continue
  fi
  for ((k = 0; k < nout; k++)); do
    if ! msg=$(compare "$d/on_$k.npy" "$d/o2_$k.npy" 2>&1); then echo "FAIL $base: output $k with -march=native: $msg"; fail=1; ok=0; fi
  done
  # 3. OpenBLAS and OpenMP
  if [ -z "$CBLAS_H" ]; then [ $ok = 1 ] && echo "ok   $base${SAN:+ (asan/ubsan)}"; continue; fi
  if ! "$DNNCC" "$m" -o "$d/mainb.c" --emit-main --batch 2 --blas openblas --threads 2 >"$d/log" 2>&1 ||
     ! cc $STRICT -O1 -march=native -fopenmp $CBLAS_INC -o "$d/mainb" "$d/mainb.c" -lopenblas -lm >"$d/log" 2>&1; then
    echo "FAIL $base: --blas openblas --threads 2 build: $(head -5 "$d/log")"; fail=1; continue
  fi
  outsb="" k=0
  for ((k = 0; k < nout; k++)); do outsb="$outsb $d/ob_$k.npy"; done
  # shellcheck disable=SC2086
  if ! "$d/mainb" $ins $outsb >"$d/log" 2>&1; then
    echo "FAIL $base: forward pass with openblas/openmp: $(head -8 "$d/log")"; fail=1; continue
  fi
  for ((k = 0; k < nout; k++)); do
    if ! msg=$(compare "$d/ob_$k.npy" "$d/o2_$k.npy" 2>&1); then echo "FAIL $base: output $k with openblas/openmp: $msg"; fail=1; ok=0; fi
  done
  [ $ok = 1 ] && echo "ok   $base${SAN:+ (asan/ubsan)}, openblas+openmp"
done
[ $n -gt 0 ] || { echo "no examples found in $SRC/examples"; exit 1; }
exit $fail
