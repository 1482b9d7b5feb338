/* test_kernels.c - the kernel emitters (codegen/kernels*.c) against naive references.
 *
 * Every case builds one node with the dn_ir_* builders on leaves holding random data,
 * computes the expected output with a direct definition written here (in double), and
 * asks dn_cg_kernel for its C. All cases of one configuration go into one C file, compiled
 * by the system cc into a shared object (-std=c99 -pedantic -Werror), loaded with dlopen
 * and run; every output element must match. Configurations: float portable (-O1), float and
 * double with -march=native and with AVX2+FMA (the intrinsic micro-kernels), float with OpenMP
 * threads, float with cblas_sgemm when OpenBLAS is installed. DNK_CFLAGS adds cc flags (sanitizers); DNK_KEEP keeps the generated files.
 */
#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "diag.h"
#include "ir.h"
#include "kernels.h"

static const dn_loc L0 = {NULL, 0, 0};

/* --- cases --------------------------------------------------------------------- */

typedef struct kcase {
  const char *name;  /* what it tests */
  dn_node *node;     /* the node to emit */
  double *ref;       /* expected output */
  double *scale;     /* GEMM: per element, the sum of |terms| (its rounding grows with it), or NULL */
  dn_node *bias;     /* CONV2D with a fused epilogue: its bias (an extra input) or NULL */
  int relu;          /* ... and whether it applies ReLU */
  dn_node *mask;     /* GEMM with a mask epilogue (ctx->epi_mask, float only): the mask */
  int in_place;      /* ... read from the output array itself (the emitter's usual case) */
} kcase;

#define MAXCASES 256
static kcase cases[MAXCASES];
static int ncases;
static dn_graph *G;
static uint64_t rng = 88172645463325252ull;

static double urand(void) {
  rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
  return (double)(rng >> 11) / 9007199254740992.0 * 2 - 1;
}

static double *data(const dn_node *n) { return n->aux; }
static int64_t count(const dn_node *n) { return dn_shape_count(n->shape); }

/* A leaf with random data: values in [-1, 1), quantized to quarters when q (ties), or
 * class labels in [-1, k] (both ends out of range) when k > 0. */
static dn_node *leaf(dn_shape s, int q, int64_t k) {
  dn_node *n = dn_node_add(G, DN_OP_INPUT, 0, NULL, s, L0);
  double *d = dn_alloc(sizeof(double) * (size_t)dn_shape_count(s));
  n->dtype = k > 0 ? DN_I32 : DN_F32;
  n->batched = 1;
  for (int64_t i = 0; i < dn_shape_count(s); i++) {
    d[i] = urand();
    if (q) d[i] = floor(d[i] * 4) / 4;
    if (k > 0) d[i] = floor((d[i] + 1) / 2 * (double)(k + 2)) - 1;
  }
  n->aux = d;
  return n;
}

static dn_node *F(int rank, ...) {
  va_list ap;
  int64_t d[DN_MAX_RANK];
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) d[i] = va_arg(ap, int);
  va_end(ap);
  return leaf(dn_shape_make(rank, d), 0, 0);
}

static dn_shape S(int rank, ...) {
  va_list ap;
  int64_t d[DN_MAX_RANK];
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) d[i] = va_arg(ap, int);
  va_end(ap);
  return dn_shape_make(rank, d);
}

static double *add_case(const char *name, dn_node *n) {
  ck_assert_int_lt(ncases, MAXCASES);
  cases[ncases].name = name;
  cases[ncases].node = n;
  cases[ncases].ref = dn_alloc(sizeof(double) * (size_t)count(n));
  cases[ncases].bias = NULL, cases[ncases].relu = 0, cases[ncases].scale = NULL;
  return cases[ncases++].ref;
}

static void unravel(int64_t i, dn_shape s, int64_t *mi) {
  for (int a = s.rank - 1; a >= 0; a--) mi[a] = i % s.dim[a], i /= s.dim[a];
}

static int64_t ravel(const int64_t *mi, dn_shape s) {
  int64_t i = 0;
  for (int a = 0; a < s.rank; a++) i = i * s.dim[a] + mi[a];
  return i;
}

/* --- GEMM ------------------------------------------------------------------------ */

static void gemm_case(const char *name, int64_t m, int64_t n, int64_t k, int ta, int tb, int64_t nb, int sum) {
  dn_gemm gm = {m, n, k, ta, tb, nb, m * k, k * n, sum ? 0 : m * n};
  if (strstr(name, "shared")) gm.sb = 0;  /* every product reads the same B */
  dn_node *a = F(1, (int)(nb * m * k)), *b = F(1, (int)(nb * k * n));
  dn_node *y = dn_ir_gemm(G, a, b, gm, S(2, (int)((sum ? 1 : nb) * m), (int)n), 1, L0);
  double *r = add_case(name, y), *A = data(a), *B = data(b), *sc = dn_alloc(sizeof(double) * (size_t)count(y));
  cases[ncases - 1].scale = sc;
  for (int64_t q = 0; q < nb; q++)
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        double s = 0, u = 0;
        for (int64_t p = 0; p < k; p++) {
          double t = A[q * gm.sa + (ta ? p * m + i : i * k + p)] * B[q * gm.sb + (tb ? j * k + p : p * n + j)];
          s += t, u += fabs(t);
        }
        r[(sum ? 0 : q * m * n) + i * n + j] += s;
        sc[(sum ? 0 : q * m * n) + i * n + j] += u;
      }
}

/* A product with the mask epilogue the emitter fuses into a classifier's data gradient
 * (ctx->epi_mask): y = (A @ B) * (mask > 0), the mask a separate array or the output array
 * itself; its values quarters, so some are exactly 0. */
static void gemm_mask_case(const char *name, int64_t m, int64_t n, int64_t k, int ta, int in_place) {
  gemm_case(name, m, n, k, ta, 0, 1, 0);
  kcase *kc = &cases[ncases - 1];
  kc->mask = leaf(kc->node->shape, 1, 0), kc->in_place = in_place;
  for (int64_t e = 0; e < count(kc->node); e++) kc->ref[e] *= data(kc->mask)[e] > 0 ? 1 : 0;
}

