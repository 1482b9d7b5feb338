/* kernels.c - C emitters for the non-elementwise ops (dn_cg_kernel, dn_cg_helpers).
 *
 * Each emitter prints one braced block computing a node for the whole batch, with literal
 * loop bounds and locals named dk_* so they never capture the caller's expressions. Matrix
 * products and convolutions live in kernels_gemm.c; this file holds the loop kernels:
 * pooling, reductions, broadcast, normalizers, class indices and layout copies.
 *
 * Geometry conventions. Pools read [.., H, W] with every leading axis folded into planes;
 * a 1-D pool (kh = sh = 1, ph = 0) folds H too, which is the same computation. Class
 * indices outside [0, K) contribute nothing (PICK gives 0, ONEHOT zeros, EMBED zeros,
 * EMBED_BWD skips the row): the driver validates labels first, so this only keeps bad data
 * from reading or writing out of bounds.
 */
#include <math.h>
#include <string.h>

#include "kernels_int.h"

static int64_t dk_prod(dn_shape s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= s.dim[i];
  return p;
}

/* --- pooling -------------------------------------------------------------------- */

typedef struct dk_pool {
  int64_t planes, h, w, oh, ow; /* planes of [h, w] in, [oh, ow] out */
  dn_window win;                /* window (1-D pools: kh = sh = dh = 1, ph = 0) */
} dk_pool;

/* x is the full-resolution tensor, y the pooled one. */
static dk_pool dk_pool_geom(const dn_node *x, const dn_node *y, dn_window win) {
  dk_pool p;
  int one_d = win.kh <= 1 && win.sh <= 1 && win.ph == 0, rx = x->shape.rank, ry = y->shape.rank;
  p.win = win;
  if (p.win.dh < 1) p.win.dh = 1;
  if (p.win.dw < 1) p.win.dw = 1;
  if (one_d) p.win.kh = p.win.sh = p.win.dh = 1;
  p.w = x->shape.dim[rx - 1];
  p.ow = y->shape.dim[ry - 1];
  p.h = one_d ? 1 : x->shape.dim[rx - 2];
  p.oh = one_d ? 1 : y->shape.dim[ry - 2];
  p.planes = dn_shape_count(x->shape) / (p.h * p.w);
  return p;
}

/* Is every window inside the input (no padding, no bounds tests)? */
static int dk_pool_inside(const dk_pool *p) {
  const dn_window *w = &p->win;
  return w->ph == 0 && w->pw == 0 && (p->oh - 1) * w->sh + (int64_t)(w->kh - 1) * w->dh < p->h &&
         (p->ow - 1) * w->sw + (int64_t)(w->kw - 1) * w->dw < p->w;
}

/* Opens the window loop: dk_y, dk_x is the input position, dk_q its offset; positions in
 * the padding are skipped. */
static void dk_pool_window(dn_buf *c, const dk_pool *p) {
  const dn_window *w = &p->win;
  dn_buf_printf(c, "        for (dk_i = 0; dk_i < %d; ++dk_i)\n          for (dk_j = 0; dk_j < %d; ++dk_j) {\n", w->kh, w->kw);
  dn_buf_printf(c, "            long dk_y = dk_oy * %d - %d + dk_i * %d, dk_x = dk_ox * %d - %d + dk_j * %d, dk_q;\n", w->sh,
                w->ph, w->dh, w->sw, w->pw, w->dw);
  if (!dk_pool_inside(p))  /* every window inside the input: no bounds test at all */
    dn_buf_printf(c, "            if (dk_y < 0 || dk_y >= %lld || dk_x < 0 || dk_x >= %lld) continue;\n", (long long)p->h,
                  (long long)p->w);
  dn_buf_printf(c, "            dk_q = (dk_p * %lld + dk_y) * %lld + dk_x;\n", (long long)p->h, (long long)p->w);
}

