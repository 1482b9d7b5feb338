/* fuzz_augment.c - augmentation specs: parse arbitrary text; if accepted, apply it to a
 * small image of a size taken from the input and check the pixels stay in [0, 1]. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 3) return 0;
  int c = 1 + data[0] % 3, h = 1 + data[1] % 9, w = 1 + data[2] % 9;
  char spec[256];
  size_t n = len - 3 < sizeof spec - 1 ? len - 3 : sizeof spec - 1;
  memcpy(spec, data + 3, n);
  spec[n] = 0;
  dnrt_augment a;
  if (dnrt_augment_parse(spec, &a)) return 0;
  float x[3 * 9 * 9];
  uint64_t rng = len;
  for (int i = 0; i < c * h * w; i++) x[i] = (float)dnrt_rng_uniform(&rng);
  dnrt_augment_apply(&a, x, c, h, w, &rng);
  for (int i = 0; i < c * h * w; i++)
    if (!(x[i] >= 0 && x[i] <= 1)) abort();
  return 0;
}
