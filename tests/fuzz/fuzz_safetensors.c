/* fuzz_safetensors.c - the safetensors reader on arbitrary bytes; accepted files must
 * round-trip through the writer with the same names, shapes and data. */
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  dnrt_tensors ts, rs;
  if (dnrt_safetensors_read(fz_file("in.safetensors", data, len), &ts)) return 0;
  const char *out = fz_file("out.safetensors", NULL, 0);
  if (dnrt_safetensors_write(out, ts.t, ts.n) || dnrt_safetensors_read(out, &rs) || rs.n != ts.n) abort();
  for (int i = 0; i < ts.n; i++) {
    const dnrt_tensor *a = &ts.t[i], *b = dnrt_tensors_find(&rs, a->name);
    if (!b || b->dtype != a->dtype || b->rank != a->rank || b->nbytes != a->nbytes) abort();
    if (a->nbytes && memcmp(a->data, b->data, a->nbytes)) abort();
  }
  dnrt_tensors_free(&rs);
  dnrt_tensors_free(&ts);
  return 0;
}
