/* tensor.c - tensor sizes, dtype names and in-place dtype conversions.
 *
 * Sizes are computed with overflow checks everywhere: a shape read from an untrusted
 * file may claim 2^62 elements, and the product must be caught before any allocation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

int dnrt__mul(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return -1;
  if (a != 0 && b > INT64_MAX / a) return -1;
  *out = a * b;
  return 0;
}

const char *dnrt__shape_str(int rank, const int64_t *shape, char *buf, size_t cap) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < rank && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

int dnrt__shape_bytes(const char *what, dnrt_dtype dt, int rank, const int64_t *shape, int64_t *out) {
  char s[256];
  int64_t n = (int64_t)dnrt_dtype_size(dt);
  if (rank < 0 || rank > DNRT_MAX_RANK)
    return dnrt_fail("%s: rank %d is not supported (at most %d)", what, rank, DNRT_MAX_RANK);
  for (int i = 0; i < rank; i++)
    if (dnrt__mul(n, shape[i], &n))
      return dnrt_fail("%s: shape %s is too large (its byte size overflows)", what,
                       dnrt__shape_str(rank, shape, s, sizeof s));
  *out = n;
  return 0;
}

const char *dnrt__dtype_name(dnrt_dtype d) {
  switch (d) {
  case DNRT_F32: return "F32";
  case DNRT_F64: return "F64";
  case DNRT_I32: return "I32";
  case DNRT_I64: return "I64";
  case DNRT_U8: return "U8";
  }
  return "?";
}

int64_t dnrt_count(const dnrt_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) n *= t->shape[i];
  return n;
}

size_t dnrt_dtype_size(dnrt_dtype d) {
  switch (d) {
  case DNRT_F32: case DNRT_I32: return 4;
  case DNRT_F64: case DNRT_I64: return 8;
  case DNRT_U8: return 1;
  }
  return 0;
}

void dnrt_tensor_free(dnrt_tensor *t) {
  if (!t) return;
  free(t->name);
  free(t->data);
  memset(t, 0, sizeof *t);
}

/* The tensor's name for messages. */
static const char *tname(const dnrt_tensor *t) { return t->name ? t->name : "(unnamed)"; }

/* Element i of t as a double (any dtype). */
static double elem_f64(const dnrt_tensor *t, size_t i) {
  switch (t->dtype) {
  case DNRT_F32: { float v; memcpy(&v, (char *)t->data + 4 * i, 4); return v; }
  case DNRT_F64: { double v; memcpy(&v, (char *)t->data + 8 * i, 8); return v; }
  case DNRT_I32: { int32_t v; memcpy(&v, (char *)t->data + 4 * i, 4); return v; }
  case DNRT_I64: { int64_t v; memcpy(&v, (char *)t->data + 8 * i, 8); return (double)v; }
  case DNRT_U8: return ((unsigned char *)t->data)[i];
  }
  return 0;
}

/* Element i of an integer tensor as int64. */
static int64_t elem_i64(const dnrt_tensor *t, size_t i) {
  switch (t->dtype) {
  case DNRT_I32: { int32_t v; memcpy(&v, (char *)t->data + 4 * i, 4); return v; }
  case DNRT_I64: { int64_t v; memcpy(&v, (char *)t->data + 8 * i, 8); return v; }
  case DNRT_U8: return ((unsigned char *)t->data)[i];
  default: return 0;
  }
}

/* Replaces t's data with buf of n elements of dtype d. */
static void replace_data(dnrt_tensor *t, void *buf, dnrt_dtype d, size_t n) {
  free(t->data);
  t->data = buf;
  t->dtype = d;
  t->nbytes = n * dnrt_dtype_size(d);
}

int dnrt_tensor_to_f32(dnrt_tensor *t) {
  int64_t n = 0;
  if (t->dtype == DNRT_F32) return 0;
  if (dnrt__shape_bytes(tname(t), DNRT_F32, t->rank, t->shape, &n)) return -1;
  float *buf = malloc(n ? (size_t)n : 1);
  if (!buf) return dnrt_fail("tensor '%s': out of memory converting to F32", tname(t));
  size_t cnt = (size_t)n / 4;
  for (size_t i = 0; i < cnt; i++) buf[i] = (float)elem_f64(t, i);
  replace_data(t, buf, DNRT_F32, cnt);
  return 0;
}

int dnrt_check_finite(const char *what, const float *x, int64_t n, int64_t per_sample) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(x[i]))
      return dnrt_fail("%s holds %s at element %lld (sample %lld)", what, isnan(x[i]) ? "NaN" : "an infinity",
                       (long long)i, (long long)(i / (per_sample > 0 ? per_sample : 1)));
  return 0;
}

int dnrt_tensor_to_i32(dnrt_tensor *t) {
  int64_t n = 0;
  if (t->dtype == DNRT_I32) return 0;
  if (t->dtype == DNRT_F32 || t->dtype == DNRT_F64)
    return dnrt_fail("tensor '%s': expected an integer tensor (I32, I64 or U8), got %s",
                     tname(t), dnrt__dtype_name(t->dtype));
  if (dnrt__shape_bytes(tname(t), DNRT_I32, t->rank, t->shape, &n)) return -1;
  size_t cnt = (size_t)n / 4;
  for (size_t i = 0; i < cnt; i++) {
    int64_t v = elem_i64(t, i);
    if (v < INT32_MIN || v > INT32_MAX)
      return dnrt_fail("tensor '%s': element %zu = %lld does not fit in I32", tname(t), i,
                       (long long)v);
  }
  int32_t *buf = malloc(n ? (size_t)n : 1);
  if (!buf) return dnrt_fail("tensor '%s': out of memory converting to I32", tname(t));
  for (size_t i = 0; i < cnt; i++) buf[i] = (int32_t)elem_i64(t, i);
  replace_data(t, buf, DNRT_I32, cnt);
  return 0;
}
