# npy_lib.sh - shell functions for the tests that run --emit-main programs (sourced by
# test_compile_examples.sh and test_embedded.sh). Puts this directory on PYTHONPATH, for
# npy.py.
export PYTHONPATH="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)${PYTHONPATH:+:$PYTHONPATH}"

# Random .npy inputs for a main() built with --emit-main (it lists them with --inputs).
make_inputs() {  # $1 = program, $2 = output dir
  "$1" --inputs | python3 -c '
import random, sys
import npy
random.seed(7)
out = sys.argv[1]
for i, line in enumerate(sys.stdin):
    f = line.split()
    name, kind, classes, shape = f[0], f[1], int(f[2]), [int(x) for x in f[3:]]
    n = 1
    for d in shape: n *= d
    if kind == "class": npy.write("%s/in%d.npy" % (out, i), "<i4", shape, [random.randrange(classes) for _ in range(n)])
    else: npy.write("%s/in%d.npy" % (out, i), "<f4", shape, [random.uniform(-1, 1) for _ in range(n)])
    print("%s/in%d.npy" % (out, i))
' "$2"
}

# max |a - b| / max |b| over two float32 .npy files of the same shape.
compare() {
  python3 - "$1" "$2" <<'PY'
import sys
import npy
a, b = npy.read(sys.argv[1])[1:], npy.read(sys.argv[2])[1:]
if a[0] != b[0]: sys.exit("shapes differ: %s vs %s" % (a[0], b[0]))
scale = max([abs(v) for v in b[1]] + [1e-6])
err = max([abs(x - y) for x, y in zip(a[1], b[1])] + [0.0]) / scale
if not err <= 1e-4: sys.exit("the two builds differ: rel err %g" % err)
PY
}
