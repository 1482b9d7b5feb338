/* test_runtime_data.c - the runtime's data sets (IDX raw and gzip, CIFAR-10, CSV, npy
 * pairs, text), augmentation, the RNG and shuffling. Every fixture is synthesized into a
 * temp directory; expected values are recomputed from the bytes the test wrote. The real
 * Debian fashion-mnist files are checked when installed. */
#include <math.h>
#include <stdint.h>
#include <zlib.h>

#include "test_runtime_util.h"

/* Big-endian u32 into p. */
static void put_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

/* Writes bytes as a gzip file. */
static void write_gz(const char *name, const void *data, size_t len) {
  gzFile g = gzopen(tr_path(name), "wb");
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(gzwrite(g, data, (unsigned)len), (int)len);
  gzclose(g);
}

/* Builds IDX images (n x r x c, pixel = f(i)) and labels (i % 10) in buffers. */
static size_t idx_images(unsigned char *b, uint32_t magic, int n, int r, int c) {
  put_be32(b, magic); put_be32(b + 4, (uint32_t)n); put_be32(b + 8, (uint32_t)r); put_be32(b + 12, (uint32_t)c);
  for (int i = 0; i < n * r * c; i++) b[16 + i] = (unsigned char)(i * 37 + 11);
  return 16 + (size_t)(n * r * c);
}
static size_t idx_labels(unsigned char *b, int n) {
  put_be32(b, 0x801); put_be32(b + 4, (uint32_t)n);
  for (int i = 0; i < n; i++) b[8 + i] = (unsigned char)((i * 3) % 10);
  return 8 + (size_t)n;
}

/* Checks a loaded IDX set against the generator above. */
static void check_idx(const dnrt_dataset *d, int n, int r, int c) {
  ck_assert_int_eq(d->n, n);
  ck_assert_int_eq(d->rank, 3);
  ck_assert_int_eq(d->shape[0], 1);
  ck_assert_int_eq(d->shape[1], r);
  ck_assert_int_eq(d->shape[2], c);
  ck_assert_int_eq(d->sample_elems, r * c);
  ck_assert_int_eq(d->classes, 10);
  for (int i = 0; i < n * r * c; i++) ck_assert_float_eq(d->x[i], (float)(unsigned char)(i * 37 + 11) / 255.0f);
  for (int i = 0; i < n; i++) ck_assert_int_eq(d->y[i], (i * 3) % 10);
}

START_TEST(idx_raw_and_gzip) {
  unsigned char b[4096];
  dnrt_dataset d;
  char spec[300];
  tr_write("train-images-idx3-ubyte", b, idx_images(b, 0x803, 7, 3, 4));
  tr_write("train-labels-idx1-ubyte", b, idx_labels(b, 7));
  write_gz("t10k-images-idx3-ubyte.gz", b, idx_images(b, 0x803, 5, 2, 6));
  write_gz("t10k-labels-idx1-ubyte.gz", b, idx_labels(b, 5));
  snprintf(spec, sizeof spec, "idx:%s", tr_dir);
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d) == 0, "%s", dnrt_error());
  check_idx(&d, 7, 3, 4);
  dnrt_dataset_free(&d);
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TEST, 0, &d) == 0, "%s", dnrt_error());
  check_idx(&d, 5, 2, 6);
  dnrt_dataset_free(&d);
  ck_assert_ptr_null(d.x);
}
END_TEST

/* Loads the train split of the temp dir as IDX and expects failure naming frag. */
static void idx_expect_fail(const char *frag) {
  dnrt_dataset d;
  char spec[300];
  snprintf(spec, sizeof spec, "idx:%s", tr_dir);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), frag);
  ck_assert_ptr_null(d.x);
  ck_assert_ptr_null(d.y);
}