static void gemm_cases(void) {
  gemm_mask_case("gemm shallow masked (dy @ W, ReLU backward)", 64, 256, 10, 0, 0);
  gemm_mask_case("gemm shallow masked in place, column tail", 13, 45, 7, 0, 1);
  gemm_mask_case("gemm shallow masked in place ta", 20, 50, 12, 1, 1);
  gemm_case("gemm 1x1x1", 1, 1, 1, 0, 0, 1, 0);
  gemm_case("gemm 7x13x5", 7, 13, 5, 0, 0, 1, 0);
  gemm_case("gemm ta", 9, 17, 11, 1, 0, 1, 0);
  gemm_case("gemm tb", 9, 17, 11, 0, 1, 1, 0);
  gemm_case("gemm ta tb", 6, 16, 3, 1, 1, 1, 0);
  gemm_case("gemm big edges (computed as W @ x^T)", 101, 140, 300, 0, 1, 1, 0);
  gemm_case("gemm batched W @ x^T", 17, 230, 40, 0, 1, 2, 0);
  /* W (1.1 MB, more than the L2 cache) read in place with prefetches (dnk_micro_c's pf) */
  gemm_case("gemm W @ x^T, W streamed", 20, 1100, 256, 0, 1, 1, 0);
  /* 17 MFLOP: threaded, one column tile of x^T, a group of W's rows per thread */
  gemm_case("gemm W @ x^T rows per thread", 64, 303, 450, 0, 1, 1, 0);
  gemm_case("gemm wide (A packed once)", 10, 300, 20, 0, 0, 1, 0);
  /* A transposed, more rows than columns: computed as C^T = B^T @ A (B^T packed once) */
  gemm_case("gemm ta tall (C^T = B^T @ A)", 70, 20, 40, 1, 0, 1, 0);
  gemm_case("gemm ta tall, edges", 101, 13, 300, 1, 0, 1, 0);
  gemm_case("gemm ta tall, threaded tiles", 300, 64, 450, 1, 0, 1, 0);
  gemm_case("gemm wide ta tb", 7, 200, 30, 1, 1, 1, 0);
  gemm_case("gemm tall (rows split over threads)", 40, 70, 8, 0, 0, 1, 0);
  gemm_case("gemm batched", 5, 33, 7, 0, 0, 3, 0);
  gemm_case("gemm summed", 4, 9, 6, 1, 0, 4, 1);
  gemm_case("gemm vector", 1, 70, 40, 0, 1, 1, 0);
  gemm_case("gemm row axpy", 1, 600, 37, 0, 0, 1, 0);
  gemm_case("gemm shared B", 13, 20, 17, 0, 1, 3, 0);
  gemm_case("gemm shared B summed", 8, 7, 5, 1, 0, 3, 1);
  gemm_case("gemm few rows ta summed", 3, 20, 21, 1, 0, 2, 1);
  gemm_case("gemm few rows tb", 4, 9, 40, 0, 1, 2, 0);
  /* few columns, B^T stored: dot products (AVX-512), 4 x 5 blocks with repeated last rows and
   * columns, a masked K tail, accumulation over a summed batch */
  gemm_case("gemm narrow tb (dot products)", 64, 10, 256, 0, 1, 1, 0);
  gemm_case("gemm narrow tb, edges and K tail", 7, 13, 37, 0, 1, 1, 0);
  gemm_case("gemm narrow tb, one column", 9, 1, 32, 0, 1, 2, 0);
  gemm_case("gemm narrow tb summed", 6, 16, 50, 0, 1, 3, 1);
  /* a side of at most 12 in registers (dnk_reg_*, AVX-512 float): few rows of C over all of
   * K, or a depth of few rows of B streamed over the rows; full and masked column blocks */
  gemm_case("gemm few rows in registers (dy^T @ x)", 10, 256, 64, 1, 0, 1, 0);
  gemm_case("gemm few rows in registers, column tail", 12, 45, 33, 0, 0, 1, 0);
  gemm_case("gemm few rows in registers summed", 5, 40, 70, 1, 0, 3, 1);
  gemm_case("gemm shallow in registers (dy @ W)", 64, 256, 10, 0, 0, 1, 0);
  gemm_case("gemm shallow in registers ta summed", 20, 50, 7, 1, 0, 2, 1);
  gemm_case("gemm shallow in registers batched, short tail", 13, 17, 12, 0, 0, 2, 0);
  /* the tiled path with both M and K over 12: partial panels, K and column edges */
  gemm_case("gemm tiled edges", 19, 37, 23, 0, 0, 1, 0);
  gemm_case("gemm tiled edges ta", 17, 45, 29, 1, 0, 1, 0);
  gemm_case("gemm tiled summed", 14, 20, 15, 1, 0, 3, 1);
  /* A transposed over several column tiles of C: A packed once into the scratch area (M over
   * DNK_MC; K over DNK_KC with a partial block; a summed batch) */
  gemm_case("gemm ta prepacked, rows over a block", 100, 150, 40, 1, 0, 1, 0);
  gemm_case("gemm ta prepacked, deep", 20, 131, 300, 1, 0, 1, 0);
  gemm_case("gemm ta prepacked summed", 98, 133, 27, 1, 0, 2, 1);
  /* 16 MFLOP of few rows: with threads, the columns in blocks over them (dnk_gemm_small_par) */
  gemm_case("gemm few rows, threaded columns", 4, 2048, 1024, 0, 0, 1, 0);
}

/* --- convolutions ------------------------------------------------------------------ */

typedef struct cgeo {
  int n, c, h, w, f, kh, kw, sh, sw, ph, pw, dh, dw, g, pa;  /* pa: extra padding after */
  int one_d;
} cgeo;

static int out_size(int in, int k, int s, int p, int pa, int d) { return (in + p + pa - d * (k - 1) - 1) / s + 1; }

static dn_window cwin(const cgeo *q) {
  dn_window w = {q->kh, q->kw, q->sh, q->sw, q->ph, q->pw, q->dh, q->dw, q->g};
  return w;
}

/* Shapes [n, ch, h, w] (or [n, ch, w] for 1-D). */
static dn_shape cshape(const cgeo *q, int ch, int h, int w) {
  return q->one_d ? S(3, q->n, ch, w) : S(4, q->n, ch, h, w);
}

