/* fuzz_json.c - the strict JSON parser directly on arbitrary bytes; walks every node. */
#include "fuzz_util.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  dnrt_json_doc d;
  if (dnrt_json_parse("fuzz", (const char *)data, len, &d)) return 0;
  size_t total = 0;
  for (int i = 0; i < d.n; i++) {
    total += d.v[i].len + d.v[i].keylen;
    if (d.v[i].child >= d.n || d.v[i].next >= d.n) abort();
  }
  if (total > 2 * len + 1) abort();
  dnrt_json_free(&d);
  return 0;
}
