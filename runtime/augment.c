/* augment.c - the deterministic RNG, Fisher-Yates shuffling and image augmentation.
 *
 * dnrt_rng_next is splitmix64 (Steele, Lea, Flood 2014): the state advances by the golden
 * gamma 0x9E3779B97F4A7C15 and the output is the state mixed by two xor-shift-multiply
 * rounds. Uniform doubles take the top 53 bits. Bounded integers use rejection sampling,
 * so shuffles are unbiased. docs/formats.md states all of this exactly, so a run can be
 * reproduced outside dnncc.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

uint64_t dnrt_rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double dnrt_rng_uniform(uint64_t *s) { return (double)(dnrt_rng_next(s) >> 11) * 0x1.0p-53; }

/* A uniform integer in [0, bound), bound > 0, without modulo bias. */
static uint64_t rng_below(uint64_t *s, uint64_t bound) {
  uint64_t threshold = (0 - bound) % bound;  /* 2^64 mod bound: the biased low values */
  for (;;) {
    uint64_t r = dnrt_rng_next(s);
    if (r >= threshold) return r % bound;
  }
}

void dnrt_shuffle(int64_t *idx, int64_t n, uint64_t *s) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)rng_below(s, (uint64_t)i + 1);
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

/* Parses a number in [lo, hi] from [s, e); integer-only when integral is set. */
static int aug_value(const char *s, const char *e, double lo, double hi, int integral, double *v) {
  char buf[64], *end;
  if (e - s <= 0 || e - s >= (long)sizeof buf) return -1;
  memcpy(buf, s, (size_t)(e - s));
  buf[e - s] = 0;
  errno = 0;
  *v = strtod(buf, &end);
  if (*end || errno || !isfinite(*v) || *v < lo || *v > hi) return -1;
  return integral && *v != floor(*v) ? -1 : 0;
}

/* One item "name" or "name=value" in [s, e); seen guards against repeats. */
static int aug_item(const char *s, const char *e, dnrt_augment *a, int *seen) {
  static const char *names[] = {"flip", "crop", "brightness", "contrast"};
  const char *eq = memchr(s, '=', (size_t)(e - s)), *ne = eq ? eq : e;
  int k = 0;
  double v = 0;
  while (k < 4 && ((size_t)(ne - s) != strlen(names[k]) || strncmp(s, names[k], strlen(names[k])))) k++;
  if (k == 4) return dnrt_fail("augmentation '%.*s': unknown (expected flip, crop=P, brightness=B, contrast=C)", (int)(e - s), s);
  if (*seen & 1 << k) return dnrt_fail("augmentation '%s' is given twice", names[k]);
  *seen |= 1 << k;
  if (k == 0) return eq ? dnrt_fail("augmentation 'flip' takes no value") : (a->flip = 1, 0);
  if (!eq) return dnrt_fail("augmentation '%s' needs a value (%s=...)", names[k], names[k]);
  if (aug_value(eq + 1, e, 0, k == 1 ? 64 : 1, k == 1, &v))
    return dnrt_fail("augmentation '%.*s': the value must be %s", (int)(e - s), s,
                     k == 1 ? "an integer from 0 to 64" : "a number from 0 to 1");
  if (k == 1) a->crop = (int)v;
  else if (k == 2) a->brightness = (float)v;
  else a->contrast = (float)v;
  return 0;
}

int dnrt_augment_parse(const char *spec, dnrt_augment *out) {
  memset(out, 0, sizeof *out);
  if (!spec || !*spec || !strcmp(spec, "none")) return 0;
  int seen = 0;
  for (const char *s = spec;; ) {
    const char *c = strchr(s, ','), *e = c ? c : s + strlen(s);
    if (e == s) return dnrt_fail("augmentation '%s': empty item", spec);
    if (aug_item(s, e, out, &seen)) { memset(out, 0, sizeof *out); return -1; }
    if (!c) return 0;
    s = c + 1;
  }
}

/* Mirrors every row of every channel. */
static void aug_flip(float *x, int c, int h, int w) {
  for (int r = 0; r < c * h; r++)
    for (int i = 0, j = w - 1; i < j; i++, j--) {
      float t = x[r * w + i];
      x[r * w + i] = x[r * w + j];
      x[r * w + j] = t;
    }
}

/* Shifts each channel in place: out(i, j) = in(i + dy, j + dx), zero outside. Iterating
 * forward when the source lies ahead (and backward otherwise) reads each value before it
 * is overwritten. */
static void aug_shift(float *x, int c, int h, int w, int dy, int dx) {
  long d = (long)dy * w + dx, n = (long)h * w;
  for (int ch = 0; ch < c; ch++) {
    float *p = x + (long)ch * n;
    for (long k = 0; k < n; k++) {
      long t = d >= 0 ? k : n - 1 - k;
      int i = (int)(t / w) + dy, j = (int)(t % w) + dx;
      p[t] = i >= 0 && i < h && j >= 0 && j < w ? p[t + d] : 0.0f;
    }
  }
}

void dnrt_augment_apply(const dnrt_augment *a, float *x, int c, int h, int w, uint64_t *rng) {
  long n = (long)c * h * w;
  if (a->flip && dnrt_rng_uniform(rng) < 0.5) aug_flip(x, c, h, w);
  if (a->crop > 0) {  /* pad by P, crop at a random offset: a shift by [-P, P] */
    int dy = (int)rng_below(rng, 2 * (uint64_t)a->crop + 1) - a->crop;
    int dx = (int)rng_below(rng, 2 * (uint64_t)a->crop + 1) - a->crop;
    if (dy || dx) aug_shift(x, c, h, w, dy, dx);
  }
  if (a->brightness > 0) {
    float b = (float)((2 * dnrt_rng_uniform(rng) - 1) * a->brightness);
    for (long i = 0; i < n; i++) x[i] = fminf(1.0f, fmaxf(0.0f, x[i] + b));
  }
  if (a->contrast > 0 && n > 0) {
    float f = (float)(1 + (2 * dnrt_rng_uniform(rng) - 1) * a->contrast);
    double mean = 0;
    for (long i = 0; i < n; i++) mean += x[i];
    mean /= (double)n;
    for (long i = 0; i < n; i++) x[i] = fminf(1.0f, fmaxf(0.0f, (float)(mean + (x[i] - mean) * f)));
  }
}