START_TEST(idx_malformed) {
  unsigned char b[4096];
  idx_expect_fail("neither train-images-idx3-ubyte nor train-images-idx3-ubyte.gz exists");
  size_t n = idx_images(b, 0x803, 4, 2, 2);
  tr_write("train-images-idx3-ubyte", b, n);
  idx_expect_fail("train-labels-idx1-ubyte");
  tr_write("train-labels-idx1-ubyte", b, idx_labels(b, 3));
  idx_expect_fail("3 labels for 4 images");
  tr_write("train-labels-idx1-ubyte", b, idx_labels(b, 4) - 1);
  idx_expect_fail("truncated");
  tr_write("train-labels-idx1-ubyte", b, idx_labels(b, 4));
  n = idx_images(b, 0x803, 4, 2, 2);
  tr_write("train-images-idx3-ubyte", b, n + 1);
  idx_expect_fail("trailing bytes");
  tr_write("train-images-idx3-ubyte", b, n - 3);
  idx_expect_fail("promises 16 data bytes, the file holds 13");
  tr_write("train-images-idx3-ubyte", b, 10);
  idx_expect_fail("truncated IDX header");
  idx_images(b, 0x801, 4, 2, 2);
  tr_write("train-images-idx3-ubyte", b, n);
  idx_expect_fail("bad IDX magic 0x00000801 (expected 0x00000803)");
  idx_images(b, 0x803, 4, 2, 2);
  put_be32(b + 4, 0xffffffffu); put_be32(b + 8, 0xffffffffu); put_be32(b + 12, 0xffffffffu);
  tr_write("train-images-idx3-ubyte", b, n);
  idx_expect_fail("IDX dimensions overflow");
  put_be32(b + 4, 1000000); put_be32(b + 8, 1000); put_be32(b + 12, 1000);  /* a lying count */
  tr_write("train-images-idx3-ubyte", b, n);
  idx_expect_fail("promises 1000000000000 data bytes, the file holds 16 (truncated)");
  put_be32(b + 4, 0); put_be32(b + 8, 0xfdfbffc4u); put_be32(b + 12, 0xffff8000u);  /* fuzz_idx crash: */
  tr_write("train-images-idx3-ubyte", b, 16);  /* no images, but rows x cols overflowed */
  idx_expect_fail("images of size 4261150660x4294934528 are not supported");
  unlink(tr_path("train-images-idx3-ubyte"));
  n = idx_images(b, 0x803, 4, 2, 2);
  unsigned char z[4096];
  uLongf zl = sizeof z;
  gzFile g = gzopen(tr_path("full.gz"), "wb");
  gzwrite(g, b, (unsigned)n);
  gzclose(g);
  FILE *f = fopen(tr_path("full.gz"), "rb");
  zl = fread(z, 1, sizeof z, f);
  fclose(f);
  unlink(tr_path("full.gz"));
  tr_write("train-images-idx3-ubyte.gz", z, zl - 12);  /* a cut-off gzip stream */
  idx_expect_fail("train-images-idx3-ubyte.gz");
}
END_TEST

START_TEST(real_fashion_mnist) {
  dnrt_dataset d;
  if (access("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz", R_OK)) return;
  ck_assert_msg(dnrt_dataset_load("fashion-mnist", DNRT_TEST, 0, &d) == 0, "%s", dnrt_error());
  ck_assert_int_eq(d.n, 10000);
  ck_assert_int_eq(d.shape[1], 28);
  ck_assert_int_eq(d.shape[2], 28);
  int count[10] = {0};
  for (int64_t i = 0; i < d.n; i++) count[d.y[i]]++;
  for (int k = 0; k < 10; k++) ck_assert_int_eq(count[k], 1000);  /* the test set is balanced */
  dnrt_dataset_free(&d);
  ck_assert_msg(dnrt_dataset_load("fashion-mnist", DNRT_TRAIN, 0, &d) == 0, "%s", dnrt_error());
  ck_assert_int_eq(d.n, 60000);
  ck_assert_int_eq(d.classes, 10);
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < d.n * 784; i++) { lo = fminf(lo, d.x[i]); hi = fmaxf(hi, d.x[i]); }
  ck_assert_float_eq(lo, 0.0f);
  ck_assert_float_eq(hi, 1.0f);
  dnrt_dataset_free(&d);
}
END_TEST

