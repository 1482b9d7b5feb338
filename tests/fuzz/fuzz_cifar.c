/* fuzz_cifar.c - the CIFAR-10 loader: the input is cut into the five training batch
 * files at the offsets given by its first five bytes (times 3073 / 64). */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 5) return 0;
  size_t cut[6] = {5}, pos = 5;
  for (int i = 0; i < 5; i++) {
    pos += (size_t)data[i] * 3073 / 64;
    cut[i + 1] = pos < len ? pos : len;
  }
  cut[5] = len;
  char name[32], spec[300];
  for (int i = 0; i < 5; i++) {
    snprintf(name, sizeof name, "data_batch_%d.bin", i + 1);
    fz_file(name, data + cut[i], cut[i + 1] > cut[i] ? cut[i + 1] - cut[i] : 0);
  }
  snprintf(spec, sizeof spec, "cifar10:%s", fz_dir());
  dnrt_dataset ds;
  if (dnrt_dataset_load(spec, DNRT_TRAIN, 0, &ds) == 0) {
    for (int64_t i = 0; i < ds.n; i++)
      if (ds.y[i] < 0 || ds.y[i] >= 10) abort();
    dnrt_dataset_free(&ds);
  }
  return 0;
}
