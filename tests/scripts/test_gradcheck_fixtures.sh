#!/bin/bash
# test_gradcheck_fixtures.sh DNNCC SRCDIR - `dnncc run` and `dnncc grad` against the PyTorch
# references of tests/fixtures/*/case.json (written by tests/gen/gen_fixtures.py), through
# the shared conformance runner. Skipped (status 0 with a note) when the runner is absent.
# The recurrent cases (rec_*) run twice: as compiled by default (scans of more than two steps
# as time loops) and with DNNCC_UNROLL=1 (every scan unrolled), so both forms match PyTorch.
set -u
DNNCC=${1:?usage: test_gradcheck_fixtures.sh DNNCC SRCDIR}
SRC=${2:?usage: test_gradcheck_fixtures.sh DNNCC SRCDIR}
RUN="$SRC/../shared/conformance/run.py"
if [ ! -f "$RUN" ]; then
  echo "skipped: no conformance runner at $RUN"
  exit 0
fi
cases=()
for d in "$SRC"/tests/fixtures/*/; do
  [ -f "$d/case.json" ] && cases+=("$d")
done
[ "${#cases[@]}" -gt 0 ] || { echo "no fixtures under $SRC/tests/fixtures"; exit 1; }
python3 "$RUN" --dnncc "$DNNCC" "${cases[@]}" || exit 1
rec=()
for d in "$SRC"/tests/fixtures/rec_*/; do
  [ -f "$d/case.json" ] && rec+=("$d")
done
[ "${#rec[@]}" -gt 0 ] || { echo "no recurrent fixtures"; exit 1; }
echo "--- recurrent cases again, every scan unrolled (DNNCC_UNROLL=1)"
DNNCC_UNROLL=1 exec python3 "$RUN" --dnncc "$DNNCC" "${rec[@]}"