/* Writes a CIFAR-10 batch of n records; label of record i = (base + i) % 10 unless bad. */
static void cifar_batch(const char *name, int n, int base, int bad_label) {
  unsigned char *b = malloc((size_t)n * 3073);
  for (int i = 0; i < n; i++) {
    b[i * 3073] = (unsigned char)(bad_label ? 10 : (base + i) % 10);
    for (int k = 0; k < 3072; k++) b[i * 3073 + 1 + k] = (unsigned char)(k * 13 + base + i);
  }
  tr_write(name, b, (size_t)n * 3073);
  free(b);
}

START_TEST(cifar10) {
  dnrt_dataset d;
  char spec[300], name[32];
  snprintf(spec, sizeof spec, "cifar10:%s", tr_dir);
  for (int f = 1; f <= 5; f++) { snprintf(name, sizeof name, "data_batch_%d.bin", f); cifar_batch(name, f, 10 * f, 0); }
  cifar_batch("test_batch.bin", 3, 7, 0);
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d) == 0, "%s", dnrt_error());
  ck_assert_int_eq(d.n, 15);
  ck_assert_int_eq(d.rank, 3);
  ck_assert_int_eq(d.shape[0], 3);
  ck_assert_int_eq(d.sample_elems, 3072);
  ck_assert_int_eq(d.classes, 10);
  int64_t s = 0;
  for (int f = 1; f <= 5; f++)
    for (int i = 0; i < f; i++, s++) {
      ck_assert_int_eq(d.y[s], (10 * f + i) % 10);
      for (int k = 0; k < 3072; k += 511) ck_assert_float_eq(d.x[s * 3072 + k], (unsigned char)(k * 13 + 10 * f + i) / 255.0f);
    }
  dnrt_dataset_free(&d);
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TEST, 0, &d) == 0, "%s", dnrt_error());
  ck_assert_int_eq(d.n, 3);
  ck_assert_int_eq(d.y[2], 9);
  dnrt_dataset_free(&d);
  cifar_batch("data_batch_3.bin", 2, 0, 1);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "data_batch_3.bin", "record 0 has label 10");
  tr_write("data_batch_3.bin", "abc", 3);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "3 bytes is not a whole number");
  unlink(tr_path("data_batch_3.bin"));
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "data_batch_3.bin", "cannot open");
  ck_assert_ptr_null(d.x);
}
END_TEST

START_TEST(csv) {
  dnrt_dataset d;
  char spec[300];
  const char *text = "a,b,c,label\r\n1.5, -2 ,3e2,1\r\n\n0,0,0,4\n7,8,9,0";
  snprintf(spec, sizeof spec, "csv:%s", tr_write("t.csv", text, strlen(text)));
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d) == 0, "%s", dnrt_error());
  ck_assert_int_eq(d.n, 3);
  ck_assert_int_eq(d.rank, 1);
  ck_assert_int_eq(d.shape[0], 3);
  ck_assert_int_eq(d.classes, 5);
  const float want[] = {1.5f, -2, 300, 0, 0, 0, 7, 8, 9};
  for (int i = 0; i < 9; i++) ck_assert_float_eq(d.x[i], want[i]);
  ck_assert_int_eq(d.y[0], 1);
  ck_assert_int_eq(d.y[1], 4);
  ck_assert_int_eq(d.y[2], 0);
  dnrt_dataset_free(&d);
  ck_assert_int_eq(dnrt_dataset_load(spec, DNRT_TEST, 0, &d), 0);
  ck_assert_int_eq(d.n, 0);
  ck_assert_int_eq(d.classes, 5);
  dnrt_dataset_free(&d);
  static const struct { const char *text, *msg; } bad[] = {
    {"1,2,3\n4,5\n", "t.csv:2: 2 columns, but the first row has 3"},
    {"1,2,3\n4,x,1\n", "t.csv:2: column 2 is not a number"},
    {"1,2,-1\n", "t.csv:1: the class -1 is not a non-negative integer"},
    {"1,2,1.5\n", "the class 1.5"},
    {"1,2,1\n1,nan,1\n", "t.csv:2: column 2"},
    {"5\n", "at least one feature"},
    {"h1,h2\n\n", "no data rows"},
    {"1,2,3\n1,2,\n", "t.csv:2: column 3 is not a number"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tr_write("t.csv", bad[i].text, strlen(bad[i].text));
    tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), bad[i].msg);
  }
}
END_TEST

