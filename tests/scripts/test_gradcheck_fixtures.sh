#!/bin/bash
# test_gradcheck_fixtures.sh DNNCC SRCDIR - `dnncc run` and `dnncc grad` against the PyTorch
# references of tests/fixtures/*/case.json (written by tests/gen/gen_fixtures.py), through
# the shared conformance runner. Skipped (status 0 with a note) when the runner is absent.
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
exec python3 "$RUN" --dnncc "$DNNCC" "${cases[@]}"