/* Visits every (n, f, oy, ox, c, ki, kj) term of the convolution; calls fn with offsets. */
typedef void (*term_fn)(double *r, const double *a, const double *b, int64_t xi, int64_t yi, int64_t wi);
static void conv_terms(const cgeo *q, double *r, const double *a, const double *b, term_fn fn) {
  int oh = out_size(q->h, q->kh, q->sh, q->ph, q->one_d ? 0 : q->pa, q->dh), ow = out_size(q->w, q->kw, q->sw, q->pw, q->pa, q->dw);
  int cg = q->c / q->g, fg = q->f / q->g;
  for (int n = 0; n < q->n; n++)
    for (int f = 0; f < q->f; f++)
      for (int oy = 0; oy < oh; oy++)
        for (int ox = 0; ox < ow; ox++)
          for (int c = 0; c < cg; c++)
            for (int ki = 0; ki < q->kh; ki++)
              for (int kj = 0; kj < q->kw; kj++) {
                int y = oy * q->sh - q->ph + ki * q->dh, x = ox * q->sw - q->pw + kj * q->dw, ch = f / fg * cg + c;
                if (y < 0 || y >= q->h || x < 0 || x >= q->w) continue;
                fn(r, a, b, (((int64_t)n * q->c + ch) * q->h + y) * q->w + x, (((int64_t)n * q->f + f) * oh + oy) * ow + ox,
                   (((int64_t)f * cg + c) * q->kh + ki) * q->kw + kj);
              }
}
static void t_fwd(double *r, const double *x, const double *w, int64_t xi, int64_t yi, int64_t wi) { r[yi] += x[xi] * w[wi]; }
static void t_bwd_data(double *r, const double *dy, const double *w, int64_t xi, int64_t yi, int64_t wi) {
  r[xi] += dy[yi] * w[wi];
}
static void t_bwd_w(double *r, const double *dy, const double *x, int64_t xi, int64_t yi, int64_t wi) {
  r[wi] += dy[yi] * x[xi];
}

static void conv_case(const char *name, cgeo q) {
  if (q.one_d) q.h = 1, q.kh = 1, q.sh = 1, q.ph = 0, q.dh = 1;
  int oh = out_size(q.h, q.kh, q.sh, q.ph, q.one_d ? 0 : q.pa, q.dh), ow = out_size(q.w, q.kw, q.sw, q.pw, q.pa, q.dw);
  dn_shape xs = cshape(&q, q.c, q.h, q.w), ys = cshape(&q, q.f, oh, ow);
  dn_shape ws = q.one_d ? S(3, q.f, q.c / q.g, q.kw) : S(4, q.f, q.c / q.g, q.kh, q.kw);
  dn_node *x = leaf(xs, 0, 0), *w = leaf(ws, 0, 0), *dy = leaf(ys, 0, 0);
  dn_node *y = dn_ir_conv(G, DN_OP_CONV2D, x, w, cwin(&q), ys, L0);
  conv_terms(&q, add_case(name, y), data(x), data(w), t_fwd);
  dn_node *dx = dn_ir_conv(G, DN_OP_CONV2D_BWD_DATA, dy, w, cwin(&q), xs, L0);
  conv_terms(&q, add_case(dn_fmt("%s bwd data", name), dx), data(dy), data(w), t_bwd_data);
  dn_node *dw = dn_ir_conv(G, DN_OP_CONV2D_BWD_W, dy, x, cwin(&q), ws, L0);
  conv_terms(&q, add_case(dn_fmt("%s bwd w", name), dw), data(dy), data(x), t_bwd_w);
}

/* A convolution with the epilogue the emitter fuses into it (ctx->epi_bias, epi_relu):
 * relu(conv + bias[f]), conv + bias[f] or relu(conv). */
static void conv_epi_case(const char *name, cgeo q, int with_bias, int relu) {
  if (q.one_d) q.h = 1, q.kh = 1, q.sh = 1, q.ph = 0, q.dh = 1;
  int oh = out_size(q.h, q.kh, q.sh, q.ph, q.one_d ? 0 : q.pa, q.dh), ow = out_size(q.w, q.kw, q.sw, q.pw, q.pa, q.dw);
  dn_shape ws = q.one_d ? S(3, q.f, q.c / q.g, q.kw) : S(4, q.f, q.c / q.g, q.kh, q.kw);
  dn_node *x = leaf(cshape(&q, q.c, q.h, q.w), 0, 0), *w = leaf(ws, 0, 0);
  dn_node *bias = with_bias ? leaf(q.one_d ? S(3, 1, q.f, 1) : S(4, 1, q.f, 1, 1), 0, 0) : NULL;
  dn_node *y = dn_ir_conv(G, DN_OP_CONV2D, x, w, cwin(&q), cshape(&q, q.f, oh, ow), L0);
  double *r = add_case(name, y);
  conv_terms(&q, r, data(x), data(w), t_fwd);
  cases[ncases - 1].bias = bias, cases[ncases - 1].relu = relu;
  for (int64_t e = 0; e < count(y); e++) {
    if (bias) r[e] += data(bias)[e / ((int64_t)oh * ow) % q.f];
    if (relu) r[e] = r[e] > 0 ? r[e] : 0;
  }
}