/* Writes an npy tensor into the temp dir. */
static const char *put_npy(const char *name, dnrt_dtype dt, int rank, const int64_t *shape, const void *data) {
  dnrt_tensor t = {.dtype = dt, .rank = rank};
  size_t n = dnrt_dtype_size(dt);
  for (int i = 0; i < rank; i++) n *= (size_t)(t.shape[i] = shape[i]);
  t.data = (void *)data;
  t.nbytes = n;
  const char *p = tr_path(name);
  ck_assert_int_eq(dnrt_npy_write(p, &t), 0);
  return p;
}

START_TEST(npy_dataset) {
  dnrt_dataset d;
  char spec[700];
  float x[24];
  unsigned char xb[24];
  int64_t y[4] = {2, 0, 5, 1};
  double yf[4] = {0};
  for (int i = 0; i < 24; i++) { x[i] = (float)i * 0.25f - 1; xb[i] = (unsigned char)(i * 10); }
  const int64_t xs[] = {4, 2, 3}, ys[] = {4}, ys3[] = {3};
  put_npy("x.npy", DNRT_F32, 3, xs, x);
  put_npy("y.npy", DNRT_I64, 1, ys, y);
  snprintf(spec, sizeof spec, "npy:%s,%s", tr_path("x.npy"), tr_path("y.npy"));
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d) == 0, "%s", dnrt_error());
  ck_assert_int_eq(d.n, 4);
  ck_assert_int_eq(d.rank, 2);
  ck_assert_int_eq(d.shape[1], 3);
  ck_assert_int_eq(d.sample_elems, 6);
  ck_assert_int_eq(d.classes, 6);
  for (int i = 0; i < 24; i++) ck_assert_float_eq(d.x[i], x[i]);
  for (int i = 0; i < 4; i++) ck_assert_int_eq(d.y[i], y[i]);
  dnrt_dataset_free(&d);
  ck_assert_int_eq(dnrt_dataset_load(spec, DNRT_TEST, 0, &d), 0);
  ck_assert_int_eq(d.n, 0);
  dnrt_dataset_free(&d);
  put_npy("x.npy", DNRT_U8, 3, xs, xb);
  ck_assert_msg(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d) == 0, "%s", dnrt_error());
  for (int i = 0; i < 24; i++) ck_assert_float_eq(d.x[i], xb[i] / 255.0f);
  dnrt_dataset_free(&d);
  put_npy("y.npy", DNRT_I64, 1, ys3, y);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "y.npy", "shape [4]");
  put_npy("y.npy", DNRT_F64, 1, ys, yf);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "y.npy", "integer");
  y[2] = -3;
  put_npy("y.npy", DNRT_I64, 1, ys, y);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "y.npy", "label 2 is negative");
  y[2] = 5;
  put_npy("y.npy", DNRT_I64, 1, ys, y);
  x[13] = NAN;
  put_npy("x.npy", DNRT_F32, 3, xs, x);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "x.npy", "NaN at element 13 (sample 2)");
  x[13] = -INFINITY;
  put_npy("x.npy", DNRT_F32, 3, xs, x);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "x.npy", "an infinity at element 13");
  put_npy("x.npy", DNRT_I64, 1, ys, y);
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "x.npy", "must be float");
  tr_fails(dnrt_dataset_load("npy:onlyone.npy", DNRT_TRAIN, 0, &d), "two paths");
}
END_TEST

