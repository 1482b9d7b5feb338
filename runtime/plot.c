/* plot.c - line plots as PNG, without any plotting tool.
 *
 * A canvas of RGB pixels; each panel gets a frame, its series as 2-pixel lines (Bresenham)
 * scaled to the panel's data range, and the range ends printed on the axes in a 3x5 pixel
 * font (digits, '.', '-', 'e'). The PNG encoder writes the signature, IHDR (8-bit RGB),
 * one IDAT with the zlib-compressed rows (filter type 0) and IEND, each chunk with its
 * CRC-32 (zlib's crc32).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dnrt.h"
#include "dnrt_train.h"

typedef struct dnrt_canvas {
  uint8_t *px;  /* width * height * 3 */
  int w, h;     /* size */
} dnrt_canvas;

static void dnrt_put(dnrt_canvas *c, int x, int y, uint32_t rgb) {
  if (x < 0 || y < 0 || x >= c->w || y >= c->h) return;
  uint8_t *p = c->px + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
  p[0] = (uint8_t)(rgb >> 16), p[1] = (uint8_t)(rgb >> 8), p[2] = (uint8_t)rgb;
}

static void dnrt_line(dnrt_canvas *c, int x0, int y0, int x1, int y1, uint32_t rgb, int thick) {
  int dx = abs(x1 - x0), dy = -abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
  for (int guard = 0; guard < 100000; guard++) {
    for (int a = 0; a < thick; a++)
      for (int b = 0; b < thick; b++) dnrt_put(c, x0 + a, y0 + b, rgb);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

/* 3x5 glyphs, rows top down, 3 bits each (bit 2 = left column). */
static const char dnrt_glyph_chars[] = "0123456789.-e";
static const uint8_t dnrt_glyphs[][5] = {
    {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1}, {7, 4, 7, 1, 7},
    {7, 4, 7, 5, 7}, {7, 1, 1, 1, 1}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7}, {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0},
    {0, 7, 5, 6, 7},
};

/* Draws text at (x, y) (top left), 2x scaled; returns the width used. */
static int dnrt_text(dnrt_canvas *c, int x, int y, const char *s, uint32_t rgb) {
  int x0 = x;
  for (; *s; s++) {
    const char *g = strchr(dnrt_glyph_chars, *s);
    if (g && *s) {
      const uint8_t *rows = dnrt_glyphs[g - dnrt_glyph_chars];
      for (int r = 0; r < 5; r++)
        for (int col = 0; col < 3; col++)
          if (rows[r] >> (2 - col) & 1)
            for (int a = 0; a < 4; a++) dnrt_put(c, x + col * 2 + a % 2, y + r * 2 + a / 2, rgb);
    }
    x += 8;
  }
  return x - x0;
}

static void dnrt_num(char *buf, size_t n, double v) {
  snprintf(buf, n, "%.3g", v);
}

/* Data range of a panel; returns 0 when it has no finite point. */
static int dnrt_range(const dnrt_panel *p, double *x0, double *x1, double *y0, double *y1) {
  int any = 0;
  for (int s = 0; s < p->n; s++)
    for (int i = 0; i < p->series[s].n; i++) {
      double x = p->series[s].x[i], y = p->series[s].y[i];
      if (!isfinite(x) || !isfinite(y)) continue;
      if (!any) *x0 = *x1 = x, *y0 = *y1 = y, any = 1;
      if (x < *x0) *x0 = x;
      if (x > *x1) *x1 = x;
      if (y < *y0) *y0 = y;
      if (y > *y1) *y1 = y;
    }
  if (any && *x1 == *x0) *x0 -= 0.5, *x1 += 0.5;
  if (any && *y1 == *y0) *y0 -= 0.5, *y1 += 0.5;
  return any;
}

static void dnrt_panel_draw(dnrt_canvas *c, const dnrt_panel *p, int px, int pw) {
  const int ml = 70, mr = 12, mt = 14, mb = 30;
  int l = px + ml, r = px + pw - mr, t = mt, b = c->h - mb;
  double x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  int any = dnrt_range(p, &x0, &x1, &y0, &y1);
  for (int x = l; x <= r; x++) dnrt_put(c, x, t, 0x808080), dnrt_put(c, x, b, 0x000000);
  for (int y = t; y <= b; y++) dnrt_put(c, l, y, 0x000000), dnrt_put(c, r, y, 0x808080);
  if (!any) return;
  char buf[32];
  dnrt_num(buf, sizeof buf, y1), dnrt_text(c, px + 4, t, buf, 0);
  dnrt_num(buf, sizeof buf, y0), dnrt_text(c, px + 4, b - 10, buf, 0);
  dnrt_num(buf, sizeof buf, x0), dnrt_text(c, l, b + 6, buf, 0);
  dnrt_num(buf, sizeof buf, x1);
  dnrt_text(c, r - 8 * (int)strlen(buf), b + 6, buf, 0);
  for (int s = 0; s < p->n; s++) {
    const dnrt_series *se = &p->series[s];
    int have = 0, lx = 0, ly = 0;
    for (int i = 0; i < se->n; i++) {
      if (!isfinite(se->x[i]) || !isfinite(se->y[i])) continue;
      int x = l + 2 + (int)lround((se->x[i] - x0) / (x1 - x0) * (r - l - 4));
      int y = b - 2 - (int)lround((se->y[i] - y0) / (y1 - y0) * (b - t - 4));
      if (have) dnrt_line(c, lx, ly, x, y, se->rgb, 2);
      else dnrt_line(c, x - 1, y - 1, x + 1, y + 1, se->rgb, 2);
      have = 1, lx = x, ly = y;
    }
  }
}

/* Appends one PNG chunk (length, type, data, CRC of type + data). */
static void dnrt_png_chunk(uint8_t *out, size_t *pos, const char *type, const uint8_t *data, uint32_t n) {
  uint8_t *p = out + *pos;
  p[0] = (uint8_t)(n >> 24), p[1] = (uint8_t)(n >> 16), p[2] = (uint8_t)(n >> 8), p[3] = (uint8_t)n;
  memcpy(p + 4, type, 4);
  if (n) memcpy(p + 8, data, n);
  uLong crc = crc32(0L, p + 4, n + 4);
  p[8 + n] = (uint8_t)(crc >> 24), p[9 + n] = (uint8_t)(crc >> 16), p[10 + n] = (uint8_t)(crc >> 8);
  p[11 + n] = (uint8_t)crc;
  *pos += 12 + n;
}

int dnrt_png_encode(const uint8_t *rgb, int w, int h, uint8_t **out, size_t *len) {
  if (w <= 0 || h <= 0 || w > 16384 || h > 16384) return dnrt_fail("png: bad image size %dx%d", w, h);
  size_t row = (size_t)w * 3 + 1, raw_n = row * (size_t)h;
  uint8_t *raw = malloc(raw_n);
  uLongf zn = compressBound((uLong)raw_n);
  uint8_t *z = malloc(zn), *o = NULL;
  if (!raw || !z) goto oom;
  for (int y = 0; y < h; y++) {
    raw[(size_t)y * row] = 0;
    memcpy(raw + (size_t)y * row + 1, rgb + (size_t)y * (size_t)w * 3, (size_t)w * 3);
  }
  if (compress2(z, &zn, raw, (uLong)raw_n, 6) != Z_OK) {
    free(raw), free(z);
    return dnrt_fail("png: compression failed");
  }
  o = malloc(8 + 25 + 12 + zn + 12);
  if (!o) goto oom;
  memcpy(o, "\x89PNG\r\n\x1a\n", 8);
  size_t pos = 8;
  uint8_t ihdr[13] = {(uint8_t)(w >> 24), (uint8_t)(w >> 16), (uint8_t)(w >> 8), (uint8_t)w,
                      (uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h,
                      8, 2, 0, 0, 0};
  dnrt_png_chunk(o, &pos, "IHDR", ihdr, 13);
  dnrt_png_chunk(o, &pos, "IDAT", z, (uint32_t)zn);
  dnrt_png_chunk(o, &pos, "IEND", NULL, 0);
  free(raw), free(z);
  *out = o, *len = pos;
  return 0;
oom:
  free(raw), free(z), free(o);
  return dnrt_fail("png: out of memory");
}

int dnrt_plot_png(const char *path, const dnrt_panel *panels, int npanels, int width, int height) {
  if (npanels < 1 || width < 100 * npanels || height < 80 || width > 8192 || height > 8192)
    return dnrt_fail("%s: bad plot size", path);
  dnrt_canvas c = {malloc((size_t)width * (size_t)height * 3), width, height};
  if (!c.px) return dnrt_fail("%s: out of memory", path);
  memset(c.px, 255, (size_t)width * (size_t)height * 3);
  int pw = width / npanels;
  for (int i = 0; i < npanels; i++) dnrt_panel_draw(&c, &panels[i], i * pw, pw);
  uint8_t *png;
  size_t len;
  int rc = dnrt_png_encode(c.px, width, height, &png, &len);
  free(c.px);
  if (rc) return rc;
  rc = dnrt_write_atomic(path, png, len);
  free(png);
  return rc;
}
