#!/usr/bin/env bash
# test_embedded.sh DNNCC SRCDIR - every examples/*.dnn with its weights compiled in
# (`dnncc -o --weights W`, const data; the convolutions' packed and Winograd-transformed
# weights computed by dnncc, not at run time) gives the outputs of the same model with the
# same weights loaded at run time (--emit-main programs compiled with -Werror and
# -march=native, also by clang when installed; rel. err. <= 1e-4):
# batch 2, batch 2 with --threads 2 (samples split), batch 1 with --threads 2 (kernels split
# inside the sample). The weights: P_init's, written by P_save of the plain C. Besides the
# examples, a model with a Winograd layer of odd channels and a partial 8-filter panel and a
# grouped direct convolution, and one whose only layer is a Winograd convolution (no direct
# one: the helpers it leaves unused must not warn). Also checks that dnncc printed both kinds of transformed
# weights (cifar_cnn, lenet5, the extra model).
set -u
DNNCC=${1:?usage: test_embedded.sh DNNCC SRCDIR}
SRC=${2:?usage: test_embedded.sh DNNCC SRCDIR}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
export XDG_CACHE_HOME=$T/cache
. "$(dirname "$0")/npy_lib.sh"
STRICT="-std=c99 -Wall -Wextra -pedantic -Werror"
CLANG=$(command -v clang || command -v clang-14 || true)
cat > "$T/save.c" <<'EOF'
#include <stdlib.h>
#include "w.h"
int main(int argc, char **argv) {
  void *s = argc == 2 ? aligned_alloc(64, (dnw_STATE_BYTES + 63) / 64 * 64) : NULL;
  if (!s) return 2;
  dnw_init(s, 5);
  return dnw_save(s, argv[1]) != 0;
}
EOF
cat > "$T/emb_extra.dnn" <<'EOF'
model emb_extra
input x : [17, 14, 14]
a = relu(conv2d(x, 20, kernel=3, pad=1))
output o = conv2d(a, 20, kernel=3, pad=1, groups=2)
EOF
cat > "$T/emb_wino.dnn" <<'EOF'
model emb_wino
input x : [16, 12, 12]
output o = conv2d(x, 16, kernel=3, pad=1)
EOF
fail=0
n=0
# build NAME FLAGS...: dnncc --emit-main into $d/NAME.c, compiled for this machine
build() {
  local name=$1 omp=""
  shift
  case " $* " in *" --threads "*) omp=-fopenmp ;; esac
  if ! "$DNNCC" "$m" -o "$d/$name.c" --emit-main "$@" >"$d/log" 2>&1 ||
     ! cc $STRICT -O1 -march=native $omp -o "$d/$name" "$d/$name.c" -lm >"$d/log" 2>&1; then
    echo "FAIL $base: $name ($*): $(head -5 "$d/log")"; return 1
  fi
}
# same OUTS_PREFIX REF_PREFIX DIR: every output of the last run agrees with the reference's
same() {
  local k ok=0
  for ((k = 0; k < nout; k++)); do
    if ! msg=$(compare "$1_$k.npy" "$2_$k.npy" 2>&1); then echo "FAIL $base: output $k of $3: $msg"; ok=1; fi
  done
  return $ok
}
outs() { local k s=""; for ((k = 0; k < nout; k++)); do s="$s $1_$k.npy"; done; echo "$s"; }

for m in "$SRC"/examples/*.dnn "$T/emb_extra.dnn" "$T/emb_wino.dnn"; do
  [ -e "$m" ] || continue
  base=$(basename "$m" .dnn)
  d=$T/$base
  mkdir -p "$d/b1"
  n=$((n + 1))
  if ! "$DNNCC" "$m" -o "$d/w.c" --prefix dnw >"$d/log" 2>&1 || ! cc -O0 -I"$d" "$d/w.c" "$T/save.c" -o "$d/save" -lm >"$d/log" 2>&1 ||
     ! "$d/save" "$d/w.st" >"$d/log" 2>&1; then
    echo "FAIL $base: weights: $(head -5 "$d/log")"; fail=1; continue
  fi
  build ref --batch 2 && build emb --batch 2 --weights "$d/w.st" && build embt --batch 2 --weights "$d/w.st" --threads 2 &&
    build ref1 && build embt1 --weights "$d/w.st" --threads 2 || { fail=1; continue; }
  if ! cc $STRICT -c "$d/emb.c" -o "$d/emb.o" >"$d/log" 2>&1; then
    echo "FAIL $base: strict compile of the embedded C (no -march): $(head -5 "$d/log")"; fail=1; continue
  fi
  if [ -n "$CLANG" ] && ! $CLANG $STRICT -march=native -c "$d/emb.c" -o "$d/emb.o" >"$d/log" 2>&1; then
    echo "FAIL $base: strict clang -march=native compile of the embedded C: $(head -5 "$d/log")"; fail=1; continue
  fi
  nout=$(grep -o 'OUTPUT.npy x[0-9]*' "$d/ref.c" | head -1 | sed 's/.*x//')
  ins=$(make_inputs "$d/ref" "$d") && ins1=$(make_inputs "$d/ref1" "$d/b1") || { echo "FAIL $base: inputs"; fail=1; continue; }
  # shellcheck disable=SC2086
  if ! "$d/ref" --weights "$d/w.st" $ins $(outs "$d/r") >"$d/log" 2>&1 ||
     ! "$d/ref1" --weights "$d/w.st" $ins1 $(outs "$d/r1") >>"$d/log" 2>&1 ||
     ! "$d/emb" $ins $(outs "$d/e") >>"$d/log" 2>&1 ||
     ! OMP_NUM_THREADS=2 "$d/embt" $ins $(outs "$d/et") >>"$d/log" 2>&1 ||
     ! OMP_NUM_THREADS=2 "$d/embt1" $ins1 $(outs "$d/et1") >>"$d/log" 2>&1; then
    echo "FAIL $base: a run: $(head -8 "$d/log")"; fail=1; continue
  fi
  same "$d/e" "$d/r" "batch 2" && same "$d/et" "$d/r" "batch 2, --threads 2" && same "$d/et1" "$d/r1" "batch 1, --threads 2" &&
    echo "ok   $base" || fail=1
done
for want in "cifar_cnn:Winograd transform of embedded weights" "lenet5:8-row panels of embedded weights" \
            "emb_extra:Winograd transform of embedded weights" "emb_extra:8-row panels of embedded weights"; do
  f=$T/${want%%:*}/emb.c
  if [ -f "$f" ] && ! grep -q "${want#*:}" "$f"; then echo "FAIL ${want%%:*}: no '${want#*:}' in its embedded C"; fail=1; fi
done
grep -q avx512f /proc/cpuinfo 2>/dev/null || echo "note: no AVX-512 here: the kernels that read the transformed weights were not compiled in"
[ $n -gt 0 ] || { echo "no examples found in $SRC/examples"; exit 1; }
exit $fail