START_TEST(text) {
  dnrt_dataset d;
  char spec[300];
  const char *t = "the quick brown fox jumps over the lazy dog; the end.\n";
  size_t len = strlen(t), cut = len - len / 10;
  snprintf(spec, sizeof spec, "text:%s", tr_write("t.txt", t, len));
  int32_t map[256];
  int seen[256] = {0}, v = 0;
  for (size_t i = 0; i < len; i++) seen[(unsigned char)t[i]] = 1;
  for (int b = 0; b < 256; b++) if (seen[b]) map[b] = v++;
  for (int split = 0; split < 2; split++) {
    const int T = 5;
    ck_assert_msg(dnrt_dataset_load(spec, split ? DNRT_TEST : DNRT_TRAIN, T, &d) == 0, "%s", dnrt_error());
    const char *s = split ? t + cut : t;
    size_t part = split ? len - cut : cut;
    ck_assert_int_eq(d.classes, v);
    ck_assert_int_eq(d.seq_len, T);
    ck_assert_int_eq(d.n, (int64_t)(part - 1) / T);
    for (int k = 0; k < v; k++) ck_assert_int_eq(map[(unsigned char)d.vocab[k]], k);
    for (int64_t k = 0; k < d.n; k++)
      for (int j = 0; j < T; j++) {
        ck_assert_int_eq(d.xi[k * T + j], map[(unsigned char)s[k * T + j]]);
        ck_assert_int_eq(d.y[k * T + j], map[(unsigned char)s[k * T + j + 1]]);
      }
    dnrt_dataset_free(&d);
  }
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 0, &d), "sequence length");
  tr_fails(dnrt_dataset_load(spec, DNRT_TRAIN, 100, &d), "too few");
  tr_fails(dnrt_dataset_load("text:/nonexistent/x.txt", DNRT_TRAIN, 4, &d), "/nonexistent/x.txt");
  tr_fails(dnrt_dataset_load("bogus:x", DNRT_TRAIN, 4, &d), "unknown data set 'bogus:x'");
  tr_fails(dnrt_dataset_load("idx:", DNRT_TRAIN, 4, &d), "unknown data set");
}
END_TEST

START_TEST(augment_parse) {
  dnrt_augment a;
  ck_assert_int_eq(dnrt_augment_parse("flip,crop=4,brightness=0.2,contrast=0.5", &a), 0);
  ck_assert(a.flip && a.crop == 4);
  ck_assert_float_eq(a.brightness, 0.2f);
  ck_assert_float_eq(a.contrast, 0.5f);
  ck_assert_int_eq(dnrt_augment_parse("contrast=0.1", &a), 0);
  ck_assert(!a.flip && !a.crop && a.brightness == 0);
  ck_assert_int_eq(dnrt_augment_parse("", &a), 0);
  static const struct { const char *s, *msg; } bad[] = {
    {"flip=1", "takes no value"}, {"crop", "needs a value"}, {"crop=-1", "integer from 0 to 64"},
    {"crop=1.5", "integer"}, {"brightness=2", "from 0 to 1"}, {"contrast=x", "from 0 to 1"},
    {"foo", "'foo': unknown"}, {"flip,flip", "given twice"}, {"flip,,crop=1", "empty item"},
    {"flip,", "empty item"}, {"brightness=", "from 0 to 1"}, {"contrast=nan", "from 0 to 1"}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) tr_fails(dnrt_augment_parse(bad[i].s, &a), bad[i].msg);
}
END_TEST

/* The documented bounded draw: rejection below 2^64 mod bound, then modulo. */
static uint64_t ref_below(uint64_t *s, uint64_t bound) {
  uint64_t r;
  do r = dnrt_rng_next(s); while (r < (0 - bound) % bound);
  return r % bound;
}

