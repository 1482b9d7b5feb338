/* fuzz_idx.c - the IDX data set loader: the first two bytes give the length of the
 * images file, the rest of the input is split into the images and labels files (either
 * may be gzip; zlib passes raw bytes through). */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  if (len < 2) return 0;
  size_t k = (size_t)(data[0] | data[1] << 8);
  data += 2, len -= 2;
  if (k > len) k = len;
  fz_file("train-images-idx3-ubyte", data, k);
  fz_file("train-labels-idx1-ubyte", data + k, len - k);
  char spec[300];
  snprintf(spec, sizeof spec, "idx:%s", fz_dir());
  dnrt_dataset ds;
  if (dnrt_dataset_load(spec, DNRT_TRAIN, 0, &ds) == 0) {
    for (int64_t i = 0; i < ds.n; i++)
      if (ds.y[i] < 0 || ds.y[i] >= ds.classes) abort();
    for (int64_t i = 0; i < ds.n * ds.sample_elems; i++)
      if (!(ds.x[i] >= 0 && ds.x[i] <= 1)) abort();
    dnrt_dataset_free(&ds);
  }
  return 0;
}
