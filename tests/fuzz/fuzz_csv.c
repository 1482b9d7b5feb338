/* fuzz_csv.c - the CSV data set loader on arbitrary text. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  char spec[300];
  snprintf(spec, sizeof spec, "csv:%s", fz_file("in.csv", data, len));
  dnrt_dataset ds;
  if (dnrt_dataset_load(spec, DNRT_TRAIN, 0, &ds) == 0) {
    if (ds.n < 1 || ds.sample_elems < 1) abort();
    for (int64_t i = 0; i < ds.n; i++)
      if (ds.y[i] < 0 || ds.y[i] >= ds.classes) abort();
    dnrt_dataset_free(&ds);
  }
  return 0;
}
