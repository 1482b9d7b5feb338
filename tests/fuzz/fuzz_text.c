/* fuzz_text.c - the character-level text loader: the first byte is the sequence length,
 * the rest the text; both splits are loaded and every index checked. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 1) return 0;
  char spec[300];
  snprintf(spec, sizeof spec, "text:%s", fz_file("in.txt", data + 1, len - 1));
  for (int s = 0; s < 2; s++) {
    dnrt_dataset ds;
    if (dnrt_dataset_load(spec, s ? DNRT_TEST : DNRT_TRAIN, data[0], &ds)) continue;
    for (int64_t i = 0; i < ds.n * ds.seq_len; i++)
      if (ds.xi[i] < 0 || ds.xi[i] >= ds.classes || ds.y[i] < 0 || ds.y[i] >= ds.classes) abort();
    dnrt_dataset_free(&ds);
  }
  return 0;
}
