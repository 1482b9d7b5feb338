/* fuzz_npy.c - the .npy reader on arbitrary bytes; accepted files must round-trip. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  dnrt_tensor t, r;
  if (dnrt_npy_read(fz_file("in.npy", data, len), &t)) return 0;
  if ((int64_t)t.nbytes != dnrt_count(&t) * (int64_t)dnrt_dtype_size(t.dtype)) abort();
  const char *out = fz_file("out.npy", NULL, 0);
  if (dnrt_npy_write(out, &t) || dnrt_npy_read(out, &r)) abort();
  if (r.nbytes != t.nbytes || r.rank != t.rank || (t.nbytes && memcmp(r.data, t.data, t.nbytes))) abort();
  dnrt_tensor_free(&r);
  dnrt_tensor_to_f32(&t);
  dnrt_tensor_free(&t);
  return 0;
}
