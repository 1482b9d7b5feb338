/* test_train.c - the training loop's runtime helpers: PNG encoder and plots, checkpoints,
 * the progress display's formatting.
 *
 * PNG output is checked by an independent reader here: chunk CRCs with a bitwise CRC-32,
 * the IDAT stream inflated with zlib and compared with the source pixels. Checkpoints
 * must round-trip every field and reject any flipped byte or truncation.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "dnrt.h"
#include "dnrt_train.h"

/* Bitwise CRC-32 (IEEE), independent of zlib's table version. */
static uint32_t t_crc(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

static uint32_t t_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Parses a PNG (8-bit RGB, filter 0 rows) back into pixels; returns 0 on success. */
static int t_png_decode(const uint8_t *png, size_t len, int *w, int *h, uint8_t **rgb) {
  if (len < 8 || memcmp(png, "\x89PNG\r\n\x1a\n", 8) != 0) return -1;
  size_t pos = 8, zn = 0;
  uint8_t *z = NULL;
  int seen_end = 0;
  while (pos + 12 <= len && !seen_end) {
    uint32_t n = t_be32(png + pos);
    if (pos + 12 + n > len) return -2;
    const uint8_t *type = png + pos + 4, *data = png + pos + 8;
    if (t_be32(data + n) != t_crc(type, n + 4)) return -3;
    if (!memcmp(type, "IHDR", 4)) {
      *w = (int)t_be32(data), *h = (int)t_be32(data + 4);
      if (data[8] != 8 || data[9] != 2) return -4;
    } else if (!memcmp(type, "IDAT", 4)) {
      z = realloc(z, zn + n);
      memcpy(z + zn, data, n), zn += n;
    } else if (!memcmp(type, "IEND", 4)) {
      seen_end = 1;
    }
    pos += 12 + n;
  }
  if (!seen_end || !z || pos != len) return -5;
  uLongf raw_n = (uLongf)((size_t)*w * 3 + 1) * (uLongf)*h;
  uint8_t *raw = malloc(raw_n);
  if (uncompress(raw, &raw_n, z, zn) != Z_OK) return -6;
  free(z);
  *rgb = malloc((size_t)*w * (size_t)*h * 3);
  for (int y = 0; y < *h; y++) {
    if (raw[(size_t)y * ((size_t)*w * 3 + 1)] != 0) return -7;
    memcpy(*rgb + (size_t)y * (size_t)*w * 3, raw + (size_t)y * ((size_t)*w * 3 + 1) + 1, (size_t)*w * 3);
  }
  free(raw);
  return 0;
}

START_TEST(test_png_roundtrip) {
  int w = 37, h = 11;
  uint8_t *img = malloc((size_t)w * h * 3), *png, *back;
  uint64_t s = 42;
  for (int i = 0; i < w * h * 3; i++) img[i] = (uint8_t)((s = s * 6364136223846793005ull + 1442695040888963407ull) >> 56);
  size_t len;
  ck_assert_int_eq(dnrt_png_encode(img, w, h, &png, &len), 0);
  int rw, rh;
  ck_assert_int_eq(t_png_decode(png, len, &rw, &rh, &back), 0);
  ck_assert_int_eq(rw, w);
  ck_assert_int_eq(rh, h);
  ck_assert(memcmp(img, back, (size_t)w * h * 3) == 0);
  png[40] ^= 1;  /* inside IDAT: the CRC check must notice */
  uint8_t *dummy = NULL;
  ck_assert_int_ne(t_png_decode(png, len, &rw, &rh, &dummy), 0);
  free(png);
  ck_assert_int_ne(dnrt_png_encode(img, 0, h, &png, &len), 0);
  free(img), free(back), free(dummy);
}
END_TEST

static uint8_t *t_read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)n + 1);
  *len = fread(b, 1, (size_t)n, f);
  fclose(f);
  return b;
}

START_TEST(test_plot_png) {
  char path[] = "/tmp/dn_plot_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  close(fd);
  double x[5] = {1, 2, 3, 4, 5}, y[5] = {2.0, 1.2, 0.8, NAN, 0.5}, a[5] = {0.5, 0.7, 0.8, 0.85, 0.9};
  dnrt_series l[1] = {{"loss", x, y, 5, 0xff0000}}, r[1] = {{"acc", x, a, 5, 0x0000ff}};
  dnrt_panel p[2] = {{l, 1}, {r, 1}};
  ck_assert_int_eq(dnrt_plot_png(path, p, 2, 400, 200), 0);
  size_t len = 0;
  uint8_t *png = t_read_all(path, &len), *rgb = NULL;
  int w, h;
  ck_assert_int_eq(t_png_decode(png, len, &w, &h, &rgb), 0);
  ck_assert_int_eq(w, 400);
  ck_assert_int_eq(h, 200);
  int red_left = 0, blue_right = 0, red_right = 0;
  for (int yy = 0; yy < h; yy++)
    for (int xx = 0; xx < w; xx++) {
      const uint8_t *q = rgb + ((size_t)yy * w + xx) * 3;
      if (q[0] == 255 && q[1] == 0 && q[2] == 0) *(xx < 200 ? &red_left : &red_right) += 1;
      if (q[0] == 0 && q[1] == 0 && q[2] == 255 && xx >= 200) blue_right++;
    }
  ck_assert_int_gt(red_left, 50);    /* the loss line is drawn in the left panel */
  ck_assert_int_gt(blue_right, 50);  /* the accuracy line in the right one */
  ck_assert_int_eq(red_right, 0);
  ck_assert_int_ne(dnrt_plot_png(path, p, 2, 10, 10), 0);
  free(png), free(rgb);
  unlink(path);
}
END_TEST