START_TEST(augment_apply_matches_reference) {
  enum { C = 2, H = 5, W = 4, P = 2 };
  for (uint64_t seed = 0; seed < 60; seed++) {
    float x[C * H * W], ref[C * H * W], pad[C][H + 2 * P][W + 2 * P];
    for (int i = 0; i < C * H * W; i++) ref[i] = x[i] = (float)((i * 7) % 11) / 10.0f;
    dnrt_augment a = {.flip = 1, .crop = P, .brightness = (seed % 3 == 0) * 0.3f, .contrast = (seed % 4 == 0) * 0.5f};
    uint64_t s1 = seed, s2 = seed;
    dnrt_augment_apply(&a, x, C, H, W, &s1);
    if (dnrt_rng_uniform(&s2) < 0.5)  /* flip */
      for (int c = 0; c < C; c++) for (int i = 0; i < H; i++) for (int j = 0; j < W / 2; j++) {
        float t = ref[(c * H + i) * W + j];
        ref[(c * H + i) * W + j] = ref[(c * H + i) * W + W - 1 - j];
        ref[(c * H + i) * W + W - 1 - j] = t;
      }
    int oy = (int)ref_below(&s2, 2 * P + 1), ox = (int)ref_below(&s2, 2 * P + 1);  /* crop of the zero-padded image */
    memset(pad, 0, sizeof pad);
    for (int c = 0; c < C; c++) for (int i = 0; i < H; i++) for (int j = 0; j < W; j++) pad[c][i + P][j + P] = ref[(c * H + i) * W + j];
    for (int c = 0; c < C; c++) for (int i = 0; i < H; i++) for (int j = 0; j < W; j++) ref[(c * H + i) * W + j] = pad[c][i + oy][j + ox];
    if (a.brightness > 0) {
      float b = (float)((2 * dnrt_rng_uniform(&s2) - 1) * a.brightness);
      for (int i = 0; i < C * H * W; i++) ref[i] = fminf(1, fmaxf(0, ref[i] + b));
    }
    if (a.contrast > 0) {
      float f = (float)(1 + (2 * dnrt_rng_uniform(&s2) - 1) * a.contrast);
      double m = 0;
      for (int i = 0; i < C * H * W; i++) m += ref[i];
      m /= C * H * W;
      for (int i = 0; i < C * H * W; i++) ref[i] = fminf(1, fmaxf(0, (float)(m + (ref[i] - m) * f)));
    }
    for (int i = 0; i < C * H * W; i++) ck_assert_float_eq_tol(x[i], ref[i], 1e-6f);
    ck_assert_uint_eq(s1, s2);  /* same number of draws */
  }
}
END_TEST

START_TEST(rng_and_shuffle) {
  uint64_t s = 0;
  /* splitmix64's published first output for seed 0 (Vigna's reference splitmix64.c) */
  ck_assert_uint_eq(dnrt_rng_next(&s), 0xE220A8397B1DCDAFull);
  double sum = 0;
  for (int i = 0; i < 20000; i++) { double u = dnrt_rng_uniform(&s); ck_assert(u >= 0 && u < 1); sum += u; }
  ck_assert(fabs(sum / 20000 - 0.5) < 0.01);
  enum { N = 1000 };
  int64_t a[N], b[N];
  for (int i = 0; i < N; i++) a[i] = b[i] = i;
  uint64_t s1 = 42, s2 = 42;
  dnrt_shuffle(a, N, &s1);
  dnrt_shuffle(b, N, &s2);
  int seen[N] = {0}, moved = 0;
  for (int i = 0; i < N; i++) { ck_assert_int_eq(a[i], b[i]); ck_assert(a[i] >= 0 && a[i] < N); seen[a[i]]++; moved += a[i] != i; }
  for (int i = 0; i < N; i++) ck_assert_int_eq(seen[i], 1);
  ck_assert_int_gt(moved, N / 2);
  s1 = 43;
  for (int i = 0; i < N; i++) b[i] = i;
  dnrt_shuffle(b, N, &s1);
  ck_assert(memcmp(a, b, sizeof a) != 0);
  dnrt_shuffle(b, 0, &s1);
  dnrt_shuffle(b, 1, &s1);
}
END_TEST

int main(void) {
  Suite *s = suite_create("runtime_data");
  TCase *tc = tcase_create("data");
  tcase_add_checked_fixture(tc, tr_setup, tr_teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, idx_raw_and_gzip);
  tcase_add_test(tc, idx_malformed);
  tcase_add_test(tc, real_fashion_mnist);
  tcase_add_test(tc, cifar10);
  tcase_add_test(tc, csv);
  tcase_add_test(tc, npy_dataset);
  tcase_add_test(tc, text);
  tcase_add_test(tc, augment_parse);
  tcase_add_test(tc, augment_apply_matches_reference);
  tcase_add_test(tc, rng_and_shuffle);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed != 0;
}
