#!/bin/bash
# test_train_text.sh DNNCC SRCDIR - `dnncc train` on text: data and `dnncc sample`.
#
# A tiny character-level RNN learns a corpus of repeated words (written here with awk);
# the next-character accuracy must beat the frequency of the most common character, and
# `sample` must print the requested number of characters, all from the corpus's
# vocabulary, reproducibly for a fixed --seed.
set -u
DNNCC=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

awk 'BEGIN { srand(5); split("the cat sat on a mat", w, " ");
  for (i = 0; i < 1500; i++) printf "%s ", w[int(rand() * 6) + 1]; print "" }' > "$T/corpus.txt"
cat > "$T/char.dnn" <<'DNN'
input xs : class(16)[8]
input ys : class(16)[8]
e = embedding(xs, 16, 8)
h = rnn(e, 24)
output logits = dense(h, 16)
loss = cross_entropy(logits, ys)
train {
  optimizer = adam(lr=0.02)
  batch = 16
  epochs = 4
}
DNN
"$DNNCC" train "$T/char.dnn" --data "text:$T/corpus.txt" -o "$T/w.safetensors" > "$T/out.txt" 2> "$T/err.txt" \
  || { cat "$T/err.txt"; fail "train on text failed"; }
# the most common character (' ') is about 1/4 of the text: a trained model does much better
acc=$(awk '/^epoch 4\/4/ { for (i = 1; i < NF; i++) if ($i == "acc") a = $(i + 1) } END { print a }' "$T/out.txt")
awk -v a="$acc" 'BEGIN { exit !(a > 0.45) }' || fail "next-character accuracy '$acc' too low: $(cat "$T/out.txt")"
"$DNNCC" sample "$T/char.dnn" --weights "$T/w.safetensors" --data "text:$T/corpus.txt" --length 60 --seed 7 \
  > "$T/s1.txt" 2> "$T/serr.txt" || { cat "$T/serr.txt"; fail "sample failed"; }
"$DNNCC" sample "$T/char.dnn" --weights "$T/w.safetensors" --data "text:$T/corpus.txt" --length 60 --seed 7 \
  > "$T/s2.txt" 2>&1 || fail "second sample failed"
cmp -s "$T/s1.txt" "$T/s2.txt" || fail "sample is not reproducible with a fixed seed"
[ "$(head -1 "$T/s1.txt" | tr -d '\n' | wc -c)" -eq 60 ] || fail "sample length: '$(cat "$T/s1.txt")'"
head -1 "$T/s1.txt" | grep -Eq '^[thecason m]+$' || fail "sample uses characters outside the corpus: $(cat "$T/s1.txt")"
"$DNNCC" sample "$T/char.dnn" --weights "$T/w.safetensors" --data "csv:$T/corpus.txt" > /dev/null 2>&1
[ $? -eq 2 ] || fail "sample with non-text data should be a usage error"
echo "test_train_text: ok"