static void t_ckpt_fill(dnrt_ckpt *c, uint8_t *state, uint8_t *best, char *log) {
  for (int i = 0; i < 1000; i++) state[i] = (uint8_t)(i * 7 + 3);
  for (int i = 0; i < 100; i++) best[i] = (uint8_t)(255 - i);
  strcpy(log, "epoch,step\n1,10\n");
  *c = (dnrt_ckpt){0xabcdef0123456789ull, 3, 123, 0x1234ull, 0.875, 2, state, 1000, best, 100, log, strlen(log)};
}

START_TEST(test_checkpoint_roundtrip) {
  char dir[] = "/tmp/dn_ckpt_XXXXXX", sub[64], file[96];
  ck_assert(mkdtemp(dir) != NULL);
  snprintf(sub, sizeof sub, "%s/run", dir);
  snprintf(file, sizeof file, "%s/checkpoint.dnck", sub);
  static uint8_t state[1000], best[100];
  static char log[64];
  dnrt_ckpt c, r;
  t_ckpt_fill(&c, state, best, log);
  ck_assert_int_eq(dnrt_ckpt_load(sub, &r), 1);  /* none yet */
  ck_assert_int_eq(dnrt_ckpt_save(sub, &c), 0);   /* creates the directory */
  ck_assert_int_eq(dnrt_ckpt_load(sub, &r), 0);
  ck_assert(r.fingerprint == c.fingerprint && r.epoch == 3 && r.step == 123 && r.rng == 0x1234ull);
  ck_assert(r.best_score == 0.875 && r.best_epoch == 2);
  ck_assert(r.state_bytes == 1000 && memcmp(r.state, state, 1000) == 0);
  ck_assert(r.best_bytes == 100 && memcmp(r.best, best, 100) == 0);
  ck_assert_str_eq(r.log, log);
  dnrt_ckpt_free(&r);
  /* every flipped byte is caught */
  size_t len = 0;
  uint8_t *b = t_read_all(file, &len);
  for (size_t i = 0; i < len; i += 97) {
    b[i] ^= 0x10;
    FILE *f = fopen(file, "wb");
    fwrite(b, 1, len, f);
    fclose(f);
    ck_assert_int_eq(dnrt_ckpt_load(sub, &r), -1);
    b[i] ^= 0x10;
  }
  /* truncation is caught */
  FILE *f = fopen(file, "wb");
  fwrite(b, 1, len - 5, f);
  fclose(f);
  ck_assert_int_eq(dnrt_ckpt_load(sub, &r), -1);
  ck_assert(strstr(dnrt_error(), "checkpoint") != NULL);
  free(b);
  unlink(file), rmdir(sub), rmdir(dir);
}
END_TEST

START_TEST(test_duration) {
  char b[32];
  dnrt_format_duration(0, b, sizeof b);
  ck_assert_str_eq(b, "0:00");
  dnrt_format_duration(125.4, b, sizeof b);
  ck_assert_str_eq(b, "2:05");
  dnrt_format_duration(3 * 3600 + 61, b, sizeof b);
  ck_assert_str_eq(b, "3:01:01");
  dnrt_format_duration(NAN, b, sizeof b);
  ck_assert_str_eq(b, "?");
}
END_TEST

START_TEST(test_progress_plain) {
  char *text = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&text, &n);
  dnrt_progress p;
  dnrt_progress_start(&p, f, 0, "epoch 1/2", 10);
  dnrt_progress_update(&p, 3, 0.5);  /* rate-limited: nothing yet on a non-terminal */
  dnrt_progress_finish(&p, 10, 0.25);
  fclose(f);
  ck_assert_ptr_null(strchr(text, '\r'));
  ck_assert_ptr_nonnull(strstr(text, "epoch 1/2"));
  ck_assert_ptr_nonnull(strstr(text, "10/10"));
  ck_assert_ptr_nonnull(strstr(text, "loss 0.2500"));
  free(text);
}
END_TEST

int main(void) {
  Suite *s = suite_create("train");
  TCase *tc = tcase_create("runtime");
  tcase_add_test(tc, test_png_roundtrip);
  tcase_add_test(tc, test_plot_png);
  tcase_add_test(tc, test_checkpoint_roundtrip);
  tcase_add_test(tc, test_duration);
  tcase_add_test(tc, test_progress_plain);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