static void dk_pool_head(dn_buf *c, const dn_cg_ctx *ctx, const dk_pool *p) {
  dn_buf_printf(c, "  long dk_p;\n");
  if (ctx->threads > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_p = 0; dk_p < %lld; ++dk_p) {\n    long dk_oy, dk_ox, dk_i, dk_j;\n", (long long)p->planes);
  dn_buf_printf(c, "    for (dk_oy = 0; dk_oy < %lld; ++dk_oy)\n      for (dk_ox = 0; dk_ox < %lld; ++dk_ox) {\n",
                (long long)p->oh, (long long)p->ow);
  dn_buf_printf(c, "        long dk_o = (dk_p * %lld + dk_oy) * %lld + dk_ox;\n", (long long)p->oh, (long long)p->ow);
}

/* 2 x 2 max pooling, stride 2, over one output row (float, AVX-512): 16 windows per step.
 * The even and odd columns of the two input rows are separated by two-source permutes, so
 * the window's four values (v0 v1 / v2 v3, PyTorch's scan order) sit in four vectors and
 * the scalar rules become lane-wise: the first NaN wins the max, the gradient goes to the
 * first element equal to it (or the first NaN). GCC -O2 vectorizes the scalar row loops
 * below only 2 lanes wide (forward) or not at all (gradient: interleaved stores). The last
 * step is masked (ow need not be a multiple of 16). */
static const char dk_pool2_text[] =
  "#if defined(__AVX512F__)\n"
  "#include <immintrin.h>\n"
  "#define DNK_POOL2 1\n"
  "/* an inference file uses the forward rows only, a gradient file maybe only the backward ones */\n"
  "#if defined(__GNUC__)\n#define DNK_POOL_UNUSED __attribute__((unused))\n#else\n#define DNK_POOL_UNUSED\n#endif\n"
  "/* The four values of 16 windows (v0 v1 / v2 v3): lanes 0-7 from 16 columns of the top and\n"
  " * bottom input rows at a0, b0 (lo: their valid lanes), lanes 8-15 from those at a1, b1 (hi). */\n"
  "static inline void dnk_pool2_get(const float *a0, const float *a1, const float *b0, const float *b1, __mmask16 lo,\n"
  "                                 __mmask16 hi, __m512 *v) {\n"
  "  const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);\n"
  "  const __m512i od = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);\n"
  "  __m512 x0 = _mm512_maskz_loadu_ps(lo, a0), x1 = _mm512_maskz_loadu_ps(hi, a1);\n"
  "  __m512 y0 = _mm512_maskz_loadu_ps(lo, b0), y1 = _mm512_maskz_loadu_ps(hi, b1);\n"
  "  v[0] = _mm512_permutex2var_ps(x0, ev, x1), v[1] = _mm512_permutex2var_ps(x0, od, x1);\n"
  "  v[2] = _mm512_permutex2var_ps(y0, ev, y1), v[3] = _mm512_permutex2var_ps(y0, od, y1);\n"
  "}\n"
  "/* The valid lanes of 2n input columns in two vectors (n windows of one output row). */\n"
  "static inline void dnk_pool2_masks(long n, __mmask16 *lo, __mmask16 *hi) {\n"
  "  *lo = (__mmask16)(n >= 8 ? 0xFFFF : (1u << (2 * n)) - 1), *hi = (__mmask16)(n <= 8 ? 0 : (1u << (2 * n - 16)) - 1);\n"
  "}\n"
  "/* 16 windows of one output row from input rows s0, s1 (2n valid columns). */\n"
  "static inline void dnk_pool2_load(const float *s0, const float *s1, long n, __m512 *v) {\n"
  "  __mmask16 lo, hi;\n"
  "  dnk_pool2_masks(n, &lo, &hi);\n"
  "  dnk_pool2_get(s0, s0 + 16, s1, s1 + 16, lo, hi, v);\n"
  "}\n"
  "/* Two output rows of n <= 8 windows, when the windows tile the input (input rows 2r .. 2r + 3\n"
  " * at s0, w apart): row r in lanes 0..n-1, row r + 1 in lanes 8..8+n-1. */\n"
  "static inline void dnk_pool2_load2(const float *s0, long w, long n, __m512 *v) {\n"
  "  __mmask16 m = (__mmask16)((1u << (2 * n)) - 1);\n"
  "  dnk_pool2_get(s0, s0 + 2 * w, s0 + w, s0 + 3 * w, m, m, v);\n"
  "}\n"
  "/* The window maxima: v > m, or m not NaN and v NaN, takes v. (Written out, not a loop over\n"
  " * k: with a loop GCC kept v[] and g[] in memory, on the stack.) */\n"
  "static inline __m512 dnk_pool2_take(__m512 m, __m512 v) {\n"
  "  __mmask16 t = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) |\n"
  "                (_mm512_cmp_ps_mask(m, m, _CMP_ORD_Q) & _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q));\n"
  "  return _mm512_mask_mov_ps(m, t, v);\n"
  "}\n"
  "static inline __m512 dnk_pool2_max(const __m512 *v) {\n"
  "  return dnk_pool2_take(dnk_pool2_take(dnk_pool2_take(v[0], v[1]), v[2]), v[3]);\n"
  "}\n"
  "DNK_POOL_UNUSED static inline void dnk_maxpool2_row(const float *s0, long w, float *o, long ow) {\n"
  "  long j;\n"
  "  for (j = 0; j < ow; j += 16) {\n"
  "    long n = ow - j < 16 ? ow - j : 16;\n"
  "    __m512 v[4];\n"
  "    dnk_pool2_load(s0 + 2 * j, s0 + w + 2 * j, n, v);\n"
  "    _mm512_mask_storeu_ps(o + j, (__mmask16)((1u << n) - 1), dnk_pool2_max(v));\n"
  "  }\n"
  "}\n"
  "/* Output rows r, r + 1 (o: 2 ow values) for ow <= 8, input rows 2r .. 2r + 3 at s0. */\n"
  "DNK_POOL_UNUSED static inline void dnk_maxpool2_row2(const float *s0, long w, float *o, long ow) {\n"
  "  __mmask16 m = (__mmask16)((1u << ow) - 1);\n"
  "  __m512 v[4];\n"
  "  dnk_pool2_load2(s0, w, ow, v);\n"
  "  _mm512_mask_storeu_ps(o, (__mmask16)((1u << (2 * ow)) - 1), _mm512_maskz_compress_ps((__mmask16)(m | m << 8), dnk_pool2_max(v)));\n"
  "}\n"
  "/* dy where v is the first argmax (among the positions still `left`), else 0. */\n"
  "static inline __m512 dnk_pool2_hit(__m512 v, __m512 m, __mmask16 mnan, __m512 dy, __mmask16 *left) {\n"
  "  __mmask16 hit = (_mm512_cmp_ps_mask(v, m, _CMP_EQ_OQ) | (mnan & _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q))) & *left;\n"
  "  *left &= (__mmask16)~hit;\n"
  "  return _mm512_maskz_mov_ps(hit, dy);\n"
  "}\n"
  "/* The gradients g[k] of the windows' four positions: dy at each window's first argmax, 0\n"
  " * elsewhere (relu: only where the max is > 0). */\n"
  "static inline void dnk_pool2_grad(const __m512 *v, __m512 dy, int relu, __m512 *g) {\n"
  "  __m512 m = dnk_pool2_max(v);\n"
  "  __mmask16 left = 0xFFFF, mnan;\n"
  "  if (relu) dy = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(m, _mm512_setzero_ps(), _CMP_GT_OQ), dy);\n"
  "  mnan = _mm512_cmp_ps_mask(m, m, _CMP_UNORD_Q);\n"
  "  g[0] = dnk_pool2_hit(v[0], m, mnan, dy, &left);\n"
  "  g[1] = dnk_pool2_hit(v[1], m, mnan, dy, &left);\n"
  "  g[2] = dnk_pool2_hit(v[2], m, mnan, dy, &left);\n"
  "  g[3] = dnk_pool2_hit(v[3], m, mnan, dy, &left);\n"
  "}\n"
  "/* Writes g back as input rows: lanes 0-7 to t0 (top) and b0 (bottom) under lo, lanes 8-15 to\n"
  " * t1 and b1 under hi (the window columns interleaved). */\n"
  "static inline void dnk_pool2_put(const __m512 *g, float *t0, float *t1, float *b0, float *b1, __mmask16 lo, __mmask16 hi) {\n"
  "  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);\n"
  "  const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);\n"
  "  _mm512_mask_storeu_ps(t0, lo, _mm512_permutex2var_ps(g[0], il, g[1]));\n"
  "  _mm512_mask_storeu_ps(t1, hi, _mm512_permutex2var_ps(g[0], ih, g[1]));\n"
  "  _mm512_mask_storeu_ps(b0, lo, _mm512_permutex2var_ps(g[2], il, g[3]));\n"
  "  _mm512_mask_storeu_ps(b1, hi, _mm512_permutex2var_ps(g[2], ih, g[3]));\n"
  "}\n"
  "/* Gradient rows g0 (= s0's) and g1 = g0 + w: dy (e) at each window's first argmax, 0 elsewhere\n"
  " * (relu: only where the max is > 0). */\n"
  "DNK_POOL_UNUSED static inline void dnk_maxpool2_bwd_row(const float *s0, long w, const float *e, float *g0, long ow, int relu) {\n"
  "  long j;\n"
  "  for (j = 0; j < ow; j += 16) {\n"
  "    long n = ow - j < 16 ? ow - j : 16;\n"
  "    const float *t = s0 + 2 * j, *b = t + w;\n"
  "    float *gt = g0 + 2 * j, *gb = gt + w;\n"
  "    __mmask16 lo, hi;\n"
  "    __m512 v[4], g[4];\n"
  "    dnk_pool2_masks(n, &lo, &hi);\n"
  "    dnk_pool2_get(t, t + 16, b, b + 16, lo, hi, v);\n"
  "    dnk_pool2_grad(v, _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), e + j), relu, g);\n"
  "    dnk_pool2_put(g, gt, gt + 16, gb, gb + 16, lo, hi);\n"
  "  }\n"
  "}\n"
  "/* The same for output rows r, r + 1 (dy: 2 ow values at e) with ow <= 8, as dnk_maxpool2_row2. */\n"
  "DNK_POOL_UNUSED static inline void dnk_maxpool2_bwd_row2(const float *s0, long w, const float *e, float *g0, long ow, int relu) {\n"
  "  __mmask16 m = (__mmask16)((1u << ow) - 1), m2 = (__mmask16)((1u << (2 * ow)) - 1);\n"
  "  __m512 v[4], g[4];\n"
  "  dnk_pool2_load2(s0, w, ow, v);\n"
  "  dnk_pool2_grad(v, _mm512_maskz_expandloadu_ps((__mmask16)(m | m << 8), e), relu, g);\n"
  "  dnk_pool2_put(g, g0, g0 + 2 * w, g0 + w, g0 + 3 * w, m2, m2);\n"
  "}\n"
  "#endif\n";

/* Does the pool take the AVX-512 2 x 2 rows (float, 2 x 2 windows at stride 2, inside)? */
static int dk_pool2(dn_cg_ctx *ctx, const dk_pool *p) {
  const dn_window *w = &p->win;
  int ok = strcmp(ctx->real, "float") == 0 && w->kh == 2 && w->kw == 2 && w->sh == 2 && w->sw == 2 && w->dh == 1 &&
           w->dw == 1 && dk_pool_inside(p);
  if (ok) ctx->need |= DN_KNEED_POOL2;
  return ok;
}

/* Clears a tensor of `count` elements. */
static void dk_clear(dn_buf *c, const char *out, int64_t count) {
  dn_buf_printf(c, "  { long dk_z; for (dk_z = 0; dk_z < %lld; ++dk_z) (%s)[dk_z] = 0; }\n", (long long)count, out);
}

/* Output rows of at most 8 windows tiling the input (LeNet-5's 10 x 10 -> 5 x 5): the AVX-512
 * kernels take them two at a time, 16 lanes for 2 ow windows instead of ow (the 5 x 5 pooling
 * gradient took 2.5 times as long per element as the 28 x 28 one). */
static int dk_pool2_pairs(dn_cg_ctx *ctx, const dk_pool *p) {
  return dk_pool2(ctx, p) && p->ow <= 8 && p->h == 2 * p->oh && p->w == 2 * p->ow;
}

/* Prints the paired rows' loop (dk_pool2_pairs) and opens its "#else": rows = dk_x's input
 * rows from 4w apart, dk_y's (fwd) or dk_d's and dk_g's (bwd) outputs; an odd last row alone. */
static void dk_pool2_pair_loop(dn_buf *c, dn_cg_ctx *ctx, const dk_pool *p, int bwd, int relu) {
  long long rows = p->planes * p->oh, w = p->w, ow = p->ow;
  dn_buf_printf(c, "#if defined(DNK_POOL2)\n  { long dk_r2;\n");
  if (ctx->threads > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_r2 = 0; dk_r2 < %lld; ++dk_r2)\n", rows / 2);
  if (bwd) {
    dn_buf_printf(c, "    dnk_maxpool2_bwd_row2(dk_x + dk_r2 * %lld, %lld, dk_d + dk_r2 * %lld, dk_g + dk_r2 * %lld, %lld, %d);\n", 4 * w, w,
                  2 * ow, 4 * w, ow, relu);
    if (rows % 2)
      dn_buf_printf(c, "  dnk_maxpool2_bwd_row(dk_x + %lld, %lld, dk_d + %lld, dk_g + %lld, %lld, %d);\n", (rows - 1) * 2 * w, w,
                    (rows - 1) * ow, (rows - 1) * 2 * w, ow, relu);
  } else {
    dn_buf_printf(c, "    dnk_maxpool2_row2(dk_x + dk_r2 * %lld, %lld, dk_y + dk_r2 * %lld, %lld);\n", 4 * w, w, 2 * ow, ow);
    if (rows % 2)
      dn_buf_printf(c, "  dnk_maxpool2_row(dk_x + %lld, %lld, dk_y + %lld, %lld);\n", (rows - 1) * 2 * w, w, (rows - 1) * ow, ow);
  }
  dn_buf_printf(c, "  (void)dk_r; }\n#else\n");
}

/* Max pooling with windows inside the input and at most 16 elements: the window unrolled in a
 * loop over one output row, which the C compiler vectorizes (strided loads, selects). */
static void dk_maxpool_rows(dn_buf *c, dn_cg_ctx *ctx, const dk_pool *p, const char *out, const char *in) {
  const dn_window *w = &p->win;
  int v2 = dk_pool2(ctx, p), pair = dk_pool2_pairs(ctx, p);
  dn_buf_printf(c, "  const %s *restrict dk_x = %s;\n  %s *restrict dk_y = %s;\n  long dk_r;\n", ctx->real, in, ctx->real, out);
  if (pair) dk_pool2_pair_loop(c, ctx, p, 0, 0), v2 = 0;
  if (ctx->threads > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_r = 0; dk_r < %lld; ++dk_r) {  /* output rows of all planes */\n", (long long)(p->planes * p->oh));
  dn_buf_printf(c, "    const %s *restrict dk_s = dk_x + ((dk_r / %lld) * %lld + (dk_r %% %lld) * %d) * %lld;\n", ctx->real,
                (long long)p->oh, (long long)p->h, (long long)p->oh, w->sh, (long long)p->w);
  dn_buf_printf(c, "    %s *restrict dk_o = dk_y + dk_r * %lld;\n", ctx->real, (long long)p->ow);
  if (v2) dn_buf_printf(c, "#if defined(DNK_POOL2)\n    dnk_maxpool2_row(dk_s, %lld, dk_o, %lld);\n#else\n", (long long)p->w, (long long)p->ow);
  dn_buf_printf(c, "    long dk_ox;\n    DN_IVDEP\n    for (dk_ox = 0; dk_ox < %lld; ++dk_ox) {\n      %s dk_m = dk_s[dk_ox * %d], dk_v;\n",
                (long long)p->ow, ctx->real, w->sw);
  for (int i = 0; i < w->kh; i++)
    for (int j = 0; j < w->kw; j++) {
      if (i == 0 && j == 0) continue;
      dn_buf_printf(c, "      dk_v = dk_s[dk_ox * %d + %lld];\n", w->sw, (long long)(i * w->dh * p->w + j * w->dw));
      dn_buf_printf(c, "      dk_m = dk_v > dk_m || (dk_m == dk_m && dk_v != dk_v) ? dk_v : dk_m;\n");
    }
  dn_buf_printf(c, "      dk_o[dk_ox] = dk_m;  /* the first NaN wins, as max does */\n    }\n");
  if (v2) dn_buf_printf(c, "#endif\n");
  dn_buf_printf(c, "  }\n");
  if (pair) dn_buf_printf(c, "#endif\n");
}

static void dk_maxpool(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dk_pool p = dk_pool_geom(n->in[0], n, n->win);
  if (dk_pool_inside(&p) && p.win.kh * p.win.kw <= 16) {
    dk_maxpool_rows(c, ctx, &p, out, in[0]);
    return;
  }
  dk_pool_head(c, ctx, &p);
  dn_buf_printf(c, "        %s dk_m = 0;\n        int dk_any = 0;\n", ctx->real);
  dk_pool_window(c, &p);
  dn_buf_printf(c, "            if (!dk_any || (%s)[dk_q] > dk_m || (dk_m == dk_m && (%s)[dk_q] != (%s)[dk_q]))\n", in[0], in[0],
                in[0]);
  dn_buf_printf(c, "              dk_m = (%s)[dk_q], dk_any = 1;  /* the first NaN wins, as max does */\n", in[0]);
  dn_buf_printf(c, "          }\n        (%s)[dk_o] = dk_m;\n      }\n  }\n", out);
}

/* Max pooling's gradient for windows that tile the input without overlap (stride = kernel),
 * inside it, of at most 16 elements: every element of a window is written, dy at the first
 * argmax and 0 elsewhere, in a loop over one output row that vectorizes like dk_maxpool_rows.
 * Elements no window covers are cleared first. */
static void dk_maxpool_bwd_rows(dn_buf *c, dn_cg_ctx *ctx, const dk_pool *p, int relu, const char *out, const char *const *in) {
  const dn_window *w = &p->win;
  int kn = w->kh * w->kw, v2 = dk_pool2(ctx, p), pair = dk_pool2_pairs(ctx, p);
  if (p->oh * w->sh != p->h || p->ow * w->sw != p->w) dk_clear(c, out, p->planes * p->h * p->w);
  dn_buf_printf(c, "  const %s *restrict dk_x = %s, *restrict dk_d = %s;\n  %s *restrict dk_g = %s;\n  long dk_r;\n", ctx->real, in[0],
                in[1], ctx->real, out);
  if (pair) dk_pool2_pair_loop(c, ctx, p, 1, relu), v2 = 0;
  if (ctx->threads > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_r = 0; dk_r < %lld; ++dk_r) {  /* output rows of all planes */\n", (long long)(p->planes * p->oh));
  dn_buf_printf(c, "    const long dk_b = ((dk_r / %lld) * %lld + (dk_r %% %lld) * %d) * %lld;\n", (long long)p->oh, (long long)p->h,
                (long long)p->oh, w->sh, (long long)p->w);
  dn_buf_printf(c, "    const %s *restrict dk_s = dk_x + dk_b, *restrict dk_e = dk_d + dk_r * %lld;\n", ctx->real, (long long)p->ow);
  dn_buf_printf(c, "    %s *restrict dk_o = dk_g + dk_b;\n", ctx->real);
  if (v2) dn_buf_printf(c, "#if defined(DNK_POOL2)\n    dnk_maxpool2_bwd_row(dk_s, %lld, dk_e, dk_o, %lld, %d);\n#else\n", (long long)p->w,
                        (long long)p->ow, relu);
  dn_buf_printf(c, "    long dk_ox;\n    DN_IVDEP\n");
  dn_buf_printf(c, "    for (dk_ox = 0; dk_ox < %lld; ++dk_ox) {\n", (long long)p->ow);
  for (int e = 0; e < kn; e++)
    dn_buf_printf(c, "      const %s dk_v%d = dk_s[dk_ox * %d + %lld];\n", ctx->real, e, w->sw,
                  (long long)((e / w->kw) * p->w + e % w->kw));
  dn_buf_printf(c, "      %s dk_m = dk_v0, dk_y = dk_e[dk_ox];\n", ctx->real);
  for (int e = 1; e < kn; e++) dn_buf_printf(c, "      dk_m = dk_v%d > dk_m || (dk_m == dk_m && dk_v%d != dk_v%d) ? dk_v%d : dk_m;\n", e, e, e, e);
  if (relu) dn_buf_printf(c, "      dk_y = dk_m > 0 ? dk_y : 0;  /* the ReLU's gradient mask */\n");
  for (int e = 0; e < kn; e++) {  /* dk_y: the gradient not given yet (0 after the first argmax) */
    long long at = (long long)((e / w->kw) * p->w + e % w->kw);
    dn_buf_printf(c, "      dk_o[dk_ox * %d + %lld] = dk_v%d == dk_m || (dk_m != dk_m && dk_v%d != dk_v%d) ? dk_y : 0;\n", w->sw, at,
                  e, e, e);
    if (e + 1 < kn)
      dn_buf_printf(c, "      dk_y = dk_v%d == dk_m || (dk_m != dk_m && dk_v%d != dk_v%d) ? 0 : dk_y;\n", e, e, e);
  }
  dn_buf_printf(c, "    }\n");
  if (v2) dn_buf_printf(c, "#endif\n");
  dn_buf_printf(c, "  }\n");
  if (pair) dn_buf_printf(c, "#endif\n");
}

/* dx (out, shape of x = in[0]) gets dy (in[1]) at the first argmax of each window (n->axis:
 * only where that max is > 0, see simplify.c). */
static void dk_maxpool_bwd(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dk_pool p = dk_pool_geom(n->in[0], n->in[1], n->win);
  if (dk_pool_inside(&p) && p.win.kh * p.win.kw <= 16 && p.win.kh == p.win.sh && p.win.kw == p.win.sw && p.win.dh == 1 &&
      p.win.dw == 1) {
    dk_maxpool_bwd_rows(c, ctx, &p, n->axis, out, in);
    return;
  }
  dk_clear(c, out, dn_shape_count(n->shape));
  dk_pool_head(c, ctx, &p);  /* planes are disjoint: overlapping windows stay in one thread */
  dn_buf_printf(c, "        %s dk_m = 0;\n        long dk_arg = -1;\n", ctx->real);
  dk_pool_window(c, &p);
  dn_buf_printf(c, "            if (dk_arg < 0 || (%s)[dk_q] > dk_m || (dk_m == dk_m && (%s)[dk_q] != (%s)[dk_q]))\n", in[0],
                in[0], in[0]);
  dn_buf_printf(c, "              dk_m = (%s)[dk_q], dk_arg = dk_q;\n", in[0]);
  dn_buf_printf(c, "          }\n        if (dk_arg >= 0%s) (%s)[dk_arg] += (%s)[dk_o];\n      }\n  }\n", n->axis ? " && dk_m > 0" : "", out,
                in[1]);
}

static void dk_sumpool(dn_buf *c, const dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dk_pool p = dk_pool_geom(n->in[0], n, n->win);
  dk_pool_head(c, ctx, &p);
  dn_buf_printf(c, "        %s dk_s = 0;\n", ctx->real);
  dk_pool_window(c, &p);
  dn_buf_printf(c, "            dk_s += (%s)[dk_q];\n          }\n        (%s)[dk_o] = dk_s;\n      }\n  }\n", in[0], out);
}

/* dx (out) += dy (in[0]) over each window. */
static void dk_sumpool_bwd(dn_buf *c, const dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dk_pool p = dk_pool_geom(n, n->in[0], n->win);
  dk_clear(c, out, dn_shape_count(n->shape));
  dk_pool_head(c, ctx, &p);
  dn_buf_printf(c, "        %s dk_g = (%s)[dk_o];\n", ctx->real, in[0]);
  dk_pool_window(c, &p);
  dn_buf_printf(c, "            (%s)[dk_q] += dk_g;\n          }\n      }\n  }\n", out);
}

/* --- strided loop nests (reduce, expand, transpose) --------------------------------- */

/* A loop nest over `dim` with two stride sets: a (the walked tensor, usually contiguous) and
 * b (the other tensor). Adjacent axes that can be merged are merged first. */
typedef struct dk_nest {
  int rank;                     /* loops */
  int64_t dim[DN_MAX_RANK];     /* extents */
  int64_t sa[DN_MAX_RANK];      /* strides of tensor a */
  int64_t sb[DN_MAX_RANK];      /* strides of tensor b */
} dk_nest;

static void dk_nest_merge(dk_nest *t) {
  dk_nest m;
  m.rank = 0;
  for (int i = 0; i < t->rank; i++) {
    if (t->dim[i] == 1) continue;
    int k = m.rank - 1;
    if (k >= 0 && m.sa[k] == t->sa[i] * t->dim[i] && m.sb[k] == t->sb[i] * t->dim[i]) {
      m.dim[k] *= t->dim[i], m.sa[k] = t->sa[i], m.sb[k] = t->sb[i];
      continue;
    }
    m.dim[m.rank] = t->dim[i], m.sa[m.rank] = t->sa[i], m.sb[m.rank] = t->sb[i], m.rank++;
  }
  *t = m;
}

static void dk_strides(dn_shape s, int64_t *st) {
  int64_t p = 1;
  for (int i = s.rank - 1; i >= 0; i--) st[i] = s.dim[i] == 1 ? 0 : p, p *= s.dim[i];
}

/* Prints the loops; the body sees dk_ia and dk_ib, the offsets into a and b. ivdep: the
 * iterations of the innermost loop touch different elements of both (DN_IVDEP). */
static void dk_nest_open(dn_buf *c, const dk_nest *t, int ivdep) {
  dn_buf_printf(c, "  long dk_i[%d], dk_ia, dk_ib;\n", t->rank > 0 ? t->rank : 1);
  for (int i = 0; i < t->rank; i++) {
    if (ivdep && i == t->rank - 1) dn_buf_printf(c, "  DN_IVDEP\n");
    dn_buf_printf(c, "  for (dk_i[%d] = 0; dk_i[%d] < %lld; ++dk_i[%d])\n", i, i, (long long)t->dim[i], i);
  }
  dn_buf_printf(c, "  {\n%s    dk_ia = 0", t->rank ? "" : "    (void)dk_i;\n");
  for (int i = 0; i < t->rank; i++)
    if (t->sa[i]) dn_buf_printf(c, " + dk_i[%d] * %lld", i, (long long)t->sa[i]);
  dn_buf_printf(c, ";\n    dk_ib = 0");
  for (int i = 0; i < t->rank; i++)
    if (t->sb[i]) dn_buf_printf(c, " + dk_i[%d] * %lld", i, (long long)t->sb[i]);
  dn_buf_printf(c, ";\n");
}

/* Prints `out op= x` over the merged nest t (out already initialized), as one block. */
static void dk_reduce_nest(dn_buf *c, const dn_cg_ctx *ctx, dk_nest t, int is_max, const char *out, const char *in) {
  int r = t.rank;
  dn_buf_printf(c, "  {\n");
  if (!is_max && r > 0 && t.sa[r - 1] == 1 && t.sb[r - 1] == 0 && t.dim[r - 1] >= 32) {
    /* a contiguous run summed per output: 16 partial sums the C compiler vectorizes (it does
     * not reorder a single float sum), added up at the end */
    long long d = (long long)t.dim[r - 1];
    t.rank = r - 1;
    dk_nest_open(c, &t, 0);
    dn_buf_printf(c, "    const %s *dk_p = (%s) + dk_ia;\n    %s dk_v[16] = {0}, dk_t = 0;\n    long dk_j, dk_l;\n", ctx->real, in,
                  ctx->real);
    dn_buf_printf(c, "    for (dk_j = 0; dk_j + 16 <= %lld; dk_j += 16)\n      for (dk_l = 0; dk_l < 16; ++dk_l) dk_v[dk_l] += dk_p[dk_j + dk_l];\n", d);
    dn_buf_printf(c, "    for (dk_l = 0; dk_l < 16; ++dk_l) dk_t += dk_v[dk_l];\n");
    if (d % 16) dn_buf_printf(c, "    for (dk_j = %lld; dk_j < %lld; ++dk_j) dk_t += dk_p[dk_j];\n", d / 16 * 16, d);
    dn_buf_printf(c, "    (%s)[dk_ib] += dk_t;\n  }\n  }\n", out);
    return;
  }
  /* the innermost loop over a kept axis writes a different output element each time */
  dk_nest_open(c, &t, r > 0 && t.sb[r - 1] != 0 && t.sa[r - 1] != 0);
  if (is_max)
    dn_buf_printf(c, "    if ((%s)[dk_ia] > (%s)[dk_ib] || (%s)[dk_ia] != (%s)[dk_ia]) (%s)[dk_ib] = (%s)[dk_ia];\n", in, out, in, in,
                  out, in);
  else
    dn_buf_printf(c, "    (%s)[dk_ib] += (%s)[dk_ia];\n", out, in);
  dn_buf_printf(c, "  }\n  }\n");
}

/* A large sum over the outermost axis (a bias gradient: the batch and more) with --threads:
 * the outermost axis in one contiguous chunk per thread, each summed into its own result
 * (chunk 0 into out, the others in the scratch area), then added in chunk order, so every
 * thread reads the samples it wrote in the loops before (and the result depends on the
 * thread count the code was generated for, not on scheduling). */
static void dk_reduce_chunked(dn_buf *c, dn_cg_ctx *ctx, dk_nest t, const char *out, const char *in, int64_t cnt) {
  int64_t d0 = t.dim[0], s0 = t.sa[0], nq = dn_kchunks(ctx, d0);
  dn_kneed_scratch(ctx, dn_kscratch_bytes(ctx, (nq - 1) * cnt));
  for (int i = 0; i + 1 < t.rank; i++) t.dim[i] = t.dim[i + 1], t.sa[i] = t.sa[i + 1], t.sb[i] = t.sb[i + 1];
  t.rank--;
  dn_buf_printf(c, "  {\n  %s *dk_part = (%s *)(%s);\n  long dk_q;\n", ctx->real, ctx->real, ctx->scratch);
  dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_q = 0; dk_q < %lld; ++dk_q) {\n    %s *dk_dst = dk_q == 0 ? (%s) : dk_part + (dk_q - 1) * %lld;\n",
                (long long)nq, ctx->real, out, (long long)cnt);
  dn_buf_printf(c, "    long dk_z, dk_o, dk_lo = dk_q * %lld / %lld, dk_hi = (dk_q + 1) * %lld / %lld;\n", (long long)d0,
                (long long)nq, (long long)d0, (long long)nq);
  dn_buf_printf(c, "    for (dk_z = 0; dk_z < %lld; ++dk_z) dk_dst[dk_z] = 0;\n", (long long)cnt);
  dn_buf_printf(c, "    for (dk_o = dk_lo; dk_o < dk_hi; ++dk_o) {\n      const %s *dk_rx = (%s) + dk_o * %lld;\n", ctx->real, in,
                (long long)s0);
  dk_reduce_nest(c, ctx, t, 0, "dk_dst", "dk_rx");
  dn_buf_printf(c, "    }\n  }\n");
  dn_kpart_sums(c, ctx, nq, cnt, out);
  dn_buf_printf(c, "  }\n");
}

/* out (reduced shape, b) op= x (a). */
static void dk_reduce(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dk_nest t;
  int64_t so[DN_MAX_RANK], cnt = dn_shape_count(n->shape);
  dn_shape xs = n->in[0]->shape;
  int is_max = n->op == DN_OP_REDUCE_MAX;
  t.rank = xs.rank;
  dk_strides(xs, t.sa);
  dk_strides(n->shape, so);
  for (int i = 0; i < xs.rank; i++) t.dim[i] = xs.dim[i], t.sb[i] = so[i];
  dk_nest_merge(&t);
  if (!is_max && ctx->threads > 1 && ctx->scratch && t.rank > 1 && t.sb[0] == 0 && t.dim[0] > 1 &&
      dn_shape_count(xs) >= DN_PAR_MIN_ELEMS && cnt <= 65536) {
    dk_reduce_chunked(c, ctx, t, out, in[0], cnt);
    return;
  }
  if (is_max)
    dn_buf_printf(c, "  { long dk_z; for (dk_z = 0; dk_z < %lld; ++dk_z) (%s)[dk_z] = -HUGE_VAL; }\n", (long long)cnt, out);
  else
    dk_clear(c, out, cnt);
  dk_reduce_nest(c, ctx, t, is_max, out, in[0]);
}

/* Copies b -> a through the nest (a = out, contiguous walk). */
static void dk_copy_nest(dn_buf *c, dk_nest *t, const char *out, const char *src) {
  dk_nest_merge(t);
  dk_nest_open(c, t, t->rank > 0 && t->sa[t->rank - 1] != 0); /* distinct elements of out: no dependences */
  dn_buf_printf(c, "    (%s)[dk_ia] = (%s)[dk_ib];\n  }\n", out, src);
}

static void dk_expand(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  dk_nest t;
  t.rank = n->shape.rank;
  dk_strides(n->shape, t.sa);
  dk_strides(n->in[0]->shape, t.sb);
  for (int i = 0; i < t.rank; i++) t.dim[i] = n->shape.dim[i];
  dk_copy_nest(c, &t, out, in[0]);
}

static void dk_transpose(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  dk_nest t;
  int64_t sx[DN_MAX_RANK];
  t.rank = n->shape.rank;
  dk_strides(n->shape, t.sa);
  dk_strides(n->in[0]->shape, sx);
  for (int i = 0; i < t.rank; i++) t.dim[i] = n->shape.dim[i], t.sb[i] = sx[n->perm[i]];
  dk_copy_nest(c, &t, out, in[0]);
}

/* --- normalizers ---------------------------------------------------------------- */

static void dk_softmax(dn_buf *c, const dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dn_shape s = n->in[0]->shape;
  int64_t outer = dk_prod(s, 0, n->axis), len = s.dim[n->axis], inner = dk_prod(s, n->axis + 1, s.rank);
  const char *r = ctx->real;
  int dbl = strcmp(r, "double") == 0;
  const char *ex = dbl ? "exp" : "expf", *lg = dbl ? "log" : "logf";
  dn_buf_printf(c, "  long dk_o;\n");
  if (ctx->threads > 1 && outer * inner > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_o = 0; dk_o < %lld; ++dk_o) {\n", (long long)(outer * inner));
  dn_buf_printf(c, "    long dk_b = (dk_o / %lld) * %lld + dk_o %% %lld, dk_k;\n", (long long)inner, (long long)(len * inner),
                (long long)inner);
  dn_buf_printf(c, "    const %s *dk_x = (%s) + dk_b;\n    %s dk_m = dk_x[0], dk_s = 0;\n", r, in[0], r);
  dn_buf_printf(c, "    for (dk_k = 1; dk_k < %lld; ++dk_k) if (dk_x[dk_k * %lld] > dk_m) dk_m = dk_x[dk_k * %lld];\n",
                (long long)len, (long long)inner, (long long)inner);
  dn_buf_printf(c, "    if (dk_m == -HUGE_VAL || dk_m == HUGE_VAL) dk_m = 0;\n");
  if (n->op == DN_OP_SOFTMAX) {
    dn_buf_printf(c, "    for (dk_k = 0; dk_k < %lld; ++dk_k) dk_s += ((%s) + dk_b)[dk_k * %lld] = %s(dk_x[dk_k * %lld] - dk_m);\n",
                  (long long)len, out, (long long)inner, ex, (long long)inner);
    dn_buf_printf(c, "    dk_s = 1 / dk_s;\n    for (dk_k = 0; dk_k < %lld; ++dk_k) ((%s) + dk_b)[dk_k * %lld] *= dk_s;\n",
                  (long long)len, out, (long long)inner);
  } else {
    dn_buf_printf(c, "    for (dk_k = 0; dk_k < %lld; ++dk_k) dk_s += %s(dk_x[dk_k * %lld] - dk_m);\n", (long long)len, ex,
                  (long long)inner);
    dn_buf_printf(c, "    dk_s = dk_m + %s(dk_s);\n", lg);
    if (n->op == DN_OP_LOGSUMEXP)
      dn_buf_printf(c, "    (%s)[(dk_o / %lld) * %lld + dk_o %% %lld] = dk_s;\n", out, (long long)inner, (long long)inner,
                    (long long)inner);
    else
      dn_buf_printf(c, "    for (dk_k = 0; dk_k < %lld; ++dk_k) ((%s) + dk_b)[dk_k * %lld] = dk_x[dk_k * %lld] - dk_s;\n",
                    (long long)len, out, (long long)inner, (long long)inner);
  }
  dn_buf_printf(c, "  }\n");
}

/* --- class indices ------------------------------------------------------------- */

static void dk_pick(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  int64_t k = n->in[0]->shape.dim[n->in[0]->shape.rank - 1];
  dn_buf_printf(c, "  long dk_i;\n  for (dk_i = 0; dk_i < %lld; ++dk_i) {\n", (long long)dn_shape_count(n->shape));
  dn_buf_printf(c, "    int32_t dk_y = (%s)[dk_i];  /* out-of-range labels pick 0 */\n", in[1]);
  dn_buf_printf(c, "    (%s)[dk_i] = dk_y >= 0 && dk_y < %lld ? (%s)[dk_i * %lld + dk_y] : 0;\n  }\n", out, (long long)k, in[0],
                (long long)k);
}

static void dk_onehot(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  int64_t k = n->shape.dim[n->shape.rank - 1];
  dn_buf_printf(c, "  long dk_i, dk_k;\n  for (dk_i = 0; dk_i < %lld; ++dk_i)  /* out-of-range labels: all zeros */\n",
                (long long)dn_shape_count(n->in[0]->shape));
  dn_buf_printf(c, "    for (dk_k = 0; dk_k < %lld; ++dk_k) (%s)[dk_i * %lld + dk_k] = (%s)[dk_i] == dk_k ? 1 : 0;\n",
                (long long)k, out, (long long)k, in[0]);
}

static void dk_embed(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  int64_t kk = n->in[0]->shape.dim[0], d = n->shape.dim[n->shape.rank - 1];
  dn_buf_printf(c, "  long dk_i, dk_d;\n  for (dk_i = 0; dk_i < %lld; ++dk_i) {\n",
                (long long)dn_shape_count(n->in[1]->shape));
  dn_buf_printf(c, "    int32_t dk_y = (%s)[dk_i];  /* out-of-range labels embed zeros */\n", in[1]);
  dn_buf_printf(c, "    for (dk_d = 0; dk_d < %lld; ++dk_d)\n", (long long)d);
  dn_buf_printf(c, "      (%s)[dk_i * %lld + dk_d] = dk_y >= 0 && dk_y < %lld ? (%s)[dk_y * %lld + dk_d] : 0;\n  }\n", out,
                (long long)d, (long long)kk, in[0], (long long)d);
}

static void dk_embed_bwd(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  int64_t kk = n->shape.dim[0], d = n->shape.dim[n->shape.rank - 1];
  dk_clear(c, out, dn_shape_count(n->shape));
  dn_buf_printf(c, "  { long dk_i, dk_d;\n  for (dk_i = 0; dk_i < %lld; ++dk_i) {\n",
                (long long)dn_shape_count(n->in[1]->shape));
  dn_buf_printf(c, "    int32_t dk_y = (%s)[dk_i];\n    if (dk_y < 0 || dk_y >= %lld) continue;  /* bad label: skipped */\n",
                in[1], (long long)kk);
  dn_buf_printf(c, "    for (dk_d = 0; dk_d < %lld; ++dk_d) (%s)[dk_y * %lld + dk_d] += (%s)[dk_i * %lld + dk_d];\n  } }\n",
                (long long)d, out, (long long)d, in[0], (long long)d);
}

/* --- slices and concatenation -------------------------------------------------------- */

/* Copies `outer` rows of `len` elements from src (row stride ss) to dst (row stride ds). */
static void dk_rows(dn_buf *c, const char *dst, int64_t doff, int64_t ds, const char *src, int64_t soff, int64_t ss,
                    int64_t outer, int64_t len) {
  dn_buf_printf(c, "  { long dk_o, dk_k;\n  for (dk_o = 0; dk_o < %lld; ++dk_o)\n    DN_IVDEP\n", (long long)outer);
  dn_buf_printf(c, "    for (dk_k = 0; dk_k < %lld; ++dk_k) (%s)[dk_o * %lld + %lld + dk_k] = (%s)[dk_o * %lld + %lld + dk_k]; }\n",
                (long long)len, dst, (long long)ds, (long long)doff, src, (long long)ss, (long long)soff);
}

static void dk_slice(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  dn_shape s = n->in[0]->shape;
  int64_t inner = dk_prod(s, n->axis + 1, s.rank), outer = dk_prod(s, 0, n->axis);
  int64_t len = (n->stop - n->start) * inner;
  dk_rows(c, out, 0, len, in[0], n->start * inner, s.dim[n->axis] * inner, outer, len);
}

static void dk_unslice(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  dn_shape s = n->shape;
  int64_t inner = dk_prod(s, n->axis + 1, s.rank), outer = dk_prod(s, 0, n->axis);
  int64_t len = n->in[0]->shape.dim[n->axis] * inner;
  dk_clear(c, out, dn_shape_count(s));
  dk_rows(c, out, n->start * inner, s.dim[n->axis] * inner, in[0], 0, len, outer, len);
}

static void dk_concat(dn_buf *c, const dn_node *n, const char *out, const char *const *in) {
  dn_shape s = n->shape;
  int64_t inner = dk_prod(s, n->axis + 1, s.rank), outer = dk_prod(s, 0, n->axis), at = 0;
  for (int i = 0; i < n->nin; i++) {
    int64_t len = n->in[i]->shape.dim[n->axis] * inner;
    dk_rows(c, out, at, s.dim[n->axis] * inner, in[i], 0, len, outer, len);
    at += len;
  }
}

/* --- dispatch ------------------------------------------------------------------- */

static int dk_is_loop_op(dn_op op) {
  return op == DN_OP_MAXPOOL2D || op == DN_OP_MAXPOOL2D_BWD || op == DN_OP_SUMPOOL2D || op == DN_OP_SUMPOOL2D_BWD ||
         op == DN_OP_REDUCE_SUM || op == DN_OP_REDUCE_MAX || op == DN_OP_EXPAND || op == DN_OP_SOFTMAX ||
         op == DN_OP_LOG_SOFTMAX || op == DN_OP_LOGSUMEXP || op == DN_OP_PICK || op == DN_OP_ONEHOT ||
         op == DN_OP_EMBED || op == DN_OP_EMBED_BWD || op == DN_OP_TRANSPOSE || op == DN_OP_SLICE ||
         op == DN_OP_UNSLICE || op == DN_OP_CONCAT;
}

/* The loop kernels; returns 1 for ops that are not this file's. */
static int dk_loops(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  switch (n->op) {
  case DN_OP_MAXPOOL2D: dk_maxpool(c, ctx, n, out, in); break;
  case DN_OP_MAXPOOL2D_BWD: dk_maxpool_bwd(c, ctx, n, out, in); break;
  case DN_OP_SUMPOOL2D: dk_sumpool(c, ctx, n, out, in); break;
  case DN_OP_SUMPOOL2D_BWD: dk_sumpool_bwd(c, ctx, n, out, in); break;
  case DN_OP_REDUCE_SUM:
  case DN_OP_REDUCE_MAX: dk_reduce(c, ctx, n, out, in); break;
  case DN_OP_EXPAND: dk_expand(c, n, out, in); break;
  case DN_OP_SOFTMAX:
  case DN_OP_LOG_SOFTMAX:
  case DN_OP_LOGSUMEXP: dk_softmax(c, ctx, n, out, in); break;
  case DN_OP_PICK: dk_pick(c, n, out, in); break;
  case DN_OP_ONEHOT: dk_onehot(c, n, out, in); break;
  case DN_OP_EMBED: dk_embed(c, n, out, in); break;
  case DN_OP_EMBED_BWD: dk_embed_bwd(c, n, out, in); break;
  case DN_OP_TRANSPOSE: dk_transpose(c, n, out, in); break;
  case DN_OP_SLICE: dk_slice(c, n, out, in); break;
  case DN_OP_UNSLICE: dk_unslice(c, n, out, in); break;
  case DN_OP_CONCAT: dk_concat(c, n, out, in); break;
  default: return 1;
  }
  return 0;
}

/* Whether node n is too small to thread (see DN_PAR_MIN_ELEMS in kernels.h). */
static int dk_serial(const dn_node *n) {
  if (n->op == DN_OP_CONV2D || n->op == DN_OP_CONV2D_BWD_DATA || n->op == DN_OP_CONV2D_BWD_W)
    return (double)dn_cg_flops(n) < DN_PAR_MIN_FLOP;
  int64_t most = dn_shape_count(n->shape);
  for (int i = 0; i < n->nin; i++)
    if (dn_shape_count(n->in[i]->shape) > most) most = dn_shape_count(n->in[i]->shape);
  return most < DN_PAR_MIN_ELEMS;
}

static int dk_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  switch (n->op) {
  case DN_OP_GEMM: return dn_kgemm_emit(c, ctx, n, out, in);
  case DN_OP_CONV2D:
  case DN_OP_CONV2D_BWD_DATA:
  case DN_OP_CONV2D_BWD_W: return dn_kconv_emit(c, ctx, n, out, in);
  default: break;
  }
  if (!dk_is_loop_op(n->op)) return 1;
  ctx->need |= DN_KNEED_BASE;
  dn_buf_printf(c, "{  /* %s */\n", dn_ops[n->op].name);
  dk_loops(c, ctx, n, out, in);
  dn_buf_printf(c, "}\n");
  return 0;
}

int dn_cg_kernel(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  int threads = ctx->threads, r;
  if (n->op != DN_OP_GEMM && !ctx->par_small && dk_serial(n)) ctx->threads = 1;  /* this kernel's loops only */
  r = dk_emit(c, ctx, n, out, in);
  ctx->threads = threads;
  return r;
}

const char *dn_cg_lit(const char *real, double v) {
  if (isnan(v)) return dn_fmt("((%s)NAN)", real);
  if (isinf(v)) return dn_fmt("(%s(%s)HUGE_VAL)", v < 0 ? "-" : "", real);
  return strcmp(real, "float") == 0 ? dn_fmt("%.9ef", v) : dn_fmt("%.17e", v);
}

void dn_cg_array_elems(dn_buf *c, const char *real, const float *v, int64_t n) {
  for (int64_t j = 0; j < n; j++) dn_buf_printf(c, "%s%s", j ? (j % 8 ? ", " : ",\n  ") : "\n  ", dn_cg_lit(real, v[j]));
}

void dn_cg_ivdep(dn_buf *c) {
  dn_buf_printf(c, "/* Marks loops without dependences between iterations that GCC's -O2 vectorizer would\n"
                   " * otherwise skip (it does not trust restrict on local pointers). */\n"
                   "#ifndef DN_IVDEP\n#if defined(__GNUC__) && !defined(__clang__)\n#define DN_IVDEP _Pragma(\"GCC ivdep\")\n"
                   "#else\n#define DN_IVDEP\n#endif\n#endif\n");
}

void dn_cg_helpers(dn_buf *c, const dn_cg_ctx *ctx) {
  if (!ctx->need) return;
  dn_buf_printf(c, "#include <math.h>\n#include <stdint.h>\n#include <string.h>\n");
  dn_cg_ivdep(c);
  if (ctx->need & DN_KNEED_POOL2) dn_buf_append(c, dk_pool2_text, sizeof dk_pool2_text - 1);
  dn_kgemm_helpers(c, ctx);
}