static void conv_cases(void) {
  /*                                        n  c  h   w  f kh kw sh sw ph pw dh dw g pa 1d */
  conv_epi_case("conv epilogue bias relu", (cgeo){2, 3, 10, 12, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1, 1);
  conv_epi_case("conv epilogue partial panel", (cgeo){2, 3, 9, 20, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1, 1);
  conv_epi_case("conv epilogue relu only, groups", (cgeo){2, 6, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 0}, 0, 1);
  conv_epi_case("conv epilogue bias relu, groups", (cgeo){2, 4, 8, 9, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0}, 1, 1);
  conv_epi_case("conv epilogue bias, groups, stride 2", (cgeo){2, 4, 9, 10, 6, 3, 2, 2, 2, 1, 0, 1, 1, 2, 0, 0}, 1, 0);
  conv_epi_case("conv epilogue 1-D", (cgeo){2, 3, 1, 40, 5, 1, 3, 1, 1, 0, 1, 1, 1, 1, 0, 1}, 1, 1);
  /*                                 n  c  h  w  f kh kw sh sw ph pw dh dw g pa 1d */
  conv_case("conv 3x3", (cgeo){2, 3, 7, 6, 4, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv same pad", (cgeo){2, 3, 8, 8, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0});
  conv_case("conv stride 2", (cgeo){1, 4, 9, 10, 6, 3, 2, 2, 2, 1, 0, 1, 1, 1, 0, 0});
  conv_case("conv dilation", (cgeo){2, 2, 9, 9, 3, 3, 3, 1, 2, 2, 1, 2, 3, 1, 0, 0});
  conv_case("conv groups", (cgeo){2, 6, 6, 7, 4, 3, 3, 1, 1, 1, 1, 1, 1, 2, 1, 0});
  conv_case("conv depthwise", (cgeo){3, 4, 5, 5, 4, 3, 3, 2, 2, 1, 1, 1, 1, 4, 0, 0});
  conv_case("conv 1x1", (cgeo){2, 5, 4, 6, 7, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv 1x1 few filters", (cgeo){2, 6, 4, 6, 2, 1, 1, 1, 1, 0, 0, 1, 1, 2, 0, 0});
  conv_case("conv 1x1 many filters", (cgeo){2, 5, 5, 6, 20, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv 1x1 stride 2", (cgeo){2, 5, 5, 6, 3, 1, 1, 2, 2, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv uncovered tail", (cgeo){1, 2, 8, 8, 3, 3, 3, 3, 3, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv big", (cgeo){2, 16, 12, 12, 24, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0});
  /* the direct kernel (AVX-512 float): output rows spanning vectors, filters not a multiple of 6 */
  conv_case("conv 5x5 valid", (cgeo){3, 6, 14, 14, 16, 5, 5, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv 5x5 pad 2", (cgeo){2, 1, 28, 20, 7, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0, 0});
  /* its weight gradient stacks samples: 3 + 1 here, and 7 + 2 in 1-D, where the short last
   * stack's rounded range reaches into the previous stack's third sample */
  conv_case("conv stacked", (cgeo){4, 2, 22, 22, 5, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv depthwise stride 1", (cgeo){2, 4, 9, 8, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4, 0, 0});
  conv_case("conv dilated stride 1", (cgeo){2, 3, 12, 11, 7, 3, 3, 1, 1, 2, 1, 2, 2, 1, 1, 0});
  conv_case("conv1d stacked", (cgeo){9, 2, 1, 203, 3, 1, 3, 1, 1, 0, 0, 1, 1, 1, 0, 1});
  /* output rows of 16 and 32 (the CIFAR CNN's widths), one sample and a stack of several,
   * 5 filters (a partial tile) */
  conv_case("conv rows of 32", (cgeo){2, 3, 9, 32, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0});
  conv_case("conv rows of 16 stacked", (cgeo){4, 2, 6, 18, 6, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  /* few input channels, rows of whole vectors, whole filter tiles: the weight gradient reads
   * dy in place (8 x 3 tiles: R = 27 and 25, the latter with a last tile of one column; 4 x 4
   * tiles for 4 filters a group) */
  conv_case("conv rows of 32, dy in place", (cgeo){3, 3, 5, 32, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0});
  conv_case("conv 5x5 rows of 16, dy in place", (cgeo){2, 1, 6, 16, 16, 5, 5, 1, 1, 2, 2, 1, 1, 1, 0, 0});
  conv_case("conv rows of 16 grouped, dy in place", (cgeo){2, 4, 4, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 2, 0, 0});
  /* Winograd F(2x2, 3x3) (AVX-512 float; 16 or more channels and filters, rows of 12 or
   * more): one sample (with threads, each phase split over them); odd channels and filters
   * (a partial panel) with odd output rows, padding before and after, the flipped data
   * gradient through it too; tile rows short of 8 (dropped columns), several tile blocks
   * with a partial last one; valid padding with odd output sizes */
  conv_epi_case("conv winograd one sample", (cgeo){1, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1, 1);
  conv_epi_case("conv winograd bias only", (cgeo){2, 24, 14, 30, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 1, 0);
  conv_case("conv winograd odd", (cgeo){3, 17, 13, 25, 19, 3, 3, 1, 1, 1, 0, 1, 1, 1, 1, 0});
  conv_case("conv winograd blocks", (cgeo){2, 32, 20, 32, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 0, 0});
  conv_case("conv winograd valid", (cgeo){1, 16, 15, 15, 16, 3, 3, 1, 1, 0, 0, 1, 1, 1, 0, 0});
  conv_case("conv1d", (cgeo){3, 3, 1, 11, 5, 1, 3, 1, 2, 0, 1, 1, 1, 1, 1, 1});
  conv_case("conv1d groups", (cgeo){2, 4, 1, 9, 6, 1, 2, 1, 1, 0, 1, 1, 2, 2, 0, 1});
}

/* --- pooling -------------------------------------------------------------------------- */

/* Max, sum pooling and their gradients; nan: every 11th input is NaN (max pooling: the
 * first NaN of a window is its max and takes the gradient, as in PyTorch). The max pooling
 * gradient also with a ReLU's mask (axis 1: only windows whose max is > 0). */
static void pool_case(const char *name, int planes, int h, int w, dn_window win, int pa, int one_d, int nan) {
  int oh = out_size(h, win.kh, win.sh, win.ph, pa, win.dh), ow = out_size(w, win.kw, win.sw, win.pw, pa, win.dw);
  if (one_d) oh = 1;
  int b = planes % 2 ? 1 : 2;  /* an odd count: one sample of `planes` channels */
  dn_shape xs = one_d ? S(3, b, planes / b, w) : S(4, b, planes / b, h, w);
  dn_shape ys = one_d ? S(3, b, planes / b, ow) : S(4, b, planes / b, oh, ow);
  dn_node *x = leaf(xs, 1, 0), *dy = leaf(ys, 0, 0), *xin[2] = {x, dy};
  dn_node *mp = dn_ir_pool(G, DN_OP_MAXPOOL2D, 1, &x, win, ys, L0);
  dn_node *mb = dn_ir_pool(G, DN_OP_MAXPOOL2D_BWD, 2, xin, win, xs, L0);
  dn_node *mr = dn_ir_pool(G, DN_OP_MAXPOOL2D_BWD, 2, xin, win, xs, L0);
  mr->axis = 1;
  dn_node *sp = dn_ir_pool(G, DN_OP_SUMPOOL2D, 1, &x, win, ys, L0);
  dn_node *sb = dn_ir_pool(G, DN_OP_SUMPOOL2D_BWD, 1, &dy, win, xs, L0);
  double *rmp = add_case(dn_fmt("%s maxpool", name), mp), *rmb = add_case(dn_fmt("%s maxpool bwd", name), mb);
  double *rsp = add_case(dn_fmt("%s sumpool", name), sp), *rsb = add_case(dn_fmt("%s sumpool bwd", name), sb);
  double *rmr = add_case(dn_fmt("%s maxpool bwd relu", name), mr);
  const double *X = data(x), *DY = data(dy);
  for (int64_t i = 3; nan && i < count(x); i += 11) data(x)[i] = NAN;
  for (int p = 0; p < planes; p++)
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        int64_t o = ((int64_t)p * oh + oy) * ow + ox, arg = -1;
        for (int i = 0; i < win.kh; i++)
          for (int j = 0; j < win.kw; j++) {
            int y = oy * win.sh - win.ph + i * win.dh, xx = ox * win.sw - win.pw + j * win.dw;
            if (y < 0 || y >= h || xx < 0 || xx >= w) continue;
            int64_t q = ((int64_t)p * h + y) * w + xx;
            if (arg < 0 || X[q] > X[arg] || (isnan(X[q]) && !isnan(X[arg]))) arg = q;
            rsp[o] += X[q];
            rsb[q] += DY[o];
          }
        rmp[o] = X[arg];
        rmb[arg] += DY[o];
        if (X[arg] > 0) rmr[arg] += DY[o];
      }
}

static void pool_cases(void) {
  pool_case("pool 2x2", 6, 8, 8, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 0);
  pool_case("pool 3x3 s2 pad overlap", 4, 9, 7, (dn_window){3, 3, 2, 2, 1, 1, 1, 1, 1}, 1, 0, 0);
  pool_case("pool 3x3 s2 pad overlap nan", 4, 9, 7, (dn_window){3, 3, 2, 2, 1, 1, 1, 1, 1}, 1, 0, 1);
  pool_case("pool 3x2 s1 dilated", 2, 7, 8, (dn_window){3, 2, 1, 1, 1, 0, 2, 2, 1}, 0, 0, 0);
  pool_case("pool odd tail", 2, 7, 7, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 0);
  /* rows of the AVX-512 2 x 2 kernel: 16 windows and a masked tail of 13; 2 x 16 + 1 with an
   * uncovered last row and column, and NaNs */
  pool_case("pool 2x2 wide", 4, 6, 58, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 0);
  pool_case("pool 2x2 wide odd nan", 2, 5, 67, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 1);
  /* rows of at most 8 windows tiling the input go two at a time: 5 wide (LeNet-5), with NaNs,
   * an odd number of rows (3 planes x 3: the last alone), and 8 wide */
  pool_case("pool 2x2 narrow pairs nan", 4, 10, 10, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 1);
  pool_case("pool 2x2 narrow odd rows", 3, 6, 10, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 0);
  pool_case("pool 2x2 narrow 8", 2, 4, 16, (dn_window){2, 2, 2, 2, 0, 0, 1, 1, 1}, 0, 0, 1);
  pool_case("pool1d", 6, 1, 11, (dn_window){1, 3, 1, 2, 0, 1, 1, 1, 1}, 1, 1, 0);
}

/* --- reductions, expand, normalizers ------------------------------------------------------- */

static void reduce_case(const char *name, dn_shape s, uint32_t axes) {
  dn_node *x = leaf(s, 1, 0);
  dn_node *rs = dn_ir_reduce(G, DN_OP_REDUCE_SUM, x, axes, L0), *rm = dn_ir_reduce(G, DN_OP_REDUCE_MAX, x, axes, L0);
  double *r1 = add_case(dn_fmt("%s sum", name), rs), *r2 = add_case(dn_fmt("%s max", name), rm);
  int64_t mi[DN_MAX_RANK];
  for (int64_t i = 0; i < count(rm); i++) r2[i] = -INFINITY;
  for (int64_t i = 0; i < count(x); i++) {
    unravel(i, s, mi);
    for (int a = 0; a < s.rank; a++)
      if (axes & (1u << a)) mi[a] = 0;
    int64_t o = ravel(mi, rs->shape);
    r1[o] += data(x)[i];
    r2[o] = fmax(r2[o], data(x)[i]);
  }
  dn_node *e = dn_ir_expand(G, rs, s, L0);
  double *re = add_case(dn_fmt("%s expand", name), e);
  for (int64_t i = 0; i < count(e); i++) {
    unravel(i, s, mi);
    for (int a = 0; a < s.rank; a++)
      if (axes & (1u << a)) mi[a] = 0;
    re[i] = r1[ravel(mi, rs->shape)];
  }
  rs->aux = r1;  /* the expand case reads the reduced values as its input */
}

static void softmax_case(const char *name, dn_shape s, int axis) {
  dn_node *x = leaf(s, 0, 0);
  for (int64_t i = 0; i < count(x); i++) data(x)[i] *= 30;  /* large logits: stability */
  dn_node *sm = dn_ir_axis_op(G, DN_OP_SOFTMAX, x, axis, L0), *ls = dn_ir_axis_op(G, DN_OP_LOG_SOFTMAX, x, axis, L0);
  dn_node *le = dn_ir_axis_op(G, DN_OP_LOGSUMEXP, x, axis, L0);
  double *r1 = add_case(dn_fmt("%s softmax", name), sm), *r2 = add_case(dn_fmt("%s log_softmax", name), ls);
  double *r3 = add_case(dn_fmt("%s logsumexp", name), le);
  int64_t mi[DN_MAX_RANK], len = s.dim[axis];
  for (int64_t i = 0; i < count(le); i++) {
    unravel(i, le->shape, mi);
    double m = -INFINITY, z = 0;
    for (mi[axis] = 0; mi[axis] < len; mi[axis]++) m = fmax(m, data(x)[ravel(mi, s)]);
    for (mi[axis] = 0; mi[axis] < len; mi[axis]++) z += exp(data(x)[ravel(mi, s)] - m);
    r3[i] = m + log(z);
    for (mi[axis] = 0; mi[axis] < len; mi[axis]++) {
      int64_t j = ravel(mi, s);
      r1[j] = exp(data(x)[j] - r3[i]);
      r2[j] = data(x)[j] - r3[i];
    }
  }
}

/* --- class indices ---------------------------------------------------------------------- */

static void class_cases(void) {
  dn_node *x = F(3, 2, 3, 7), *y = leaf(S(2, 2, 3), 0, 7);
  dn_node *p = dn_ir_pick(G, x, y, L0);
  double *r = add_case("pick", p);
  for (int i = 0; i < 6; i++) {
    int k = (int)data(y)[i];
    r[i] = k >= 0 && k < 7 ? data(x)[i * 7 + k] : 0;
  }
  dn_node *y2 = leaf(S(2, 3, 4), 0, 5), *oh = dn_ir_onehot(G, y2, 5, L0);
  r = add_case("onehot", oh);
  for (int i = 0; i < 12; i++)
    for (int k = 0; k < 5; k++) r[i * 5 + k] = data(y2)[i] == k;
  dn_node *w = F(2, 6, 5), *y3 = leaf(S(2, 4, 3), 0, 6), *e = dn_ir_embed(G, w, y3, L0);
  r = add_case("embed", e);
  for (int i = 0; i < 12; i++)
    for (int d = 0; d < 5; d++) {
      int k = (int)data(y3)[i];
      r[i * 5 + d] = k >= 0 && k < 6 ? data(w)[k * 5 + d] : 0;
    }
  dn_node *dy = F(3, 4, 3, 5), *eb = dn_ir_embed_bwd(G, dy, y3, S(2, 6, 5), L0);
  r = add_case("embed bwd", eb);
  for (int i = 0; i < 12; i++) {
    int k = (int)data(y3)[i];
    if (k >= 0 && k < 6)
      for (int d = 0; d < 5; d++) r[k * 5 + d] += data(dy)[i * 5 + d];
  }
}

/* --- layout ------------------------------------------------------------------------------- */

static void transpose_case(const char *name, dn_shape s, const int *perm) {
  dn_node *x = leaf(s, 0, 0), *t = dn_ir_transpose(G, x, perm, L0);
  double *r = add_case(name, t);
  int64_t mi[DN_MAX_RANK], mo[DN_MAX_RANK];
  for (int64_t i = 0; i < count(t); i++) {
    unravel(i, t->shape, mo);
    for (int a = 0; a < s.rank; a++) mi[perm[a]] = mo[a];
    r[i] = data(x)[ravel(mi, s)];
  }
}

static void slice_case(const char *name, dn_shape s, int axis, int start, int stop, int cls) {
  dn_node *x = leaf(s, 0, cls ? 9 : 0), *t = dn_ir_slice(G, x, axis, start, stop, L0);
  double *r = add_case(name, t);
  int64_t mi[DN_MAX_RANK];
  for (int64_t i = 0; i < count(t); i++) {
    unravel(i, t->shape, mi);
    mi[axis] += start;
    r[i] = data(x)[ravel(mi, s)];
  }
  if (cls) return;
  dn_node *u = dn_ir_unslice(G, t, axis, start, s, L0);
  double *ru = add_case(dn_fmt("%s unslice", name), u);
  t->aux = r;
  for (int64_t i = 0; i < count(u); i++) {
    unravel(i, s, mi);
    ru[i] = mi[axis] >= start && mi[axis] < stop ? data(x)[i] : 0;
  }
}

static void concat_case(const char *name, int axis) {
  dn_node *xs[3] = {F(3, 2, 3, 4), NULL, NULL};
  dn_shape s1 = xs[0]->shape, s2 = xs[0]->shape;
  s1.dim[axis] = 2, s2.dim[axis] = 1;
  xs[1] = leaf(s1, 0, 0), xs[2] = leaf(s2, 0, 0);
  dn_node *t = dn_ir_concat(G, 3, xs, axis, L0);
  double *r = add_case(name, t);
  int64_t mi[DN_MAX_RANK];
  for (int64_t i = 0; i < count(t); i++) {
    unravel(i, t->shape, mi);
    int k = 0;
    while (mi[axis] >= xs[k]->shape.dim[axis]) mi[axis] -= xs[k++]->shape.dim[axis];
    r[i] = data(xs[k])[ravel(mi, xs[k]->shape)];
  }
}

static void layout_cases(void) {
  transpose_case("transpose 2d", S(2, 5, 7), (int[]){1, 0});
  transpose_case("transpose 4d", S(4, 2, 3, 4, 5), (int[]){0, 2, 3, 1});
  transpose_case("transpose 3d rev", S(3, 3, 1, 6), (int[]){2, 1, 0});
  transpose_case("transpose ones", S(2, 1, 1), (int[]){1, 0});
  slice_case("slice axis 1", S(3, 2, 7, 3), 1, 2, 5, 0);
  slice_case("slice axis 0", S(2, 6, 4), 0, 1, 6, 0);
  slice_case("slice last", S(3, 2, 3, 8), 2, 3, 4, 0);
  slice_case("slice class", S(2, 4, 6), 1, 1, 3, 1);
  concat_case("concat axis 1", 1);
  concat_case("concat axis 2", 2);
  concat_case("concat axis 0", 0);
}

static void build_cases(void) {
  if (G) return;
  G = dn_graph_new("t", 2, DN_MODE_TRAIN);
  gemm_cases();
  conv_cases();
  pool_cases();
  reduce_case("reduce last", S(3, 2, 3, 5), 4u);
  reduce_case("reduce first", S(3, 4, 3, 5), 1u);
  reduce_case("reduce middle", S(4, 2, 3, 4, 5), 2u | 4u);
  reduce_case("reduce mixed", S(4, 2, 3, 4, 5), 1u | 4u);
  reduce_case("reduce all", S(3, 3, 4, 2), 7u);
  reduce_case("reduce ones", S(2, 1, 1), 2u);
  reduce_case("reduce big (per-thread chunks)", S(3, 70, 6, 100), 1u | 4u);
  softmax_case("sm single", S(2, 3, 1), 1);
  softmax_case("sm last", S(2, 4, 9), 1);
  softmax_case("sm middle", S(3, 2, 5, 3), 1);
  softmax_case("sm first", S(2, 6, 4), 0);
  class_cases();
  layout_cases();
}

/* --- compile and run --------------------------------------------------------------------- */

typedef void (*kfn)(void *out, void *const *in);

typedef struct config {
  const char *real;   /* element type */
  const char *flags;  /* cc flags */
  int threads;        /* ctx->threads */
  int blas;           /* ctx->blas */
} config;

static const char *cexpr(const dn_cg_ctx *ctx, const dn_node *n, int i, int is_out) {
  const char *t = n->dtype == DN_I32 ? "int32_t" : ctx->real;
  return is_out ? dn_fmt("((%s *)dk_out)", t) : dn_fmt("((const %s *)dk_in[%d])", t, i);
}

/* Writes all kernels of one configuration to a C file and loads it; returns the handle. */
static void *build(const config *cf, char *dir) {
  /* par_small: the cases are small; their threaded loops are what the OpenMP config tests */
  dn_cg_ctx ctx = {.real = cf->real, .prefix = "t", .blas = cf->blas, .threads = cf->threads, .opt_level = 2,
                   .scratch = "dk_scratch", .par_small = 1};
  dn_buf body = {0}, file = {0};
  for (int i = 0; i < ncases; i++) {
    const dn_node *n = cases[i].node;
    const char *in[8];
    for (int j = 0; j < n->nin; j++) in[j] = cexpr(&ctx, n->in[j], j, 0);
    dn_buf_printf(&body, "void k%d(void *dk_out, void *const *dk_in) {\n", i);
    if (cases[i].mask) {  /* float only (run_case skips it in double); the portable path's
                           * product goes to the scratch area */
      ck_assert_int_eq(dn_cg_gemm_mask_ok(&ctx, n), strcmp(cf->real, "float") == 0);
      if (!dn_cg_gemm_mask_ok(&ctx, n)) {
        dn_buf_printf(&body, "  (void)dk_out; (void)dk_in;\n}\n");
        continue;
      }
      size_t tmp = sizeof(float) * (size_t)count(n);
      if (ctx.scratch_bytes < tmp) ctx.scratch_bytes = tmp;
      ctx.epi_mask = cases[i].in_place ? cexpr(&ctx, n, 0, 1) : cexpr(&ctx, cases[i].mask, n->nin, 0);
      ctx.epi_tmp = "((float *)dk_scratch)";
    }
    ctx.epi_bias = cases[i].bias ? cexpr(&ctx, cases[i].bias, n->nin, 0) : NULL, ctx.epi_relu = cases[i].relu;
    ck_assert_msg(dn_cg_kernel(&body, &ctx, n, cexpr(&ctx, n, 0, 1), in) == 0, "%s: not emitted", cases[i].name);
    ctx.epi_bias = NULL, ctx.epi_relu = 0, ctx.epi_mask = ctx.epi_tmp = NULL;
    dn_buf_printf(&body, "  (void)dk_in;\n}\n");
  }
  dn_buf_printf(&file, "#include <stdint.h>\n");
  dn_cg_helpers(&file, &ctx);
  for (int i = 0; i < ncases; i++) dn_buf_printf(&file, "void k%d(void *dk_out, void *const *dk_in);\n", i);
  /* the kernels' scratch area, as the emitter puts it at the end of the state */
  dn_buf_printf(&file, "static union { double d; char b[%zu]; } dk_scratch_u;\n#define dk_scratch (dk_scratch_u.b)\n",
                ctx.scratch_bytes + 64);
  dn_buf_append(&file, body.s, body.n);
  /* the Winograd cases took that path (it runs where the C compiler targets AVX-512) */
  if (strcmp(cf->real, "float") == 0) ck_assert_ptr_nonnull(strstr(file.s, "dnk_wino("));
  char *src = dn_fmt("%s/k.c", dir), *so = dn_fmt("%s/k.so", dir);
  FILE *f = fopen(src, "w");
  ck_assert_ptr_nonnull(f);
  fwrite(file.s, 1, file.n, f);
  fclose(f);
  const char *extra = getenv("DNK_CFLAGS");  /* e.g. sanitizers, when the test itself is built with them */
  char *cmd = dn_fmt("cc -std=c99 -Wall -Wextra -pedantic -Wvla -Werror -shared -fPIC -o %s %s %s %s -lm", so, src, cf->flags,
                     extra ? extra : "");
  ck_assert_msg(system(cmd) == 0, "compile failed: %s", cmd);
  void *h = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  ck_assert_msg(h != NULL, "dlopen: %s", dlerror());
  dn_buf_free(&body);
  dn_buf_free(&file);
  return h;
}

/* Converts data to the element type: f32 nodes to real, class nodes to int32. */
static void *to_c(const dn_node *n, int dbl) {
  int64_t k = count(n);
  if (n->dtype == DN_I32) {
    int32_t *p = malloc(sizeof *p * (size_t)k);
    for (int64_t i = 0; i < k; i++) p[i] = (int32_t)data(n)[i];
    return p;
  }
  if (dbl) {
    double *p = malloc(sizeof *p * (size_t)k);
    memcpy(p, data(n), sizeof *p * (size_t)k);
    return p;
  }
  float *p = malloc(sizeof *p * (size_t)k);
  for (int64_t i = 0; i < k; i++) p[i] = (float)data(n)[i];
  return p;
}

static double at(const dn_node *n, const void *p, int64_t i, int dbl) {
  if (n->dtype == DN_I32) return ((const int32_t *)p)[i];
  return dbl ? ((const double *)p)[i] : ((const float *)p)[i];
}

static void run_case(void *h, int i, int dbl) {
  const kcase *kc = &cases[i];
  const dn_node *n = kc->node;
  kfn fn;
  void *in[8];
  *(void **)&fn = dlsym(h, dn_fmt("k%d", i));
  ck_assert_ptr_nonnull(*(void **)&fn);
  ck_assert_int_lt(n->nin, 8);  /* in[] holds the inputs and the epilogue's bias or mask */
  if (kc->mask && dbl) return;
  for (int j = 0; j < n->nin; j++) in[j] = to_c(n->in[j], dbl);
  in[n->nin] = kc->bias ? to_c(kc->bias, dbl) : kc->mask ? to_c(kc->mask, dbl) : NULL;
  size_t esz = n->dtype == DN_I32 ? 4 : dbl ? 8 : 4;
  void *out = malloc(esz * (size_t)count(n));
  memset(out, 0x7f, esz * (size_t)count(n));  /* huge values / NaN: every element must be written */
  if (kc->mask && kc->in_place) memcpy(out, in[n->nin], esz * (size_t)count(n));
  fn(out, in);
  double tol = dbl ? 1e-10 : 2e-5;
  for (int64_t e = 0; e < count(n); e++) {
    double got = at(n, out, e, dbl), want = kc->ref[e];
    double mag = kc->scale ? kc->scale[e] : fabs(want);  /* a sum rounds in proportion to its terms */
    ck_assert_msg(isnan(want) ? isnan(got) : fabs(got - want) <= tol * (1 + mag), "%s [%s]: element %lld = %.9g, want %.9g",
                  kc->name, dbl ? "double" : "float", (long long)e, got, want);
  }
  for (int j = 0; j <= n->nin; j++) free(in[j]);
  free(out);
}

static void run_config(const config *cf) {
  char dir[] = "/tmp/dnk_testXXXXXX";
  build_cases();
  ck_assert_ptr_nonnull(mkdtemp(dir));
  void *h = build(cf, dir);
  for (int i = 0; i < ncases; i++) run_case(h, i, strcmp(cf->real, "double") == 0);
  if (cf->threads <= 1) dlclose(h);  /* unloading libgomp under its idle workers would crash */
  if (!getenv("DNK_KEEP")) {
    unlink(dn_fmt("%s/k.c", dir));
    unlink(dn_fmt("%s/k.so", dir));
    rmdir(dir);
  }
}

START_TEST(test_float_portable) { run_config(&(config){"float", "-O1", 1, 0}); }
END_TEST

START_TEST(test_float_native) { run_config(&(config){"float", "-O2 -march=native", 1, 0}); }
END_TEST

START_TEST(test_float_avx2) { run_config(&(config){"float", "-O1 -mavx2 -mfma", 1, 0}); }
END_TEST

START_TEST(test_double_avx2) { run_config(&(config){"double", "-O1 -mavx2 -mfma", 1, 0}); }
END_TEST

START_TEST(test_double_native) { run_config(&(config){"double", "-O2 -march=native", 1, 0}); }
END_TEST

START_TEST(test_float_openmp) { run_config(&(config){"float", "-O1 -fopenmp", 3, 0}); }
END_TEST

/* the AVX-512 kernels with threads (one sample: the direct and Winograd convolutions split
 * inside it) */
START_TEST(test_float_native_openmp) { run_config(&(config){"float", "-O2 -march=native -fopenmp", 2, 0}); }
END_TEST

#ifdef DNNCC_CBLAS_INCLUDE
START_TEST(test_float_blas) {
  run_config(&(config){"float", dn_fmt("-O1 -I%s -lopenblas", DNNCC_CBLAS_INCLUDE), 1, 1});
}
END_TEST

/* the same for this CPU: on AVX-512 the small products stay dnncc's (dots, dnk_reg_*) */
START_TEST(test_float_blas_native) {
  run_config(&(config){"float", dn_fmt("-O2 -march=native -I%s -lopenblas", DNNCC_CBLAS_INCLUDE), 1, 1});
}
END_TEST
#endif

/* Ops that are not kernels are refused with 1 and print nothing. */
START_TEST(test_not_mine) {
  dn_graph *g = dn_graph_new("t", 1, DN_MODE_INFER);
  dn_node *x = dn_node_add(g, DN_OP_INPUT, 0, NULL, S(1, 4), L0), *r = dn_ir_unary(g, DN_OP_RELU, x, L0);
  dn_cg_ctx ctx = {.real = "float", .prefix = "t", .threads = 1, .opt_level = 2, .scratch = "dk_scratch"};
  dn_buf b = {0};
  const char *in[1] = {"x"};
  ck_assert_int_eq(dn_cg_kernel(&b, &ctx, r, "o", in), 1);
  ck_assert_int_eq(dn_cg_kernel(&b, &ctx, x, "o", in), 1);
  ck_assert_uint_eq(b.n, 0);
}
END_TEST

/* With threads, a kernel is threaded only from DN_PAR_MIN_ELEMS elements (pooling) or
 * DN_PAR_MIN_FLOP (convolutions): the pooling of one small sample and a 0.2 MFLOP
 * convolution print no OpenMP loop, their batch-64 versions do, and par_small threads all. */
static int omp_loops(dn_node *n, int par_small) {
  dn_cg_ctx ctx = {.real = "float", .prefix = "t", .threads = 2, .opt_level = 2, .scratch = "dk_scratch",
                   .par_small = par_small};
  dn_buf b = {0};
  const char *in[2] = {"a", "b"};
  ck_assert_int_eq(dn_cg_kernel(&b, &ctx, n, "o", in), 0);
  ck_assert_int_eq(ctx.threads, 2);
  int k = 0;
  for (const char *p = b.s; (p = strstr(p, "#pragma omp parallel")) != NULL; p++) k++;
  free(b.s);
  return k;
}

START_TEST(test_par_min) {
  dn_graph *g = dn_graph_new("t", 1, DN_MODE_INFER);
  dn_window win = {2, 2, 2, 2, 0, 0, 1, 1, 1};
  dn_node *x1 = dn_node_add(g, DN_OP_INPUT, 0, NULL, S(4, 1, 6, 28, 28), L0);
  dn_node *x64 = dn_node_add(g, DN_OP_INPUT, 0, NULL, S(4, 64, 6, 28, 28), L0);
  dn_node *p1 = dn_ir_pool(g, DN_OP_MAXPOOL2D, 1, &x1, win, S(4, 1, 6, 14, 14), L0);
  dn_node *p64 = dn_ir_pool(g, DN_OP_MAXPOOL2D, 1, &x64, win, S(4, 64, 6, 14, 14), L0);
  ck_assert_int_eq(omp_loops(p1, 0), 0);
  ck_assert_int_gt(omp_loops(p1, 1), 0);
  ck_assert_int_gt(omp_loops(p64, 0), 0);
  dn_window cw = {5, 5, 1, 1, 2, 2, 1, 1, 1};
  dn_node *w = dn_node_add(g, DN_OP_INPUT, 0, NULL, S(4, 6, 6, 5, 5), L0);
  dn_node *c1 = dn_ir_conv(g, DN_OP_CONV2D, x1, w, cw, S(4, 1, 6, 28, 28), L0);
  dn_node *c64 = dn_ir_conv(g, DN_OP_CONV2D, x64, w, cw, S(4, 64, 6, 28, 28), L0);
  ck_assert_int_eq(omp_loops(c1, 0), 0);
  ck_assert_int_gt(omp_loops(c64, 0), 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("kernels");
  TCase *tc = tcase_create("kernels");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_not_mine);
  tcase_add_test(tc, test_par_min);
  tcase_add_test(tc, test_float_portable);
  tcase_add_test(tc, test_float_native);
  tcase_add_test(tc, test_double_native);
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    tcase_add_test(tc, test_float_avx2);
    tcase_add_test(tc, test_double_avx2);
  }
  tcase_add_test(tc, test_float_openmp);
  tcase_add_test(tc, test_float_native_openmp);
#ifdef DNNCC_CBLAS_INCLUDE
  if (access(DNNCC_CBLAS_INCLUDE "/cblas.h", R_OK) == 0) {
    tcase_add_test(tc, test_float_blas);
    tcase_add_test(tc, test_float_blas_native);
  }
#endif
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
