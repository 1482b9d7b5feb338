/* kernels_gemm.c - matrix products and convolutions (dn_kgemm_emit, dn_kconv_emit).
 *
 * Everything goes through one printed helper, dnk_gemm: a Goto-style GEMM that walks C in
 * column blocks (DNK_NC), depth blocks (DNK_KC) and row blocks (DNK_MC), packs A into
 * DNK_MR-row panels and B into DNK_NR-column panels on the stack, and runs a register-blocked
 * DNK_MR x DNK_NR micro-kernel (AVX-512 or AVX2+FMA intrinsics when the C compiler targets
 * them, plain loops otherwise). Operand views make the convolutions scratch-free (im2col is
 * packed from x row by row, in runs along output rows, never materialized):
 *   conv2d        y_n,g = W_g [Fg, R] @ im2col(x_n,g) [R, OH*OW]          (B packed from x)
 *   conv bwd data dx_n,g += col2im(W_g^T [R, Fg] @ dy_n,g [Fg, OH*OW])    (C scattered)
 *   conv bwd w    dw_g = sum_n dy_n,g [Fg, OH*OW] @ im2col(x_n,g)^T       (B packed from x)
 * with R = C/g * kh * kw. 1x1 stride-1 unpadded convolutions use dense views (plain GEMM).
 * With ctx->blas (float), plain GEMM nodes call cblas_sgemm instead.
 *
 * Float code compiled for AVX-512 runs stride-1 convolutions through direct kernels instead
 * (dnk_dconv, dnk_wg*; the GEMM path stays in the file behind #else): the input is copied
 * into a zero-padded buffer and read at one offset per im2col row over the "wide" output
 * grid, so neither operand is packed per sample (docs/architecture.md, Kernels).
 */
#include <string.h>

#include "kernels_int.h"

/* --- the printed helper ------------------------------------------------------- */

enum { DNK_MC_E = 96, DNK_KC_E = 256, DNK_NC_E = 128 }; /* DNK_MC, DNK_KC, DNK_NC of the printed helper */

/* Elements dnk_pack_a_all writes for an M x K matrix. */
static long long dnk_pack_all_size(long long m, long long k) {
  return ((m + DNK_MC_E - 1) / DNK_MC_E) * ((k + DNK_KC_E - 1) / DNK_KC_E) * DNK_MC_E * (k < DNK_KC_E ? k : DNK_KC_E);
}

long long dn_kscratch_bytes(const dn_cg_ctx *ctx, long long elems) {
  size_t esz = strcmp(ctx->real, "double") == 0 ? 8 : 4;
  return (long long)((((size_t)elems * esz) + 63) & ~(size_t)63);
}

void dn_kneed_scratch(dn_cg_ctx *ctx, long long bytes) {
  if ((size_t)bytes > ctx->scratch_bytes) ctx->scratch_bytes = (size_t)bytes;
  if (!ctx->scratch) dn_die("kernels: no scratch area");
}

static const char dnk_views_text[] =
  "#define DNK_MR 6\n"
  "#define DNK_KC 256\n"
  "#define DNK_PF_BYTES (1024.0 * 1024)\n"
  "#define DNK_MC 96\n"
  "#define DNK_NC 128\n"
  "/* Geometry of an implicit im2col matrix: rows (c, ki, kj), columns (oy, ox). */\n"

  "typedef struct dnk_geom { long c, h, w, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow; } dnk_geom;\n"
  "/* GEMM operand: kind 0 dense p[r * rs + c * cs]; 1 im2col of p; 2 its transpose (B only). */\n"
  "typedef struct dnk_view { const dnk_real *p; long rs, cs; int kind; dnk_geom g; } dnk_view;\n"
  "/* GEMM result: kind 0 dense p[r * ld + c * cs]; 1 col2im scatter-add into p. */\n"
  "typedef struct dnk_outv { dnk_real *p; long ld, cs; int kind; dnk_geom g; } dnk_outv;\n"
  "static inline dnk_geom dnk_geo(long c, long h, long w, long kh, long kw, long sh, long sw,\n"
  "                               long ph, long pw, long dh, long dw, long oh, long ow) {\n"
  "  dnk_geom g;\n"
  "  g.c = c; g.h = h; g.w = w; g.kh = kh; g.kw = kw; g.sh = sh; g.sw = sw;\n"
  "  g.ph = ph; g.pw = pw; g.dh = dh; g.dw = dw; g.oh = oh; g.ow = ow;\n"
  "  return g;\n"
  "}\n"
  "DNK_MAYBE_UNUSED static inline dnk_view dnk_dense(const dnk_real *p, long rs, long cs) {\n"
  "  dnk_view v;\n"
  "  v.p = p; v.rs = rs; v.cs = cs; v.kind = 0; v.g = dnk_geo(1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1);\n"
  "  return v;\n"
  "}\n"
  "DNK_MAYBE_UNUSED static inline dnk_view dnk_conv(const dnk_real *p, int kind, dnk_geom g) {\n"
  "  dnk_view v;\n"
  "  v.p = p; v.rs = 0; v.cs = 0; v.kind = kind; v.g = g;\n"
  "  return v;\n"
  "}\n"
  "DNK_MAYBE_UNUSED static inline dnk_outv dnk_out(dnk_real *p, long ld, long cs) {\n"
  "  dnk_outv o;\n"
  "  o.p = p; o.ld = ld; o.cs = cs; o.kind = 0; o.g = dnk_geo(1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 1);\n"
  "  return o;\n"
  "}\n"
  "DNK_MAYBE_UNUSED static inline dnk_outv dnk_col2im(dnk_real *p, dnk_geom g) {\n"
  "  dnk_outv o;\n"
  "  o.p = p; o.ld = 0; o.cs = 0; o.kind = 1; o.g = g;\n"
  "  return o;\n"
  "}\n"
  "/* Column range [klo, khi) of a run of n output positions starting at input x0 (stride sw)\n"
  " * whose input x lies in [0, w). */\n"
  "static inline void dnk_valid(long x0, long sw, long w, long n, long *klo, long *khi) {\n"
  "  long lo = x0 >= 0 ? 0 : sw == 1 ? -x0 : (-x0 + sw - 1) / sw;\n"
  "  long hi = w - x0 <= 0 ? 0 : sw == 1 ? w - x0 : (w - x0 + sw - 1) / sw;\n"
  "  *klo = lo < n ? lo : n;\n"
  "  *khi = hi < n ? (hi > *klo ? hi : *klo) : n;\n"
  "}\n"
  "/* d[k * ds] = im2col(r, j0 + k) for k < n: row r = (c, ki, kj), column = (oy, ox); padding\n"
  " * reads 0. Walks output rows as runs so the inner copy is a strided (often unit) load. */\n"
  "static inline void dnk_im2col_row(const dnk_view *v, long r, long j0, long n, dnk_real *restrict d, long ds) {\n"
  "  const dnk_geom *g = &v->g;\n"
  "  long kk = g->kh * g->kw, c = r / kk, ki = (r % kk) / g->kw, kj = r % g->kw;\n"
  "  long oy = j0 / g->ow, ox = j0 % g->ow, j = 0, k;\n"
  "  const dnk_real *s = v->p + c * g->h * g->w;\n"
  "  while (j < n) {\n"
  "    long run = g->ow - ox < n - j ? g->ow - ox : n - j, y = oy * g->sh - g->ph + ki * g->dh;\n"
  "    long x0 = ox * g->sw - g->pw + kj * g->dw, klo = 0, khi = 0;\n"
  "    dnk_real *restrict o = d + j * ds;\n"
  "    if (y >= 0 && y < g->h) dnk_valid(x0, g->sw, g->w, run, &klo, &khi);\n"
  "    for (k = 0; k < klo; ++k) o[k * ds] = 0;\n"
  "    if (ds == 1 && g->sw == 1) {\n"
  "      const dnk_real *row = s + y * g->w + x0;\n"
  "      for (k = klo; k < khi; ++k) o[k] = row[k];\n"
  "    } else {\n"
  "      for (k = klo; k < khi; ++k) o[k * ds] = s[y * g->w + x0 + k * g->sw];\n"
  "    }\n"
  "    for (k = khi; k < run; ++k) o[k * ds] = 0;\n"
  "    j += run, ox = 0, ++oy;\n"
  "  }\n"
  "}\n"
  "/* p[col2im(r, j0 + k)] += t[k] for k < n (positions in the padding are dropped). */\n"
  "static inline void dnk_col2im_row(const dnk_outv *v, long r, long j0, long n, const dnk_real *restrict t) {\n"
  "  const dnk_geom *g = &v->g;\n"
  "  long kk = g->kh * g->kw, c = r / kk, ki = (r % kk) / g->kw, kj = r % g->kw;\n"
  "  long oy = j0 / g->ow, ox = j0 % g->ow, j = 0, k;\n"
  "  dnk_real *s = v->p + c * g->h * g->w;\n"
  "  while (j < n) {\n"
  "    long run = g->ow - ox < n - j ? g->ow - ox : n - j, y = oy * g->sh - g->ph + ki * g->dh;\n"
  "    long x0 = ox * g->sw - g->pw + kj * g->dw, klo = 0, khi = 0;\n"
  "    if (y >= 0 && y < g->h) dnk_valid(x0, g->sw, g->w, run, &klo, &khi);\n"
  "    for (k = klo; k < khi; ++k) s[y * g->w + x0 + k * g->sw] += t[j + k];\n"
  "    j += run, ox = 0, ++oy;\n"
  "  }\n"
  "}\n";

static const char dnk_pack_text[] =
  "/* Packs A[ic.., pc..] (mc x kc) into DNK_MR-row panels, zero-padded. */\n"
  "static inline void dnk_pack_a(const dnk_view *A, dnk_real *restrict d, long ic, long pc, long mc, long kc) {\n"
  "  long i0, i, p;\n"
  "  for (i0 = 0; i0 < mc; i0 += DNK_MR) {\n"
  "    long mr = mc - i0 < DNK_MR ? mc - i0 : DNK_MR;\n"
  "    dnk_real *restrict q = d + i0 * kc;\n"
  "    if (A->kind == 0 && mr == DNK_MR && (A->cs == 1 || A->rs == 1)) {  /* a full panel: one pass, K outer */\n"
  "      const dnk_real *s = A->p + (ic + i0) * A->rs + pc * A->cs;\n"
  "      if (A->cs == 1)\n"
  "        for (p = 0; p < kc; ++p)\n"
  "          for (i = 0; i < DNK_MR; ++i) q[p * DNK_MR + i] = s[i * A->rs + p];\n"
  "      else  /* rows of A^T: six contiguous values per p (written out: as a loop GCC calls memcpy) */\n"
  "        for (p = 0; p < kc; ++p) {\n"
  "          const dnk_real *t = s + p * A->cs;\n"
  "          dnk_real *o = q + p * DNK_MR;\n"
  "          o[0] = t[0], o[1] = t[1], o[2] = t[2], o[3] = t[3], o[4] = t[4], o[5] = t[5];\n"
  "        }\n"
  "    } else if (A->kind == 0) {  /* the last, partial panel, or both strides above 1 */\n"
  "      const dnk_real *s = A->p + (ic + i0) * A->rs + pc * A->cs;\n"
  "      for (p = 0; p < kc; ++p) {\n"
  "        for (i = 0; i < mr; ++i) q[p * DNK_MR + i] = s[i * A->rs + p * A->cs];\n"
  "        for (; i < DNK_MR; ++i) q[p * DNK_MR + i] = 0;\n"
  "      }\n"
  "    } else {\n"
  "      for (i = 0; i < DNK_MR; ++i)\n"
  "        if (i < mr) dnk_im2col_row(A, ic + i0 + i, pc, kc, q + i, DNK_MR);\n"
  "        else for (p = 0; p < kc; ++p) q[p * DNK_MR + i] = 0;\n"
  "    }\n"
  "  }\n"
  "}\n"
  "/* Writes n values of src (zeros when src is NULL) to columns col.. of row p of the\n"
  " * DNK_NR-column panels at d (panel stride DNK_NR * kc). */\n"
  "static inline void dnk_panel_put(dnk_real *restrict d, long kc, long p, long col, const dnk_real *src, long n) {\n"
  "  while (n > 0) {\n"
  "    long lane = col % DNK_NR, m = DNK_NR - lane < n ? DNK_NR - lane : n, i;\n"
  "    dnk_real *restrict o = d + (col / DNK_NR) * DNK_NR * kc + p * DNK_NR + lane;\n"
  "    if (src) { for (i = 0; i < m; ++i) o[i] = src[i]; src += m; }\n"
  "    else for (i = 0; i < m; ++i) o[i] = 0;\n"
  "    col += m, n -= m;\n"
  "  }\n"
  "}\n"
  "/* Packs the implicit im2col matrix B[pc.., jc..] (kc x nc) into panels: per im2col row,\n"
  " * one walk over the nc columns as runs along output rows (unit-stride copies when the\n"
  " * convolution's stride is 1), instead of one call per panel. */\n"
  "static void dnk_pack_b_im2col(const dnk_view *B, dnk_real *restrict d, long pc, long jc, long kc, long nc) {\n"
  "  const dnk_geom *g = &B->g;\n"
  "  long kk = g->kh * g->kw, p, pad = (nc + DNK_NR - 1) / DNK_NR * DNK_NR;\n"
  "  for (p = 0; p < kc; ++p) {\n"
  "    long r = pc + p, c = r / kk, ki = (r % kk) / g->kw, kj = r % g->kw;\n"
  "    long oy = jc / g->ow, ox = jc % g->ow, done = 0;\n"
  "    const dnk_real *s = B->p + c * g->h * g->w;\n"
  "    while (done < nc) {\n"
  "      long run = g->ow - ox < nc - done ? g->ow - ox : nc - done, y = oy * g->sh - g->ph + ki * g->dh;\n"
  "      long x0 = ox * g->sw - g->pw + kj * g->dw, klo = 0, khi = 0, k;\n"
  "      if (y >= 0 && y < g->h) dnk_valid(x0, g->sw, g->w, run, &klo, &khi);\n"
  "      if (klo > 0) dnk_panel_put(d, kc, p, done, NULL, klo);\n"
  "      if (g->sw == 1) {\n"
  "        if (khi > klo) dnk_panel_put(d, kc, p, done + klo, s + y * g->w + x0 + klo, khi - klo);\n"
  "      } else {\n"
  "        for (k = klo; k < khi; ++k) {\n"
  "          long col = done + k;\n"
  "          d[(col / DNK_NR) * DNK_NR * kc + p * DNK_NR + col % DNK_NR] = s[y * g->w + x0 + k * g->sw];\n"
  "        }\n"
  "      }\n"
  "      if (run > khi) dnk_panel_put(d, kc, p, done + khi, NULL, run - khi);\n"
  "      done += run, ox = 0, ++oy;\n"
  "    }\n"
  "    if (pad > nc) dnk_panel_put(d, kc, p, nc, NULL, pad - nc);\n"
  "  }\n"
  "}\n"
  "#if defined(__AVX512F__) && defined(DNK_F32)\n"
  "/* 16 x 16 transpose in registers: r[i] becomes column i. */\n"
  "static inline void dnk_tr16(__m512 *r) {\n"
  "  __m512 t[16];\n"
  "  int i, m;\n"
  "  for (i = 0; i < 8; ++i) {\n"
  "    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);\n"
  "    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);\n"
  "  }\n"
  "  for (i = 0; i < 4; ++i) {\n"
  "    r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);\n"
  "    r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);\n"
  "    r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);\n"
  "    r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);\n"
  "  }\n"
  "  for (i = 0; i < 2; ++i)\n"
  "    for (m = 0; m < 4; ++m) {\n"
  "      t[8 * i + m] = _mm512_shuffle_f32x4(r[8 * i + m], r[8 * i + 4 + m], 0x88);\n"
  "      t[8 * i + 4 + m] = _mm512_shuffle_f32x4(r[8 * i + m], r[8 * i + 4 + m], 0xDD);\n"
  "    }\n"
  "  for (m = 0; m < 4; ++m) {\n"
  "    r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);\n"
  "    r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xDD);\n"
  "    r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);\n"
  "    r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xDD);\n"
  "  }\n"
  "}\n"
  "/* Packs a full DNK_NR-column panel of B whose columns are contiguous (B^T stored) by 16 x 16\n"
  " * transposes; returns how many of the kc rows it packed (a multiple of 16). */\n"
  "static inline long dnk_pack_bt(const dnk_view *B, dnk_real *restrict q, long pc, long j0, long kc) {\n"
  "  long p, h;\n"
  "  int i;\n"
  "  for (p = 0; p + 16 <= kc; p += 16)\n"
  "    for (h = 0; h < DNK_NR; h += 16) {\n"
  "      __m512 r[16];\n"
  "      for (i = 0; i < 16; ++i) {  /* rows of B^T are many streams: prefetch 128 floats ahead */\n"
  "        r[i] = _mm512_loadu_ps(B->p + (j0 + h + i) * B->cs + pc + p);\n"
  "        _mm_prefetch((const char *)(B->p + (j0 + h + i) * B->cs + pc + p + 128), _MM_HINT_T0);\n"
  "      }\n"
  "      dnk_tr16(r);\n"
  "      for (i = 0; i < 16; ++i) _mm512_storeu_ps(q + (p + i) * DNK_NR + h, r[i]);\n"
  "    }\n"
  "  return p;\n"
  "}\n"
  "#endif\n"
  "/* Packs B[pc.., jc..] (kc x nc) into DNK_NR-column panels, zero-padded. */\n"
  "static inline void dnk_pack_b(const dnk_view *B, dnk_real *restrict d, long pc, long jc, long kc, long nc) {\n"
  "  long j0, j, p;\n"
  "  for (j0 = 0; j0 < nc; j0 += DNK_NR) {\n"
  "    long nr = nc - j0 < DNK_NR ? nc - j0 : DNK_NR;\n"
  "    dnk_real *restrict q = d + j0 * kc;\n"
  "    if (B->kind == 1) {\n"
  "      dnk_pack_b_im2col(B, d, pc, jc, kc, nc);\n"
  "      return;\n"
  "    } else if (B->kind == 2) {\n"
  "      for (j = 0; j < DNK_NR; ++j)\n"
  "        if (j < nr) dnk_im2col_row(B, jc + j0 + j, pc, kc, q + j, DNK_NR);\n"
  "        else for (p = 0; p < kc; ++p) q[p * DNK_NR + j] = 0;\n"
  "    } else if (B->cs == 1 && nr == DNK_NR) {\n"
  "      for (p = 0; p < kc; ++p) {\n"
  "        const dnk_real *s = B->p + (pc + p) * B->rs + jc + j0;\n"
  "        for (j = 0; j < DNK_NR; ++j) q[p * DNK_NR + j] = s[j];\n"
  "      }\n"
  "    } else if (B->rs == 1) {  /* B^T stored (a [out, in] weight): read its rows */\n"
  "      long p0 = 0;\n"
  "#if defined(__AVX512F__) && defined(DNK_F32)\n"
  "      if (nr == DNK_NR) p0 = dnk_pack_bt(B, q, pc, jc + j0, kc);\n"
  "#endif\n"
  "      for (j = 0; j < DNK_NR; ++j) {\n"
  "        const dnk_real *s = B->p + (jc + j0 + j) * B->cs + pc;\n"
  "        if (j < nr) for (p = p0; p < kc; ++p) q[p * DNK_NR + j] = s[p];\n"
  "        else for (p = p0; p < kc; ++p) q[p * DNK_NR + j] = 0;\n"
  "      }\n"
  "    } else {\n"
  "      for (p = 0; p < kc; ++p)\n"
  "        for (j = 0; j < DNK_NR; ++j)\n"
  "          q[p * DNK_NR + j] = j < nr ? B->p[(pc + p) * B->rs + (jc + j0 + j) * B->cs] : (dnk_real)0;\n"
  "    }\n"
  "  }\n"
  "}\n"
  "/* Writes the valid mr x nr corner of tile t into C at (i0, j0): set, add, or col2im-add. */\n"
  "static inline void dnk_store(const dnk_outv *C, const dnk_real *restrict t, long i0, long j0, long mr, long nr, int acc) {\n"
  "  long i, j;\n"
  "  for (i = 0; i < mr; ++i) {\n"
  "    const dnk_real *restrict ti = t + i * DNK_NR;\n"
  "    dnk_real *restrict o = C->p + (i0 + i) * C->ld + j0 * C->cs;\n"
  "    if (C->kind == 1) dnk_col2im_row(C, i0 + i, j0, nr, ti);\n"
  "    else if (C->cs != 1) for (j = 0; j < nr; ++j) o[j * C->cs] = acc ? o[j * C->cs] + ti[j] : ti[j];\n"
  "    else if (acc) for (j = 0; j < nr; ++j) o[j] += ti[j];\n"
  "    else for (j = 0; j < nr; ++j) o[j] = ti[j];\n"
  "  }\n"
  "}\n";

static const char dnk_small_text[] =
  "/* Few-row products (M <= 4, dense operands: batch-1 layers): no packing; C rows are\n"
  " * built by axpy over B's rows when they are contiguous, else by dot products along K.\n"
  " * Columns jc..jc+511 of C. */\n"
  "static inline void dnk_gemm_small_cols(long jc, long M, long N, long K, const dnk_view *A, const dnk_view *B,\n"
  "                                       const dnk_outv *C, int acc) {\n"
  "  long nc = N - jc < 512 ? N - jc : 512, i, j, p;\n"
  "  for (i = 0; i < M && !acc; ++i)\n"
  "    for (j = 0; j < nc; ++j) C->p[i * C->ld + jc + j] = 0;\n"
  "  if (B->cs == 1) {\n"
  "    for (p = 0; p < K; ++p)\n"
  "      for (i = 0; i < M; ++i)\n"
  "        dnk_axpy(nc, A->p[i * A->rs + p * A->cs], B->p + p * B->rs + jc, C->p + i * C->ld + jc);\n"
  "    return;\n"
  "  }\n"
  "  for (i = 0; i < M; ++i)\n"
  "    for (j = 0; j < nc; ++j) {\n"
  "      const dnk_real *a = A->p + i * A->rs, *b = B->p + (jc + j) * B->cs;\n"
  "      dnk_real tot = 0;\n"
  "      if (A->cs == 1 && B->rs == 1) tot = dnk_dot(K, a, b);\n"
  "      else for (p = 0; p < K; ++p) tot += a[p * A->cs] * b[p * B->rs];\n"
  "      C->p[i * C->ld + jc + j] += tot;\n"
  "    }\n"
  "}\n"
  "%s"
  "static void dnk_gemm_small(long M, long N, long K, const dnk_view *A, const dnk_view *B, const dnk_outv *C, int acc, int par) {\n"
  "  long jc;\n"
  "%s"
  "  for (jc = 0; jc < N; jc += 512) dnk_gemm_small_cols(jc, M, N, K, A, B, C, acc);\n"
  "}\n";

/* Direct convolution, stride 1 (float, AVX-512; other targets use the im2col GEMM). Over a
 * zero-padded copy xp [C, hp, wp] of the input, output position (oy, ox) of the "wide" output
 * q = oy * wp + ox reads xp[off[p] + q] for the im2col row p = (c, ki, kj), with
 * off[p] = c hp wp + ki dh wp + kj dw: the B operand of y = W @ im2col(x) needs no packing,
 * each micro-kernel step loads two 16-lane vectors straight from xp. The wide columns
 * ox >= ow are computed and dropped: the valid lanes of a vector are consecutive outputs,
 * so they are compressed and stored in one masked store (mk: valid lanes, sm: that many low
 * lanes, oi: output index of the first valid one). */
static const char dnk_dconv_text[] =
  "#if defined(__AVX512F__)\n"
  "#define DNK_DCONV 1\n"
  "/* Masks of the nv 16-lane vectors of the wide output [oh, wp] (ow valid columns). */\n"
  "DNK_MAYBE_UNUSED static long dnk_dconv_plan(long oh, long ow, long wp, unsigned short *mk, unsigned short *sm, int *oi) {\n"
  "  long q, end = (oh - 1) * wp + ow, nv = (end + 31) / 32 * 2, v;\n"
  "  for (v = 0; v < nv; ++v) {\n"
  "    unsigned m = 0, n = 0;\n"
  "    int l;\n"
  "    oi[v] = 0;\n"
  "    for (l = 0; l < 16; ++l) {\n"
  "      q = v * 16 + l;\n"
  "      if (q >= end || q %% wp >= ow) continue;\n"
  "      if (!n) oi[v] = (int)(q / wp * ow + q %% wp);\n"
  "      m |= 1u << l, ++n;\n"
  "    }\n"
  "    mk[v] = (unsigned short)m;\n"
  "    sm[v] = (unsigned short)((1u << n) - 1);\n"
  "  }\n"
  "  return nv;\n"
  "}\n"
  "DNK_MAYBE_UNUSED static inline void dnk_dconv_put(float *d, unsigned short m, unsigned short s, __m512 v, int acc) {\n"
  "  if (!m) return;\n"
  "  v = _mm512_maskz_compress_ps((__mmask16)m, v);\n"
  "  if (acc) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps((__mmask16)s, d));\n"
  "  _mm512_mask_storeu_ps(d, (__mmask16)s, v);\n"
  "}\n"
  "/* W [M, K] packed in 8-row panels over all K (panel i0 / 8 at i0 * K, element (r, p) at\n"
  " * p * 8 + r), the rows past M zero. */\n"
  "DNK_MAYBE_UNUSED static void dnk_dconv_pack(const float *w, long M, long K, float *d) {\n"
  "  long i0, p, r;\n"
  "  for (i0 = 0; i0 < M; i0 += 8)\n"
  "    for (p = 0; p < K; ++p)\n"
  "      for (r = 0; r < 8; ++r) d[i0 * K + p * 8 + r] = i0 + r < M ? w[(i0 + r) * K + p] : 0;\n"
  "}\n"
  "/* The 16 accumulators of an 8 x 32 block (8 rows, two 16-lane vectors), and one step p of\n"
  " * it: rows r of A from a panel (element (r, p) at p * 8 + r) times the 32 values at bp.\n"
  " * Shared by dnk_dconv_v and dnk_wino_mm. */\n"
  "#define DNK_ACC16 __m512 c0 = _mm512_setzero_ps(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0, c6 = c0, c7 = c0, \\\n"
  "    c8 = c0, c9 = c0, c10 = c0, c11 = c0, c12 = c0, c13 = c0, c14 = c0, c15 = c0\n"
  "#define DNK_STEP8X32(a, p, bp) { \\\n"
  "    const float *dnk_bp = (bp); \\\n"
  "    __m512 b0 = _mm512_loadu_ps(dnk_bp), b1 = _mm512_loadu_ps(dnk_bp + 16), av; \\\n"
  "    DNK_REG(b0); DNK_REG(b1); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 0]); c0 = _mm512_fmadd_ps(av, b0, c0); c1 = _mm512_fmadd_ps(av, b1, c1); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 1]); c2 = _mm512_fmadd_ps(av, b0, c2); c3 = _mm512_fmadd_ps(av, b1, c3); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 2]); c4 = _mm512_fmadd_ps(av, b0, c4); c5 = _mm512_fmadd_ps(av, b1, c5); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 3]); c6 = _mm512_fmadd_ps(av, b0, c6); c7 = _mm512_fmadd_ps(av, b1, c7); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 4]); c8 = _mm512_fmadd_ps(av, b0, c8); c9 = _mm512_fmadd_ps(av, b1, c9); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 5]); c10 = _mm512_fmadd_ps(av, b0, c10); c11 = _mm512_fmadd_ps(av, b1, c11); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 6]); c12 = _mm512_fmadd_ps(av, b0, c12); c13 = _mm512_fmadd_ps(av, b1, c13); \\\n"
  "    av = _mm512_set1_ps((a)[(p) * 8 + 7]); c14 = _mm512_fmadd_ps(av, b0, c14); c15 = _mm512_fmadd_ps(av, b1, c15); }\n"
  "/* Output vectors v, v + 1 (32 wide columns) of y [M, ldy] (+)= W @ im2col(xp), in panels of 8\n"
  " * rows (16 accumulators: the 32 and 64 filters of typical layers without a partial panel);\n"
  " * pa is W packed by dnk_dconv_pack. */\n"
  "#if defined(__GNUC__)\n#define DNK_INLINE static inline __attribute__((always_inline))\n#else\n#define DNK_INLINE static inline\n#endif\n"
  "/* Inlined into each call (also inside OpenMP-outlined loops), where its sizes are constants. */\n"
  "DNK_MAYBE_UNUSED DNK_INLINE void dnk_dconv_v(long v, long M, long K, const float *pa, const int *off, const float *xp,\n"
  "                               const unsigned short *mk, const unsigned short *sm, const int *oi, float *y, long ldy,\n"
  "                               int acc, const float *bias, int relu) {\n"
  "  const float *b = xp + v * 16;\n"
  "  long i0;\n"
  "  for (i0 = 0; i0 < M; i0 += 8) {\n"
  "    const float *a = pa + i0 * K;\n"
  "    DNK_ACC16;\n"
  "    long p;\n"
  "    for (p = 0; p < K; ++p) DNK_STEP8X32(a, p, b + off[p]);\n"
  "    {  /* the rows written out one by one with the accumulators in registers, the masks and\n"
  "        * offsets (the same for every row) loaded once: a loop over an array of the 16\n"
  "        * accumulators stored them to the stack and reloaded them, a quarter of the time of\n"
  "        * a 27-deep product (a first convolution's) */\n"
  "      const unsigned short m0 = mk[v], m1 = mk[v + 1], s0 = sm[v], s1 = sm[v + 1];\n"
  "      const long rows = M - i0 < 8 ? M - i0 : 8;\n"
  "      float *d0 = y + i0 * ldy + oi[v], *d1 = y + i0 * ldy + oi[v + 1];\n"
  "      /* a fused epilogue (the layer's bias and ReLU, bias [M] or NULL) on the way out */\n"
  "#define DNK_PUT2(r, a, b) if (r < rows) { \\\n"
  "        if (bias) a = _mm512_add_ps(a, _mm512_set1_ps(bias[i0 + r])), b = _mm512_add_ps(b, _mm512_set1_ps(bias[i0 + r])); \\\n"
  "        if (relu) a = _mm512_max_ps(a, _mm512_setzero_ps()), b = _mm512_max_ps(b, _mm512_setzero_ps()); \\\n"
  "        dnk_dconv_put(d0 + r * ldy, m0, s0, a, acc), dnk_dconv_put(d1 + r * ldy, m1, s1, b, acc); }\n"
  "      DNK_PUT2(0, c0, c1); DNK_PUT2(1, c2, c3); DNK_PUT2(2, c4, c5); DNK_PUT2(3, c6, c7);\n"
  "      DNK_PUT2(4, c8, c9); DNK_PUT2(5, c10, c11); DNK_PUT2(6, c12, c13); DNK_PUT2(7, c14, c15);\n"
  "#undef DNK_PUT2\n"
  "    }\n"
  "  }\n"
  "}\n"
  "/* All nv output vectors. */\n"
  "DNK_MAYBE_UNUSED DNK_INLINE void dnk_dconv(long M, long K, long nv, const float *pa, const int *off, const float *xp,\n"
  "                             const unsigned short *mk, const unsigned short *sm, const int *oi, float *y, long ldy,\n"
  "                             int acc, const float *bias, int relu) {\n"
  "  long v;\n"
  "  for (v = 0; v < nv; v += 2) dnk_dconv_v(v, M, K, pa, off, xp, mk, sm, oi, y, ldy, acc, bias, relu);\n"
  "}\n"
  "%s"
  "#endif\n";

static const char dnk_wino_text[] =
  "/* Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions (float, AVX-512): y = A^T [(G g G^T) . (B^T d B)] A\n"
  " * over 4x4 input tiles d two apart. Per sample: the input tiles of the zero-padded copy\n"
  " * xp [C, hq, wq] transformed to v [16][C][ldv] (dnk_wino_v), sixteen products\n"
  " * m_k [Mp, ldv] = u_k [Mp, C] @ v_k [C, ldv] (dnk_wino_mm), and the 2x2 output tiles\n"
  " * recovered from m (dnk_wino_y). Tile (ty, tx) is column t = ty * ntxp + tx of v and m,\n"
  " * ntxp the tiles per row rounded up to 8; the columns past a row's ntx tiles are computed\n"
  " * and dropped. u [16][Mp, C] holds the transformed weights in 8-row panels (as dnk_dconv_pack:\n"
  " * panel i0 at i0 * C, element (r, c) at c * 8 + r). */\n"
  "/* G applied to (s0, s1, s2), a column or row of a 3x3 kernel: rows g0, (g0 + g1 + g2) / 2,\n"
  " * (g0 - g1 + g2) / 2, g2. Named registers, not arrays: GCC kept arrays of vectors on the stack. */\n"
  "#define DNK_WU_G(s0, s1, s2, o0, o1, o2, o3) { \\\n"
  "    const __m512 dnk_s = _mm512_add_ps(s0, s2); \\\n"
  "    o0 = s0, o1 = _mm512_mul_ps(h, _mm512_add_ps(dnk_s, s1)), o2 = _mm512_mul_ps(h, _mm512_sub_ps(dnk_s, s1)), o3 = s2; }\n"
  "/* Row r of (G g) G^T into planes 4 r .. 4 r + 3. */\n"
  "#define DNK_WU_ROW(r, s0, s1, s2) { \\\n"
  "    __m512 dnk_o0, dnk_o1, dnk_o2, dnk_o3; \\\n"
  "    DNK_WU_G(s0, s1, s2, dnk_o0, dnk_o1, dnk_o2, dnk_o3); \\\n"
  "    _mm512_mask_storeu_ps(d + (4 * (r)) * pk, sm, dnk_o0), _mm512_mask_storeu_ps(d + (4 * (r) + 1) * pk, sm, dnk_o1); \\\n"
  "    _mm512_mask_storeu_ps(d + (4 * (r) + 2) * pk, sm, dnk_o2), _mm512_mask_storeu_ps(d + (4 * (r) + 3) * pk, sm, dnk_o3); }\n"
  "DNK_MAYBE_UNUSED static void dnk_wino_u(const float *w, long M, long C, float *u, long r0, long r1) {\n"
  "  const long mp = (M + 7) / 8 * 8, pk = mp * C + 16;\n"
  "  const __m512 h = _mm512_set1_ps(0.5f), z = _mm512_setzero_ps();\n"
  "  long i0, c;\n"
  "  int l;\n"
  "  __m512i ix;\n"
  "  {\n"
  "    int t[16];\n"
  "    for (l = 0; l < 16; ++l) t[l] = (int)(((l % 8) * C + l / 8) * 9);\n"
  "    ix = _mm512_loadu_si512(t);\n"
  "  }\n"
  "  for (i0 = r0; i0 < r1 && i0 < mp; i0 += 8) {\n"
  "    unsigned rm = 0;\n"
  "    for (l = 0; l < 16; ++l)\n"
  "      if (i0 + l % 8 < M) rm |= 1u << l;\n"
  "    for (c = 0; c < C; c += 2) {\n"
  "      const __mmask16 m = (__mmask16)(rm & (c + 1 < C ? 0xFFFFu : 0xFFu)), sm = (__mmask16)(c + 1 < C ? 0xFFFFu : 0xFFu);\n"
  "      const float *b = w + (i0 * C + c) * 9;\n"
  "      float *d = u + i0 * C + c * 8;\n"
  "      const __m512 g0 = _mm512_mask_i32gather_ps(z, m, ix, b, 4), g1 = _mm512_mask_i32gather_ps(z, m, ix, b + 1, 4);\n"
  "      const __m512 g2 = _mm512_mask_i32gather_ps(z, m, ix, b + 2, 4), g3 = _mm512_mask_i32gather_ps(z, m, ix, b + 3, 4);\n"
  "      const __m512 g4 = _mm512_mask_i32gather_ps(z, m, ix, b + 4, 4), g5 = _mm512_mask_i32gather_ps(z, m, ix, b + 5, 4);\n"
  "      const __m512 g6 = _mm512_mask_i32gather_ps(z, m, ix, b + 6, 4), g7 = _mm512_mask_i32gather_ps(z, m, ix, b + 7, 4);\n"
  "      const __m512 g8 = _mm512_mask_i32gather_ps(z, m, ix, b + 8, 4);\n"
  "      __m512 t00, t01, t02, t10, t11, t12, t20, t21, t22, t30, t31, t32;  /* G g: t_rk, row r, column k */\n"
  "      DNK_WU_G(g0, g3, g6, t00, t10, t20, t30);\n"
  "      DNK_WU_G(g1, g4, g7, t01, t11, t21, t31);\n"
  "      DNK_WU_G(g2, g5, g8, t02, t12, t22, t32);\n"
  "      DNK_WU_ROW(0, t00, t01, t02);\n"
  "      DNK_WU_ROW(1, t10, t11, t12);\n"
  "      DNK_WU_ROW(2, t20, t21, t22);\n"
  "      DNK_WU_ROW(3, t30, t31, t32);\n"
  "    }\n"
  "  }\n"
  "}\n"
  "\n"
  "/* Row i of the 16 tiles (columns 0..3 de-interleaved from the half rows at pa and pb) times\n"
  " * B: (d0 - d2, d1 + d2, d2 - d1, d1 - d3). */\n"
  "#define DNK_WV_ROW(i, r0, r1, r2, r3) { \\\n"
  "    const __m512 dnk_a = _mm512_loadu_ps(pa + (i) * wq), dnk_b = _mm512_loadu_ps(pb + (i) * wq); \\\n"
  "    const __m512 dnk_a2 = _mm512_loadu_ps(pa + (i) * wq + 2), dnk_b2 = _mm512_loadu_ps(pb + (i) * wq + 2); \\\n"
  "    const __m512 dnk_d0 = _mm512_permutex2var_ps(dnk_a, ie, dnk_b), dnk_d1 = _mm512_permutex2var_ps(dnk_a, io, dnk_b); \\\n"
  "    const __m512 dnk_d2 = _mm512_permutex2var_ps(dnk_a2, ie, dnk_b2), dnk_d3 = _mm512_permutex2var_ps(dnk_a2, io, dnk_b2); \\\n"
  "    r0 = _mm512_sub_ps(dnk_d0, dnk_d2), r1 = _mm512_add_ps(dnk_d1, dnk_d2); \\\n"
  "    r2 = _mm512_sub_ps(dnk_d2, dnk_d1), r3 = _mm512_sub_ps(dnk_d1, dnk_d3); }\n"
  "/* Column j of B^T (d B) into planes j, 4 + j, 8 + j, 12 + j. */\n"
  "#define DNK_WV_COL(j, r0, r1, r2, r3) { \\\n"
  "    _mm512_storeu_ps(o + (j) * vs, _mm512_sub_ps(r0, r2)), _mm512_storeu_ps(o + (4 + (j)) * vs, _mm512_add_ps(r1, r2)); \\\n"
  "    _mm512_storeu_ps(o + (8 + (j)) * vs, _mm512_sub_ps(r2, r1)), _mm512_storeu_ps(o + (12 + (j)) * vs, _mm512_sub_ps(r1, r3)); }\n"
  "/* Channels [c0, c1) of xp [C, hq, wq] into v [16][C][ldv]. */\n"
  "static void dnk_wino_v(const float *xp, long C, long hq, long wq, long ntxp, long k0, long k1, long ldv, float *v,\n"
  "                       long c0, long c1) {\n"
  "  const long vs = C * ldv + 16;\n"
  "  const __m512i ie = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);\n"
  "  const __m512i io = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);\n"
  "  long c, k;\n"
  "  for (c = c0; c < c1; ++c)\n"
  "    for (k = k0; k < k1; k += 2) { /* half rows of 8 tiles k and k + 1 in the low and high lanes */\n"
  "      const long t0 = k * 8, t1 = (k + 1 < k1 ? k + 1 : k) * 8;\n"
  "      const float *pa = xp + (c * hq + 2 * (t0 / ntxp)) * wq + 2 * (t0 % ntxp);\n"
  "      const float *pb = xp + (c * hq + 2 * (t1 / ntxp)) * wq + 2 * (t1 % ntxp);\n"
  "      float *o = v + c * ldv + (k - k0) * 8;\n"
  "      __m512 r00, r01, r02, r03, r10, r11, r12, r13, r20, r21, r22, r23, r30, r31, r32, r33;\n"
  "      DNK_WV_ROW(0, r00, r01, r02, r03);\n"
  "      DNK_WV_ROW(1, r10, r11, r12, r13);\n"
  "      DNK_WV_ROW(2, r20, r21, r22, r23);\n"
  "      DNK_WV_ROW(3, r30, r31, r32, r33);\n"
  "      DNK_WV_COL(0, r00, r10, r20, r30);\n"
  "      DNK_WV_COL(1, r01, r11, r21, r31);\n"
  "      DNK_WV_COL(2, r02, r12, r22, r32);\n"
  "      DNK_WV_COL(3, r03, r13, r23, r33);\n"
  "    }\n"
  "}\n"
  "\n"
  "/* Products k of [k0, k1): m_k [Mp, nc] = u_k [Mp, C] @ v_k [C, nc] (row strides ldv), 8 x 32 blocks. */\n"
  "DNK_INLINE void dnk_wino_mm(long mp, long C, long ldv, long nc, const float *u, const float *v, float *m, long k0,\n"
  "                            long k1) {\n"
  "  long k, j, i0, p;\n"
  "  for (k = k0; k < k1; ++k)\n"
  "    for (j = 0; j < nc; j += 32) {\n"
  "      const float *b = v + k * (C * ldv + 16) + j;\n"
  "      for (i0 = 0; i0 < mp; i0 += 8) {\n"
  "        const float *a = u + k * (mp * C + 16) + i0 * C;\n"
  "        float *y = m + k * (mp * ldv + 16) + i0 * ldv + j;\n"
  "        DNK_ACC16;\n"
  "        for (p = 0; p < C; ++p) DNK_STEP8X32(a, p, b + p * ldv);\n"
  "        _mm512_storeu_ps(y, c0), _mm512_storeu_ps(y + 16, c1);\n"
  "        _mm512_storeu_ps(y + ldv, c2), _mm512_storeu_ps(y + ldv + 16, c3);\n"
  "        _mm512_storeu_ps(y + 2 * ldv, c4), _mm512_storeu_ps(y + 2 * ldv + 16, c5);\n"
  "        _mm512_storeu_ps(y + 3 * ldv, c6), _mm512_storeu_ps(y + 3 * ldv + 16, c7);\n"
  "        _mm512_storeu_ps(y + 4 * ldv, c8), _mm512_storeu_ps(y + 4 * ldv + 16, c9);\n"
  "        _mm512_storeu_ps(y + 5 * ldv, c10), _mm512_storeu_ps(y + 5 * ldv + 16, c11);\n"
  "        _mm512_storeu_ps(y + 6 * ldv, c12), _mm512_storeu_ps(y + 6 * ldv + 16, c13);\n"
  "        _mm512_storeu_ps(y + 7 * ldv, c14), _mm512_storeu_ps(y + 7 * ldv + 16, c15);\n"
  "      }\n"
  "    }\n"
  "}\n"
  "\n"
  "/* Column i of A^T m: planes i, 4 + i, 8 + i, 12 + i into (m0 + m1 + m2, m1 - m2 - m3). */\n"
  "#define DNK_WY_COL(i, q0, q1) { \\\n"
  "    const __m512 dnk_m0 = _mm512_loadu_ps(s + (i) * ps), dnk_m1 = _mm512_loadu_ps(s + (4 + (i)) * ps); \\\n"
  "    const __m512 dnk_m2 = _mm512_loadu_ps(s + (8 + (i)) * ps), dnk_m3 = _mm512_loadu_ps(s + (12 + (i)) * ps); \\\n"
  "    q0 = _mm512_add_ps(_mm512_add_ps(dnk_m0, dnk_m1), dnk_m2), q1 = _mm512_sub_ps(_mm512_sub_ps(dnk_m1, dnk_m2), dnk_m3); }\n"
  "/* Output channels [o0, o1) of y [M, oh, ow] (+ bias, ReLU) from m [16][Mp][ldv]. */\n"
  "static void dnk_wino_y(const float *m, long mp, long ntxp, long k0, long k1, long ldv, long oh, long ow, float *y,\n"
  "                       const float *bias, int relu, long o0, long o1) {\n"
  "  const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);\n"
  "  const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);\n"
  "  const long ps = mp * ldv + 16;\n"
  "  long o, k;\n"
  "  int h;\n"
  "  for (o = o0; o < o1; ++o) {\n"
  "    const __m512 bv = _mm512_set1_ps(bias ? bias[o] : 0.0f);\n"
  "    for (k = k0; k < k1; k += 2) {\n"
  "      const float *s = m + o * ldv + (k - k0) * 8;\n"
  "      __m512 q00, q01, q02, q03, q10, q11, q12, q13, r00, r01, r10, r11;\n"
  "      DNK_WY_COL(0, q00, q10);\n"
  "      DNK_WY_COL(1, q01, q11);\n"
  "      DNK_WY_COL(2, q02, q12);\n"
  "      DNK_WY_COL(3, q03, q13);\n"
  "      /* (A^T m) A: output row a of the tiles, columns 0 and 1 */\n"
  "      r00 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q00, q01), q02), bv);\n"
  "      r01 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(q01, q02), q03), bv);\n"
  "      r10 = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(q10, q11), q12), bv);\n"
  "      r11 = _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(q11, q12), q13), bv);\n"
  "      if (relu) {\n"
  "        const __m512 z = _mm512_setzero_ps();\n"
  "        r00 = _mm512_max_ps(r00, z), r01 = _mm512_max_ps(r01, z), r10 = _mm512_max_ps(r10, z), r11 = _mm512_max_ps(r11, z);\n"
  "      }\n"
  "      for (h = 0; h < 2 && k + h < k1; ++h) { /* the half rows of 8 tiles: low and high lanes */\n"
  "        const long t = (k + h) * 8, ty = t / ntxp, x = 2 * (t % ntxp), n = ow - x < 16 ? ow - x : 16;\n"
  "        const __mmask16 mk = (__mmask16)((1u << n) - 1);\n"
  "        const __m512i ix = h ? ih : il;\n"
  "        float *d = y + (o * oh + 2 * ty) * ow + x;\n"
  "        _mm512_mask_storeu_ps(d, mk, _mm512_permutex2var_ps(r00, ix, r01));\n"
  "        if (2 * ty + 1 < oh) _mm512_mask_storeu_ps(d + ow, mk, _mm512_permutex2var_ps(r10, ix, r11));\n"
  "      }\n"
  "    }\n"
  "  }\n"
  "}\n"
  "\n"
  "/* One sample: y [M, oh, ow] (+ bias, ReLU) from its padded input xp and the transformed weights\n"
  " * u, tb tiles at a time (v [16][C][tb], m [16][Mp][tb], planes 16 floats apart). */\n"
  "DNK_MAYBE_UNUSED DNK_INLINE void dnk_wino(long M, long C, long hq, long wq, long ntxp, long nh, long oh, long ow, long tb, const float *u,\n"
  "                         const float *xp, float *v, float *m, float *y, const float *bias, int relu) {\n"
  "  const long mp = (M + 7) / 8 * 8;\n"
  "  long k0;\n"
  "  for (k0 = 0; k0 < nh; k0 += tb / 8) {\n"
  "    const long k1 = nh < k0 + tb / 8 ? nh : k0 + tb / 8, nc = ((k1 - k0) * 8 + 31) / 32 * 32;\n"
  "    dnk_wino_v(xp, C, hq, wq, ntxp, k0, k1, tb, v, 0, C);\n"
  "    dnk_wino_mm(mp, C, tb, nc, u, v, m, 0, 16);\n"
  "    dnk_wino_y(m, mp, ntxp, k0, k1, tb, oh, ow, y, bias, relu, 0, M);\n"
  "  }\n"
  "}\n";

static const char dnk_wino_par_text[] =
  "/* The same, each phase spread over the threads (one sample). */\n"
  "DNK_MAYBE_UNUSED static void dnk_wino_par(long M, long C, long hq, long wq, long ntxp, long nh, long oh, long ow, long tb, const float *u,\n"
  "                         const float *xp, float *v, float *m, float *y, const float *bias, int relu) {\n"
  "  const long mp = (M + 7) / 8 * 8;\n"
  "#pragma omp parallel num_threads(DNK_THREADS)\n"
  "  {\n"
  "    long k0, i;\n"
  "    for (k0 = 0; k0 < nh; k0 += tb / 8) {\n"
  "      const long k1 = nh < k0 + tb / 8 ? nh : k0 + tb / 8, nc = ((k1 - k0) * 8 + 31) / 32 * 32;\n"
  "#pragma omp for schedule(static)\n"
  "      for (i = 0; i < C; ++i) dnk_wino_v(xp, C, hq, wq, ntxp, k0, k1, tb, v, i, i + 1);\n"
  "#pragma omp for schedule(static)\n"
  "      for (i = 0; i < 16; ++i) dnk_wino_mm(mp, C, tb, nc, u, v, m, i, i + 1);\n"
  "#pragma omp for schedule(static)\n"
  "      for (i = 0; i < M; ++i) dnk_wino_y(m, mp, ntxp, k0, k1, tb, oh, ow, y, bias, relu, i, i + 1);\n"
  "    }\n"
  "  }\n"
  "}\n";

static const char dnk_driver_text[] =
  "/* All of A [M, K] packed once into d (dnk_pack_all_size elements), in the DNK_MC x\n"
  " * DNK_KC blocks dnk_gemm walks: block (ib, pb) at (ib * nkb + pb) * DNK_MC * kcs, kcs the\n"
  " * smaller of K and DNK_KC (a shallow A takes no more room than it needs). For an\n"
  " * A shared by many products (a convolution's weights, used for every sample and tile). */\n"
  "DNK_MAYBE_UNUSED static inline dnk_real *dnk_pack_a_all(long M, long K, const dnk_view *A, dnk_real *d) {\n"
  "  long ni = (M + DNK_MC - 1) / DNK_MC, nk = (K + DNK_KC - 1) / DNK_KC, kcs = K < DNK_KC ? K : DNK_KC, ib, pb;\n"
  "  for (ib = 0; ib < ni; ++ib)\n"
  "    for (pb = 0; pb < nk; ++pb) {\n"
  "      long ic = ib * DNK_MC, pc = pb * DNK_KC;\n"
  "      dnk_pack_a(A, d + (ib * nk + pb) * DNK_MC * kcs, ic, pc, M - ic < DNK_MC ? M - ic : DNK_MC,\n"
  "                 K - pc < DNK_KC ? K - pc : DNK_KC);\n"
  "    }\n"
  "  return d;\n"
  "}\n"
  "/* C [M, N] (row stride ldc) = T^T, T [N, M] dense: the result of a product computed\n"
  " * transposed (dn_kgemm_emit's swap) put in place; 16 x 16 blocks through registers on\n"
  " * AVX-512 (float), elsewhere in blocks of 16 rows of C (reads of 16 contiguous values). */\n"
  "DNK_MAYBE_UNUSED static void dnk_untranspose(long M, long N, const dnk_real *t, dnk_real *c, long ldc) {\n"
  "  long i0 = 0, i, j;\n"
  "#if defined(__AVX512F__) && defined(DNK_F32)\n"
  "  for (; i0 + 16 <= M; i0 += 16) {\n"
  "    for (j = 0; j + 16 <= N; j += 16) {\n"
  "      __m512 r[16];\n"
  "      for (i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(t + (j + i) * M + i0);\n"
  "      dnk_tr16(r);\n"
  "      for (i = 0; i < 16; ++i) _mm512_storeu_ps(c + (i0 + i) * ldc + j, r[i]);\n"
  "    }\n"
  "    for (; j < N; ++j)\n"
  "      for (i = i0; i < i0 + 16; ++i) c[i * ldc + j] = t[j * M + i];\n"
  "  }\n"
  "#endif\n"
  "  for (; i0 < M; i0 += 16)\n"
  "    for (j = 0; j < N; ++j)\n"
  "      for (i = i0; i < i0 + 16 && i < M; ++i) c[i * ldc + j] = t[j * M + i];\n"
  "}\n"
  "/* Tile `tile` of C (+)= A [M, K] @ B [K, N] (see dnk_gemm): the columns of tile / ni, the\n"
  " * rows of group tile %% ni (mg rows, a multiple of DNK_MC when A is prepacked, else of\n"
  " * DNK_MR). Each B block is packed once for all the group's DNK_MC-row blocks. */\n"
  "static inline void dnk_gemm_tile(long tile, long ni, long mg, long ncw, long M, long N, long K, const dnk_view *A,\n"
  "                                 const dnk_view *B, const dnk_outv *C, int acc, const dnk_real *apk) {\n"
  "  dnk_real ap[DNK_MC * DNK_KC], bp[DNK_KC * DNK_NC];\n"
  "  long jc = tile / ni * ncw, i0 = tile %% ni * mg, pc, jr, ir, ic, nkb = (K + DNK_KC - 1) / DNK_KC;\n"
  "  long nc = N - jc < ncw ? N - jc : ncw, i1 = M - i0 < mg ? M : i0 + mg;\n"
  "  /* A with contiguous rows is read in place by the micro-kernel's broadcasts (packing it\n"
  "   * cost as much as the product for the few rows of a batch): only a last partial panel of\n"
  "   * rows is packed, for dnk_micro */\n"
  "  int au = !apk && A->kind == 0 && A->cs == 1 && C->kind == 0 && C->cs == 1;\n"
  "  /* an A read in place that does not fit in the L2 cache is prefetched (dnk_micro_c) */\n"
  "  int pf = au && (double)M * K * sizeof(dnk_real) > DNK_PF_BYTES;\n"
  "  for (pc = 0; pc < K; pc += DNK_KC) {\n"
  "    long kc = K - pc < DNK_KC ? K - pc : DNK_KC;\n"
  "    int a2 = acc || pc > 0 || C->kind == 1;\n"
  "    dnk_pack_b(B, bp, pc, jc, kc, nc);\n"
  "    for (ic = i0; ic < i1; ic += DNK_MC) {\n"
  "      long mc = i1 - ic < DNK_MC ? i1 - ic : DNK_MC;\n"
  "      const dnk_real *a = apk ? apk + (ic / DNK_MC * nkb + pc / DNK_KC) * DNK_MC * (K < DNK_KC ? K : DNK_KC) : ap;\n"
  "      if (!apk && !au) dnk_pack_a(A, ap, ic, pc, mc, kc);\n"
  "      if (au && mc %% DNK_MR) dnk_pack_a(A, ap + (mc - mc %% DNK_MR) * kc, ic + mc - mc %% DNK_MR, pc, mc %% DNK_MR, kc);\n"
  "      for (jr = 0; jr < nc; jr += DNK_NR)\n"
  "        for (ir = 0; ir < mc; ir += DNK_MR) {\n"
  "          dnk_real t[DNK_MR * DNK_NR];\n"
  "          const dnk_real *ai = a + ir * kc;\n"
  "          long as = DNK_MR, ar = 1;\n"
  "          if (au && mc - ir >= DNK_MR) {  /* rows of A in place */\n"
  "            ai = A->p + (ic + ir) * A->rs + pc, as = 1, ar = A->rs;\n"
  "            if (nc - jr >= DNK_NR) {\n"
  "              dnk_micro_c(kc, ai, 1, A->rs, bp + jr * kc, C->p + (ic + ir) * C->ld + jc + jr, C->ld, a2, pf);\n"
  "              continue;\n"
  "            }\n"
  "          } else if (C->kind == 0 && C->cs == 1 && mc - ir >= DNK_MR && nc - jr >= DNK_NR) {\n"
  "            dnk_micro_c(kc, ai, DNK_MR, 1, bp + jr * kc, C->p + (ic + ir) * C->ld + jc + jr, C->ld, a2, 0);\n"
  "            continue;\n"
  "          }\n"
  "          dnk_micro(kc, ai, as, ar, bp + jr * kc, t);\n"
  "          dnk_store(C, t, ic + ir, jc + jr, mc - ir < DNK_MR ? mc - ir : DNK_MR,\n"
  "                    nc - jr < DNK_NR ? nc - jr : DNK_NR, a2);\n"
  "        }\n"
  "    }\n"
  "  }\n"
  "}\n"
  "/* Tiles 0..nt-1 (par: spread over the threads by dnk_gemm_par, a function of its own: one\n"
  " * with an OpenMP region is not inlined, and the serial loop is faster inlined). */\n"
  "%s"
  "static inline void dnk_gemm_tiles(long nt, long ni, long mg, long ncw, long M, long N, long K, const dnk_view *A,\n"
  "                                  const dnk_view *B, const dnk_outv *C, int acc, int par, const dnk_real *apk) {\n"
  "  long tile;\n"
  "%s"
  "  for (tile = 0; tile < nt; ++tile) dnk_gemm_tile(tile, ni, mg, ncw, M, N, K, A, B, C, acc, apk);\n"
  "}\n"
  "/* C (+)= A [M, K] @ B [K, N] through the views, in tiles of C (each packs its own panels,\n"
  " * so tiles are independent): DNK_NC columns by all rows; when par spreads the tiles over\n"
  " * threads (never for col2im results, whose tiles overlap), by DNK_MC rows, or one group of\n"
  " * rows per thread for a single column tile; apk: A packed by dnk_pack_a_all, or NULL. */\n"
  "DNK_MAYBE_UNUSED static void dnk_gemm(long M, long N, long K, const dnk_view *A, const dnk_view *B, const dnk_outv *C,\n"
  "                                      int acc, int par, const dnk_real *apk) {\n"
  "  long mg = par ? DNK_MC : (M + DNK_MC - 1) / DNK_MC * DNK_MC, ni, ncw = DNK_NC, nt;\n"
  "  /* one column tile: a group of rows per thread, each packing B once (DNK_MC-row groups\n"
  "   * packed it once per group, and split the columns, each thread then reading all of A) */\n"
  "  if (par && !apk && N <= DNK_NC && M >= 2 * DNK_MR * DNK_THREADS)\n"
  "    mg = ((M + DNK_THREADS - 1) / DNK_THREADS + DNK_MR - 1) / DNK_MR * DNK_MR;\n"
  "  ni = (M + mg - 1) / mg;\n"
  "  if (par && mg == DNK_MC && ni * ((N + DNK_NC - 1) / DNK_NC) < 8) {  /* narrower column tiles: work for every thread */\n"
  "    ncw = ((N + 7) / 8 + DNK_NR - 1) / DNK_NR * DNK_NR;\n"
  "    if (ncw > DNK_NC) ncw = DNK_NC;\n"
  "  }\n"
  "  nt = ni * ((N + ncw - 1) / ncw);\n"
  "#if defined(__AVX512F__) && defined(DNK_F32)\n"
  "  if (N <= 16 && K >= 32 && M > 4 && !par && !apk && A->kind == 0 && A->cs == 1 && B->kind == 0 && B->rs == 1 &&\n"
  "      C->kind == 0 && C->cs == 1) {  /* few columns, B^T stored: dot products */\n"
  "    dnk_gemm_dots(M, N, K, A->p, A->rs, B->p, B->cs, C->p, C->ld, acc);\n"
  "    return;\n"
  "  }\n"
  "#endif\n"
  "  if (M <= 4 && A->kind == 0 && B->kind == 0 && C->kind == 0 && C->cs == 1) {\n"
  "    dnk_gemm_small(M, N, K, A, B, C, acc, par);\n"
  "    return;\n"
  "  }\n"
  "  if (!apk && nt > 1 && M <= DNK_MC && K <= DNK_KC) {  /* one A block for every column tile: pack it once */\n"
  "    dnk_real apb[DNK_MC * DNK_KC];\n"
  "    dnk_pack_a(A, apb, 0, 0, M, K);\n"
  "    dnk_gemm_tiles(nt, ni, mg, ncw, M, N, K, A, B, C, acc, par, apb);\n"
  "    return;\n"
  "  }\n"
  "  dnk_gemm_tiles(nt, ni, mg, ncw, M, N, K, A, B, C, acc, par, apk);\n"
  "}\n";

/* Prints dnk_axpy (y += a x) and dnk_dot for one vector ISA: `w` lanes, 2 dot accumulators. */
static void dnk_vec1(dn_buf *c, const char *vt, const char *pre, const char *sfx, int w, int axpy) {
  if (axpy) {
    dn_buf_printf(c, "  %s av = %s_set1_%s(a);\n  for (; j + %d <= n; j += %d)\n", vt, pre, sfx, w, w);
    dn_buf_printf(c, "    %s_storeu_%s(y + j, %s_fmadd_%s(av, %s_loadu_%s(x + j), %s_loadu_%s(y + j)));\n", pre, sfx, pre, sfx,
                  pre, sfx, pre, sfx);
    return;
  }
  dn_buf_printf(c, "  %s s0 = %s_setzero_%s(), s1 = %s_setzero_%s();\n  dnk_real l[%d];\n  int q;\n", vt, pre, sfx, pre, sfx, w);
  dn_buf_printf(c, "  for (; j + %d <= n; j += %d) {\n", 2 * w, 2 * w);
  dn_buf_printf(c, "    s0 = %s_fmadd_%s(%s_loadu_%s(x + j), %s_loadu_%s(y + j), s0);\n", pre, sfx, pre, sfx, pre, sfx);
  dn_buf_printf(c, "    s1 = %s_fmadd_%s(%s_loadu_%s(x + j + %d), %s_loadu_%s(y + j + %d), s1);\n  }\n", pre, sfx, pre, sfx, w,
                pre, sfx, w);
  dn_buf_printf(c, "  %s_storeu_%s(l, %s_add_%s(s0, s1));\n  for (q = 0; q < %d; ++q) s += l[q];\n", pre, sfx, pre, sfx, w);
}

/* Prints the load of dnk_wg's operand vector k: row k of d (is_d) or input vector k. */
static void dnk_wg_load(dn_buf *c, int is_d, int k, const char *td, const char *tx) {
  if (is_d) dn_buf_printf(c, "_mm512_loadu_ps(d + %d * ldd + %s)", k, td);
  else dn_buf_printf(c, "_mm512_loadu_ps(x%d + %s)", k, tx);
}

/* Prints dnk_wg<m>x<n>, the direct weight-gradient kernel (float, AVX-512): an m x n tile of
 * dw[i, j] (+)= sum over t of d[i, t] * xp[off[j] + t], t over nq 16-lane vectors, with d the
 * output gradient spread over the wide output (zeros in the dropped columns) and xp the padded
 * input as in dnk_dconv: m + n loads for m n fused multiply-adds, each accumulator reduced
 * across its lanes at the end. Only the first mr rows and nr columns are stored. With rows,
 * dnk_wg<m>x<n>r reads d in place instead, for outputs whose rows are whole vectors: t runs
 * over nvr vectors of each of the oh rows, at y * drs + 16 v in d and y * wp + 16 v in xp
 * (no copy of dy to the wide grid: for a layer of few input channels that copy cost a
 * quarter of the kernel). */
static void dnk_wg_text(dn_buf *c, int m, int n, int rows) {
  if (rows)
    dn_buf_printf(c, "static void dnk_wg%dx%dr(long oh, long nvr, const float *d, long ldd, long drs, const float *xp, const int *off,\n"
                     "                      long wp, float *w, long ldw, long mr, long nr, int first) {\n  long y, v;\n  int i, j;\n"
                     "  float s[%d];\n", m, n, m * n);
  else
    dn_buf_printf(c, "static void dnk_wg%dx%d(long nq, const float *d, long ldd, const float *xp, const int *off, float *w, long ldw,\n"
                     "                     long mr, long nr, int first) {\n  long t;\n  int i, j;\n  float s[%d];\n", m, n, m * n);
  dn_buf_printf(c, "  __m512 ");
  for (int i = 0; i < m * n; i++) dn_buf_printf(c, "%sa%d = _mm512_setzero_ps()", i ? ", " : "", i);
  dn_buf_printf(c, ";\n  const float ");
  for (int j = 0; j < n; j++) dn_buf_printf(c, "%s*x%d = xp + off[%d]", j ? ", " : "", j, j);
  const char *td = rows ? "td" : "t", *tx = rows ? "tx" : "t";
  /* a tall tile holds its n input vectors and streams its m rows of d, a wide one the reverse */
  int tall = m > n, nh = tall ? n : m, ns = tall ? m : n;
  const char *sv = tall ? "dv" : "xv";  /* the streamed vector */
  if (rows)
    dn_buf_printf(c, ";\n  for (y = 0; y < oh; ++y)\n  for (v = 0; v < nvr; ++v) {\n    long td = y * drs + v * 16, tx = y * wp + v * 16;\n    __m512 %s", sv);
  else
    dn_buf_printf(c, ";\n  for (t = 0; t < nq * 16; t += 16) {\n    __m512 %s", sv);
  for (int u = 0; u < nh; u++) {
    dn_buf_printf(c, tall ? ", x%dv = " : ", d%d = ", u);
    dnk_wg_load(c, !tall, u, td, tx);
  }
  dn_buf_printf(c, ";\n   ");
  for (int u = 0; u < nh; u++) dn_buf_printf(c, tall ? " DNK_REG(x%dv);" : " DNK_REG(d%d);", u);
  dn_buf_printf(c, "\n");
  for (int v = 0; v < ns; v++) {
    dn_buf_printf(c, "    %s = ", sv);
    dnk_wg_load(c, tall, v, td, tx);
    dn_buf_printf(c, "; DNK_REG(%s);", sv);
    for (int u = 0; u < nh; u++) {
      int a = tall ? v * n + u : u * n + v;
      if (tall) dn_buf_printf(c, " a%d = _mm512_fmadd_ps(dv, x%dv, a%d);", a, u, a);
      else dn_buf_printf(c, " a%d = _mm512_fmadd_ps(d%d, xv, a%d);", a, u, a);
    }
    dn_buf_printf(c, "\n");
  }
  dn_buf_printf(c, "  }\n");
  for (int i = 0; i < m * n; i++) dn_buf_printf(c, "  s[%d] = _mm512_reduce_add_ps(a%d);\n", i, i);
  dn_buf_printf(c, "  for (i = 0; i < mr; ++i)\n    for (j = 0; j < nr; ++j)\n"
                   "      w[i * ldw + j] = (first ? 0 : w[i * ldw + j]) + s[i * %d + j];\n}\n", n);
}

/* Prints dnk_gemm_dots (float, AVX-512): C (+)= A @ B for B^T stored [N, K] with few columns
 * (N <= 16: a layer of few outputs, such as a classifier's 10, fills N of the micro-kernel's
 * 32 lanes, and its packed B is mostly zeros). Dot products along K instead: 4 rows of A by
 * 5 rows of B^T, 20 accumulators of 16 products each, 9 loads per 20 multiply-adds, the
 * lanes summed four accumulators at a time at the end. Rows and columns past the end repeat
 * the last one and are not stored; a last K % 16 is read through a mask. */
/* One step of dnk_gemm_dots' 4 x 5 tile at k, its loads spelled `load` (plain, or masked for
 * the K tail); each B^T row vector held in a register for its four multiply-adds. */
static void dnk_dots_step(dn_buf *c, const char *load) {
  dn_buf_printf(c, "          x0 = %sar[0] + k), x1 = %sar[1] + k);\n          x2 = %sar[2] + k), x3 = %sar[3] + k);\n", load, load,
                load, load);
  for (int q = 0; q < 5; q++)
    dn_buf_printf(c, "          v = %swr[%d] + k); DNK_REG(v); s%d = _mm512_fmadd_ps(x0, v, s%d); s%d = _mm512_fmadd_ps(x1, v, s%d);"
                     " s%d = _mm512_fmadd_ps(x2, v, s%d); s%d = _mm512_fmadd_ps(x3, v, s%d);\n",
                  load, q, 4 * q, 4 * q, 4 * q + 1, 4 * q + 1, 4 * q + 2, 4 * q + 2, 4 * q + 3, 4 * q + 3);
}

static void dnk_dots_text(dn_buf *c) {
  dn_buf_printf(c, "/* [sum a, sum b, sum c, sum d] of four vectors' lanes */\n"
                   "static inline __m128 dnk_hsum4(__m512 a, __m512 b, __m512 c, __m512 d) {\n"
                   "  __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));\n"
                   "  __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));\n"
                   "  __m512 s = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));\n"
                   "  __m256 h = _mm256_add_ps(_mm512_castps512_ps256(s), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(s), 1)));\n"
                   "  return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));\n"
                   "}\n"
                   "/* not inlined: inside dnk_gemm, GCC spilled accumulators once the function around grew\n"
                   " * (64 x 10 x 256: 2.9-3.4 us inlined, 2.1-2.5 us not) */\n"
                   "DNK_MAYBE_UNUSED DNK_NOINLINE static void dnk_gemm_dots(long M, long N, long K, const float *a, long lda, const float *w, long ldw, float *c,\n"
                   "                          long ldc, int acc) {\n"
                   "  __mmask16 tail = (__mmask16)((1u << (K %% 16)) - 1);\n"
                   "  long i0, j0, k;\n"
                   "  int r, q;\n"
                   "  for (i0 = 0; i0 < M; i0 += 4)\n"
                   "    for (j0 = 0; j0 < N; j0 += 5) {\n"
                   "      const float *ar[4], *wr[5];\n"
                   "      float s[20];\n"
                   "      for (r = 0; r < 4; ++r) ar[r] = a + (i0 + r < M ? i0 + r : M - 1) * lda;\n"
                   "      for (q = 0; q < 5; ++q) wr[q] = w + (j0 + q < N ? j0 + q : N - 1) * ldw;\n"
                   "      {\n        __m512 ");
  for (int i = 0; i < 20; i++) dn_buf_printf(c, "%ss%d = _mm512_setzero_ps()", i ? ", " : "", i);
  dn_buf_printf(c, ";\n        __m512 x0, x1, x2, x3, v;\n        for (k = 0; k + 16 <= K; k += 16) {\n");
  dnk_dots_step(c, "_mm512_loadu_ps(");
  dn_buf_printf(c, "        }\n        if (k < K) {\n");
  dnk_dots_step(c, "_mm512_maskz_loadu_ps(tail, ");
  dn_buf_printf(c, "        }\n");
  for (int q = 0; q < 5; q++)
    dn_buf_printf(c, "        _mm_storeu_ps(s + %d, dnk_hsum4(s%d, s%d, s%d, s%d));\n", 4 * q, 4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3);
  dn_buf_printf(c, "      }\n"
                   "      for (r = 0; r < 4 && i0 + r < M; ++r)\n"
                   "        for (q = 0; q < 5 && j0 + q < N; ++q) {\n"
                   "          float *o = c + (i0 + r) * ldc + j0 + q;\n"
                   "          *o = (acc ? *o : 0.0f) + s[4 * q + r];\n"
                   "        }\n"
                   "    }\n"
                   "}\n");
}

/* The register-block products (float, AVX-512), one function per dn_kreg: a matrix product
 * with a dimension of at most DNK_REG_DIM (a classifier's: its weight gradient dy^T @ x has
 * 10 rows, its data gradient dy @ W a depth of 10) keeps that side in registers, 32 columns
 * at a time: with few_k 0 the dim x 32 block of C over all of K (B read once, A broadcast),
 * with few_k 1 the dim x 32 block of B, streamed over the rows of A and C (each C element
 * written once; its sums alternate between two accumulators, halving the chain of
 * dependent multiply-adds). The tiled GEMM ran these 0.3 MFLOP products in 6 x 32
 * micro-kernel calls of 10-deep sums or with a 4-row remainder panel through a stack tile:
 * CIFAR CNN step, dy @ W (64 x 256 x 10) 5.4-6.0 -> 3.1-3.8 us, dy^T @ x (10 x 256 x 64)
 * 4.3-5.0 -> 2.2-2.6 us; alone with their data in cache both take 1.4-1.5 us (220 GFLOP/s),
 * in the step dy @ W waits for its output's 64 KB to come from memory. The strides of A
 * are the node's constants; N's last block is masked. */
static void dnk_reg_name(dn_buf *c, const dn_kreg *r) {
  dn_buf_printf(c, "dnk_reg_%c%d_%lld_%lld%s", r->few_k ? 'k' : 'm', r->dim, r->ars, r->acs, r->mask ? "m" : "");
}

static void dnk_reg_text(dn_buf *c, const dn_kreg *r) {
  int d = r->dim;
  dn_buf_printf(c, "DNK_MAYBE_UNUSED DNK_NOINLINE static void ");
  dnk_reg_name(c, r);
  dn_buf_printf(c, "(long M, long N, long K, const float *a, const float *b, float *c, %s) {\n"
                   "  long j, %s;\n"
                   "  (void)%s;\n"
                   "  for (j = 0; j < N; j += 32) {\n"
                   "    const long rem = N - j;\n"
                   "    const __mmask16 m0 = (__mmask16)(rem >= 16 ? 0xFFFFu : (1u << rem) - 1);\n"
                   "    const __mmask16 m1 = (__mmask16)(rem >= 32 ? 0xFFFFu : rem <= 16 ? 0u : (1u << (rem - 16)) - 1);\n",
                r->mask ? "const float *h" : "int acc", r->few_k ? "i" : "p", r->few_k ? "K" : "M");
  if (r->few_k) {
    for (int p = 0; p < d; p++)
      dn_buf_printf(c, "    __m512 b%d_0 = _mm512_maskz_loadu_ps(m0, b + %d * N + j), b%d_1 = _mm512_maskz_loadu_ps(m1, b + %d * N + j + 16);\n",
                    p, p, p, p);
    for (int p = 0; p < d; p++) dn_buf_printf(c, "    DNK_REG(b%d_0); DNK_REG(b%d_1);\n", p, p);
    if (r->mask)
      dn_buf_printf(c, "    const __m512 one = _mm512_set1_ps(1.0f), zero = _mm512_setzero_ps();\n"
                       "    for (i = 0; i < M; ++i) {\n"
                       "      const float *ai = a + i * %lld, *hi = h + i * N + j;\n"
                       "      float *ci = c + i * N + j;\n"
                       "      __m512 s0 = _mm512_setzero_ps(), s1 = s0, t0 = s0, t1 = s0, av;\n",
                    r->ars);
    else
      dn_buf_printf(c, "    for (i = 0; i < M; ++i) {\n"
                       "      const float *ai = a + i * %lld;\n"
                       "      float *ci = c + i * N + j;\n"
                       "      __m512 s0 = acc ? _mm512_maskz_loadu_ps(m0, ci) : _mm512_setzero_ps();\n"
                       "      __m512 s1 = acc ? _mm512_maskz_loadu_ps(m1, ci + 16) : _mm512_setzero_ps(), av;\n"
                       "      __m512 t0 = _mm512_setzero_ps(), t1 = t0;\n",
                    r->ars);
    for (int p = 0; p < d; p++)
      dn_buf_printf(c, "      av = _mm512_set1_ps(ai[%lld]); %c0 = _mm512_fmadd_ps(av, b%d_0, %c0); %c1 = _mm512_fmadd_ps(av, b%d_1, %c1);\n",
                    (long long)p * r->acs, "st"[p & 1], p, "st"[p & 1], "st"[p & 1], p, "st"[p & 1]);
    if (r->mask)  /* h read before c is written: c may be h itself */
      dn_buf_printf(c, "      {\n"
                       "        __m512 h0 = _mm512_maskz_loadu_ps(m0, hi), h1 = _mm512_maskz_loadu_ps(m1, hi + 16);\n"
                       "        __m512 u0 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(h0, zero, _CMP_GT_OQ), one);\n"
                       "        __m512 u1 = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(h1, zero, _CMP_GT_OQ), one);\n"
                       "        _mm512_mask_storeu_ps(ci, m0, _mm512_mul_ps(_mm512_add_ps(s0, t0), u0));\n"
                       "        _mm512_mask_storeu_ps(ci + 16, m1, _mm512_mul_ps(_mm512_add_ps(s1, t1), u1));\n"
                       "      }\n    }\n  }\n}\n");
    else
      dn_buf_printf(c, "      _mm512_mask_storeu_ps(ci, m0, _mm512_add_ps(s0, t0));\n      _mm512_mask_storeu_ps(ci + 16, m1, _mm512_add_ps(s1, t1));\n    }\n  }\n}\n");
    return;
  }
  dn_buf_printf(c, "    __m512 ");
  for (int i = 0; i < d; i++) dn_buf_printf(c, "%sc%d_0 = _mm512_setzero_ps(), c%d_1 = c%d_0", i ? ", " : "", i, i, i);
  dn_buf_printf(c, ";\n"
                   "    for (p = 0; p < K; ++p) {\n"
                   "      const float *ap = a + p * %lld;\n"
                   "      __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * N + j), b1 = _mm512_maskz_loadu_ps(m1, b + p * N + j + 16), av;\n"
                   "      DNK_REG(b0); DNK_REG(b1);\n",
                r->acs);
  for (int i = 0; i < d; i++)
    dn_buf_printf(c, "      av = _mm512_set1_ps(ap[%lld]); c%d_0 = _mm512_fmadd_ps(av, b0, c%d_0); c%d_1 = _mm512_fmadd_ps(av, b1, c%d_1);\n",
                  (long long)i * r->ars, i, i, i, i);
  dn_buf_printf(c, "    }\n");
  for (int i = 0; i < d; i++)
    dn_buf_printf(c, "    if (acc) c%d_0 = _mm512_add_ps(c%d_0, _mm512_maskz_loadu_ps(m0, c + %d * N + j)),"
                     " c%d_1 = _mm512_add_ps(c%d_1, _mm512_maskz_loadu_ps(m1, c + %d * N + j + 16));\n"
                     "    _mm512_mask_storeu_ps(c + %d * N + j, m0, c%d_0); _mm512_mask_storeu_ps(c + %d * N + j + 16, m1, c%d_1);\n",
                  i, i, i, i, i, i, i, i, i, i);
  dn_buf_printf(c, "  }\n}\n");
}

/* Prints dnk_axpy and dnk_dot: vector loops for AVX-512 / AVX2+FMA, a scalar tail. */
static void dnk_vec_text(dn_buf *c, int dbl) {
  const char *sfx = dbl ? "pd" : "ps";
  for (int axpy = 1; axpy >= 0; axpy--) {
    if (axpy)
      dn_buf_printf(c, "static inline void dnk_axpy(long n, dnk_real a, const dnk_real *restrict x, dnk_real *restrict y) {\n"
                       "  long j = 0;\n#if defined(__AVX512F__)\n");
    else
      dn_buf_printf(c, "static inline dnk_real dnk_dot(long n, const dnk_real *restrict x, const dnk_real *restrict y) {\n"
                       "  long j = 0;\n  dnk_real s = 0;\n#if defined(__AVX512F__)\n");
    dnk_vec1(c, dbl ? "__m512d" : "__m512", "_mm512", sfx, dbl ? 8 : 16, axpy);
    dn_buf_printf(c, "#elif defined(__AVX2__) && defined(__FMA__)\n");
    dnk_vec1(c, dbl ? "__m256d" : "__m256", "_mm256", sfx, dbl ? 4 : 8, axpy);
    dn_buf_printf(c, "#endif\n");
    if (axpy) dn_buf_printf(c, "  for (; j < n; ++j) y[j] += a * x[j];\n}\n");
    else dn_buf_printf(c, "  for (; j < n; ++j) s += x[j] * y[j];\n  return s;\n}\n");
  }
}

/* Prints the vector micro-kernel body: 6 rows x 2 vectors of `vw` lanes each. to_c: the
 * accumulators start from C (when acc) or zero and end in C (rows ldc apart); else in t. */
static void dnk_micro_vec(dn_buf *c, const char *vt, const char *pre, const char *sfx, int vw, int to_c) {
  int i;
  dn_buf_printf(c, "  %s", vt);
  for (i = 0; i < 12; i++) dn_buf_printf(c, "%s c%d = %s_setzero_%s()", i ? "," : "", i, pre, sfx);
  dn_buf_printf(c, ";\n  long p;\n");
  if (to_c) {
    dn_buf_printf(c, "  if (acc) {\n");
    for (i = 0; i < 12; i++)
      dn_buf_printf(c, "    c%d = %s_loadu_%s(cp + %d * ldc + %d);\n", i, pre, sfx, i / 2, (i % 2) * vw);
    dn_buf_printf(c, "  }\n");
  }
  dn_buf_printf(c, "  for (p = 0; p < kc; ++p) {\n");
  if (to_c && vw * (strcmp(sfx, "pd") == 0 ? 8 : 4) == 64) {
    /* AVX-512 (a vector is a cache line): with pf, rows of A read in place (as 1) and too
     * large for the L2 cache (a weight streamed from memory: a dense layer's x @ W^T
     * computed as W @ x^T) are fetched 4 lines ahead. CIFAR CNN 4096 -> 256 forward in the
     * step at batch 32: 122-123 -> 154-166 GFLOP/s. For an A in the L2 cache it cost up to
     * 15% (the LSTM's per-step products, 256 KB of U) */
    dn_buf_printf(c, "    if (pf && !(p & %d)) {\n", vw - 1);
    for (i = 0; i < 6; i++)
      dn_buf_printf(c, "      _mm_prefetch((const char *)(a + p + %d + %d * ar), _MM_HINT_T0);\n", 4 * vw, i);
    dn_buf_printf(c, "    }\n");
  }
  dn_buf_printf(c, "    %s b0 = %s_loadu_%s(b + p * %d), b1 = %s_loadu_%s(b + p * %d + %d), av;\n", vt, pre, sfx, 2 * vw, pre,
                sfx, 2 * vw, vw);
  for (i = 0; i < 6; i++)
    dn_buf_printf(c,
                  "    av = %s_set1_%s(a[p * as + %d * ar]); c%d = %s_fmadd_%s(av, b0, c%d); c%d = %s_fmadd_%s(av, b1, c%d);\n",
                  pre, sfx, i, 2 * i, pre, sfx, 2 * i, 2 * i + 1, pre, sfx, 2 * i + 1);
  dn_buf_printf(c, "  }\n");
  for (i = 0; i < 12; i++) {
    if (to_c) dn_buf_printf(c, "  %s_storeu_%s(cp + %d * ldc + %d, c%d);\n", pre, sfx, i / 2, (i % 2) * vw, i);
    else dn_buf_printf(c, "  %s_storeu_%s(t + %d, c%d);\n", pre, sfx, i * vw, i);
  }
}

/* Prints the AVX-512 and AVX2+FMA bodies of a micro-kernel, up to the portable "#else". */
static void dnk_micro_isas(dn_buf *c, int dbl, int to_c) {
  const char *sfx = dbl ? "pd" : "ps";
  dn_buf_printf(c, "#if defined(__AVX512F__)\n");
  dnk_micro_vec(c, dbl ? "__m512d" : "__m512", "_mm512", sfx, dbl ? 8 : 16, to_c);
  dn_buf_printf(c, "#elif defined(__AVX2__) && defined(__FMA__)\n");
  dnk_micro_vec(c, dbl ? "__m256d" : "__m256", "_mm256", sfx, dbl ? 4 : 8, to_c);
  dn_buf_printf(c, "#else\n");
}

/* Prints dnk_micro: t[DNK_MR x DNK_NR] = a panel @ packed b panel (kc deep), and
 * dnk_micro_c, the same for a whole tile of a dense C: C (+)= a @ b in place, no t. Row i
 * of the a panel at step p is a[p * as + i * ar]: as = DNK_MR, ar = 1 for a packed panel,
 * as = 1, ar = the row stride for rows of A read in place. */
static void dnk_micro_text(dn_buf *c, int dbl) {
  dn_buf_printf(c, "static inline void dnk_micro(long kc, const dnk_real *restrict a, long as, long ar, "
                   "const dnk_real *restrict b, dnk_real *restrict t) {\n");
  dnk_micro_isas(c, dbl, 0);
  dn_buf_printf(c, "  dnk_real acc[DNK_MR * DNK_NR];\n  long p;\n  int i, j;\n"
                   "  for (i = 0; i < DNK_MR * DNK_NR; ++i) acc[i] = 0;\n"
                   "  for (p = 0; p < kc; ++p)\n"
                   "    for (i = 0; i < DNK_MR; ++i) {\n"
                   "      dnk_real ai = a[p * as + i * ar];\n"
                   "      for (j = 0; j < DNK_NR; ++j) acc[i * DNK_NR + j] += ai * b[p * DNK_NR + j];\n"
                   "    }\n"
                   "  for (i = 0; i < DNK_MR * DNK_NR; ++i) t[i] = acc[i];\n#endif\n}\n");
  dn_buf_printf(c, "static inline void dnk_micro_c(long kc, const dnk_real *restrict a, long as, long ar, "
                   "const dnk_real *restrict b, dnk_real *restrict cp, long ldc, int acc, int pf) {\n  (void)pf;\n");
  dnk_micro_isas(c, dbl, 1);
  dn_buf_printf(c, "  dnk_real t[DNK_MR * DNK_NR];\n  int i, j;\n"
                   "  dnk_micro(kc, a, as, ar, b, t);\n"
                   "  for (i = 0; i < DNK_MR; ++i)\n"
                   "    for (j = 0; j < DNK_NR; ++j) cp[i * ldc + j] = (acc ? cp[i * ldc + j] : 0) + t[i * DNK_NR + j];\n"
                   "#endif\n}\n");
}

/* The intrinsics header and the macros every vector kernel here uses. */
static void dnk_preamble(dn_buf *c) {
  dn_buf_printf(c, "#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))\n#include <immintrin.h>\n#endif\n");
  dn_buf_printf(c, "/* Keeps a loaded vector in a register: GCC otherwise folds the (unaligned, often line-\n"
                   " * splitting) load into every multiply-add that uses it, loading it again each time. */\n"
                   "#if defined(__GNUC__)\n#define DNK_REG(v) __asm__(\"\" : \"+v\"(v))\n#define DNK_NOINLINE __attribute__((noinline))\n"
                   "#else\n#define DNK_REG(v) (void)0\n#define DNK_NOINLINE\n#endif\n");
  dn_buf_printf(c, "/* Helpers some products of a file do not use (the direct convolutions replace the tiled\n"
                   " * GEMM and its im2col views on AVX-512; the small products replace cblas_sgemm for some\n"
                   " * shapes): no unused-function warnings. */\n"
                   "#if defined(__GNUC__)\n#define DNK_MAYBE_UNUSED __attribute__((unused))\n#else\n#define DNK_MAYBE_UNUSED\n#endif\n");
}

/* The dot-product kernel and the register-block products (float, AVX-512). */
static void dnk_small_kernels(dn_buf *c, const dn_cg_ctx *ctx) {
  dn_buf_printf(c, "#if defined(__AVX512F__)\n");
  dnk_dots_text(c);
  for (int i = 0; i < ctx->nreg; i++) dnk_reg_text(c, &ctx->reg[i]);
  dn_buf_printf(c, "#endif\n");
}

void dn_kgemm_helpers(dn_buf *c, const dn_cg_ctx *ctx) {
  int dbl = strcmp(ctx->real, "double") == 0;
  if (ctx->need & DN_KNEED_CBLAS) dn_buf_printf(c, "#include <cblas.h>\n");
  if (!(ctx->need & DN_KNEED_GEMM)) {
    if (ctx->need & DN_KNEED_SMALL) {  /* --blas: only the small products dnncc keeps */
      dn_buf_printf(c, "/* --- dnncc kernels: small products (dot products, register blocks) --- */\n");
      dnk_preamble(c);
      dnk_small_kernels(c, ctx);
    }
    return;
  }
  dn_buf_printf(c, "/* --- dnncc kernels: tiled GEMM (register-blocked micro-kernel, packed panels) --- */\n");
  dnk_preamble(c);
  dn_buf_printf(c, "typedef %s dnk_real;\n%s#define DNK_THREADS %d\n", ctx->real, dbl ? "" : "#define DNK_F32 1\n",
                ctx->threads > 1 ? ctx->threads : 1);
  dn_buf_printf(c, "#if defined(__AVX512F__)\n#define DNK_NR %d\n#else\n#define DNK_NR %d\n#endif\n", dbl ? 16 : 32,
                dbl ? 8 : 16);
  dn_buf_append(c, dnk_views_text, sizeof dnk_views_text - 1);
  dn_buf_append(c, dnk_pack_text, sizeof dnk_pack_text - 1);
  dnk_micro_text(c, dbl);
  dnk_vec_text(c, dbl);
  if (!dbl) dnk_small_kernels(c, ctx);
  /* the threaded loop in a function of its own, called only when it runs threaded: a loop
   * with an OpenMP pragma is outlined even when its `if` is false, and the serial batch-1
   * layers then ran out of line (MLP inference at 2 threads 13.3-16.0 us, 8.0 at 1) */
  dn_buf_printf(c, dnk_small_text,
                ctx->threads > 1 ? "static void dnk_gemm_small_par(long M, long N, long K, const dnk_view *A, const dnk_view *B,\n"
                                   "                               const dnk_outv *C, int acc) {\n"
                                   "  long jc;\n"
                                   "#pragma omp parallel for schedule(static) num_threads(DNK_THREADS)\n"
                                   "  for (jc = 0; jc < N; jc += 512) dnk_gemm_small_cols(jc, M, N, K, A, B, C, acc);\n"
                                   "}\n"
                                   : "",
                ctx->threads > 1 ? "  if (par && N > 512) {\n    dnk_gemm_small_par(M, N, K, A, B, C, acc);\n    return;\n  }\n"
                                   : "  (void)par;\n");
  dn_buf_printf(c, dnk_driver_text,
                ctx->threads > 1 ? "static void dnk_gemm_par(long nt, long ni, long mg, long ncw, long M, long N, long K, const dnk_view *A,\n"
                                   "                         const dnk_view *B, const dnk_outv *C, int acc, const dnk_real *apk) {\n"
                                   "  long tile;\n"
                                   "#pragma omp parallel for schedule(static) num_threads(DNK_THREADS)\n"
                                   "  for (tile = 0; tile < nt; ++tile) dnk_gemm_tile(tile, ni, mg, ncw, M, N, K, A, B, C, acc, apk);\n"
                                   "}\n"
                                   : "",
                ctx->threads > 1 ? "  if (par && nt > 1) {\n    dnk_gemm_par(nt, ni, mg, ncw, M, N, K, A, B, C, acc, apk);\n    return;\n  }\n"
                                   : "  (void)par;\n");
  if (ctx->threads > 1)  /* see dn_kgemm_emit */
    dn_buf_printf(c, "/* C (+)= A @ B with the rows of A and C split in DNK_THREADS parts, one per thread. */\n"
                     "DNK_MAYBE_UNUSED static void dnk_gemm_rows(long M, long N, long K, const dnk_view *A, const dnk_view *B,\n"
                     "                                           const dnk_outv *C, int acc) {\n"
                     "  long h;\n"
                     "#pragma omp parallel for schedule(static) num_threads(DNK_THREADS)\n"
                     "  for (h = 0; h < DNK_THREADS; ++h) {\n"
                     "    dnk_view a = *A;\n"
                     "    dnk_outv c = *C;\n"
                     "    long m0 = h * M / DNK_THREADS, m1 = (h + 1) * M / DNK_THREADS;\n"
                     "    a.p += m0 * A->rs, c.p += m0 * C->ld;\n"
                     "    dnk_gemm(m1 - m0, N, K, &a, B, &c, acc, 0, NULL);\n"
                     "  }\n"
                     "}\n");
  if (ctx->need & (DN_KNEED_DCONV | DN_KNEED_WG44 | DN_KNEED_WG35 | DN_KNEED_WG44R | DN_KNEED_WG35R | DN_KNEED_WG83R)) {
    /* the threaded loop is a function of its own: a function with an OpenMP region is not
     * inlined, and the serial kernels are much faster inlined with their sizes as constants */
    dn_buf_printf(c, dnk_dconv_text,
                  ctx->threads > 1 ? "/* The same, output vectors spread over the threads (one sample). */\n"
                                     "DNK_MAYBE_UNUSED static void dnk_dconv_par(long M, long K, long nv, const float *pa, const int *off, const float *xp,\n"
                                     "                                           const unsigned short *mk, const unsigned short *sm, const int *oi, float *y,\n"
                                     "                                           long ldy, int acc, const float *bias, int relu) {\n"
                                     "  long v;\n"
                                     "#pragma omp parallel for schedule(static) num_threads(DNK_THREADS)\n"
                                     "  for (v = 0; v < nv; v += 2) dnk_dconv_v(v, M, K, pa, off, xp, mk, sm, oi, y, ldy, acc, bias, relu);\n"
                                     "}\n"
                                     : "");
    dn_buf_printf(c, "#if defined(__AVX512F__)\n");
    if (ctx->need & DN_KNEED_WINO) {
      dn_buf_append(c, dnk_wino_text, sizeof dnk_wino_text - 1);
      if (ctx->threads > 1) dn_buf_append(c, dnk_wino_par_text, sizeof dnk_wino_par_text - 1);
    }
    if (ctx->need & DN_KNEED_WG44) dnk_wg_text(c, 4, 4, 0);
    if (ctx->need & DN_KNEED_WG35) dnk_wg_text(c, 3, 5, 0);
    if (ctx->need & DN_KNEED_WG44R) dnk_wg_text(c, 4, 4, 1);
    if (ctx->need & DN_KNEED_WG35R) dnk_wg_text(c, 3, 5, 1);
    if (ctx->need & DN_KNEED_WG83R) dnk_wg_text(c, 8, 3, 1);
    dn_buf_printf(c, "#endif\n");
  }
}

/* --- GEMM nodes ------------------------------------------------------------------- */

/* Prints `C_b = op(A_b) @ op(B_b)` through cblas_sgemm. */
static void dnk_gemm_blas(dn_buf *c, const dn_gemm *g, const char *out, const char *const *in) {
  const char *acc = g->sc == 0 && g->nb > 1 ? "dk_b > 0 ? 1.0f : 0.0f" : "0.0f";
  dn_buf_printf(c,
                "    cblas_sgemm(CblasRowMajor, %s, %s, %lld, %lld, %lld, 1.0f, (%s) + dk_b * %lld, %lld, (%s) + dk_b * "
                "%lld, %lld, %s, (%s) + dk_b * %lld, %lld);\n",
                g->ta ? "CblasTrans" : "CblasNoTrans", g->tb ? "CblasTrans" : "CblasNoTrans", (long long)g->m,
                (long long)g->n, (long long)g->k, in[0], (long long)g->sa, (long long)(g->ta ? g->m : g->k), in[1],
                (long long)g->sb, (long long)(g->tb ? g->k : g->n), acc, out, (long long)g->sc, (long long)g->n);
}

/* Products of fewer flops do not split their column tiles over the threads: that saved
 * nothing on them and the serial consumer of the result then read it from the other core's
 * cache (LeNet-5's dense layers, 0.1-6 MFLOP each: 2-thread training step 1358 -> 1300 us
 * serial). From DNK_ROWS_FLOP on, with rows for every thread (a batch of samples), each
 * thread takes its share of the rows instead (dnk_gemm_rows: the samples each thread
 * produced in the loops before; 2-thread training steps, LeNet-5 998-1037 -> 972-1031 us,
 * MLP 319-327 -> 308-311 us). */
#define DNK_PAR_FLOP (16.0 * 1024 * 1024)
#define DNK_ROWS_FLOP (1024.0 * 1024)

/* Products with the weight on the right, stored [N, K] (B transposed: a dense layer's
 * x @ W^T), for more outputs than rows (N > M >= 16, a batch through a wide layer): the
 * tiled GEMM packs its right operand, here the whole weight in every call (CIFAR CNN
 * 4096 -> 256: a quarter of the product's time); computed as W @ x^T it packs x instead.
 * With threads it also replaces the row split of 1-16 MFLOP products (each thread packed the
 * whole weight): LeNet-5's 400 -> 120 forward on one thread, 58-60 -> 50-52 us, and the
 * 2-thread step 1300 -> 1240-1276 us. Only while C^T stays in the L2 cache (at most
 * DNK_SWAP_BYTES): its transposition into C reads it once per 16 rows of C. A wide layer's
 * C^T did not (256 -> 4096, a training step's forward at 1 thread: batch 64, 1 MB of C^T,
 * 93-99 GFLOP/s swapped, 133-144 not; batch 256, 95 against 174-178; 1024 -> 1024 at batch
 * 256, 160-162 against 177-183). */
#define DNK_SWAP_BYTES (256 * 1024)
static int dnk_swap_ok(const dn_cg_ctx *ctx, const dn_gemm *g) {
  return g->tb && !g->ta && (g->nb == 1 || g->sc != 0) && g->m >= 16 && g->n > g->m && ctx->scratch &&
         dn_kscratch_bytes(ctx, (long long)g->m * g->n) <= DNK_SWAP_BYTES;
}

/* Weight gradients dy^T @ x (A transposed) with more rows than columns, at most 64 of
 * them (a layer of more outputs than inputs: an LSTM's 4 x 128 gates over 64 inputs): the
 * tiled GEMM packs A^T, M x K, six values per K step, for only N columns of C; computed as
 * C^T = B^T @ A it packs the N x K side that way (once, dnk_pack_a_all) and A, rows
 * contiguous, as the right operand (whole vectors). LSTM training step, batch 64 x 32
 * steps (K = 2048), [512 x 64]: 133-135 -> 152-156 GFLOP/s; [512 x 128] (over the states)
 * gained nothing (157-160 against 154-162: the pack was spread over 128 columns), hence
 * the 64. While C^T fits in DNK_SWAP_BYTES, as for dnk_swap_ok; one product, more than
 * DNK_REG_DIM columns and terms (else a register-block product). */
static int dnk_swap_ta_ok(const dn_cg_ctx *ctx, const dn_gemm *g) {
  return g->ta && !g->tb && g->nb == 1 && g->m > g->n && g->n > 12 && g->n <= 64 && g->k > 12 && ctx->scratch &&
         dn_kscratch_bytes(ctx, (long long)g->m * g->n) <= DNK_SWAP_BYTES;
}

/* The register-block product for a serial float product with B's rows contiguous and M
 * (few_k 0) or else K at most DNK_REG_DIM (see dnk_reg_text), with the mask epilogue when
 * mask (few_k only); dim 0 when none applies. */
#define DNK_REG_DIM 12
static dn_kreg dnk_reg_of(const dn_cg_ctx *ctx, const dn_gemm *g, int mask) {
  dn_kreg r = {0, 0, 0, 0, 0};
  if (g->tb || strcmp(ctx->real, "float") != 0 || (g->m > DNK_REG_DIM && g->k > DNK_REG_DIM)) return r;
  if (mask && g->m <= DNK_REG_DIM) return r;
  return (dn_kreg){g->m > DNK_REG_DIM, (int)(g->m > DNK_REG_DIM ? g->k : g->m), g->ta ? 1 : g->k, g->ta ? g->m : 1, mask};
}

/* r's index among ctx's register-block products, -1 if it is not one of them. */
static int dnk_reg_find(const dn_cg_ctx *ctx, const dn_kreg *r) {
  for (int i = 0; i < ctx->nreg; i++)
    if (ctx->reg[i].few_k == r->few_k && ctx->reg[i].dim == r->dim && ctx->reg[i].ars == r->ars &&
        ctx->reg[i].acs == r->acs && ctx->reg[i].mask == r->mask)
      return i;
  return -1;
}

/* dnk_reg_of's product registered in ctx; NULL when none applies or the file has
 * DN_KREG_MAX of them already. */
static const dn_kreg *dnk_reg_pick(dn_cg_ctx *ctx, const dn_gemm *g, int mask) {
  dn_kreg r = dnk_reg_of(ctx, g, mask);
  if (!r.dim) return NULL;
  int i = dnk_reg_find(ctx, &r);
  if (i >= 0) return &ctx->reg[i];
  if (ctx->nreg == DN_KREG_MAX) return NULL;
  ctx->reg[ctx->nreg] = r;
  return &ctx->reg[ctx->nreg++];
}

/* Does dnk_gemm_own split this product's rows over the threads (dnk_gemm_rows), or its
 * tiles (par)? */
static int dnk_own_rows(const dn_cg_ctx *ctx, const dn_gemm *g, int outer_par, double flop) {
  return ctx->threads > 1 && !outer_par && flop < DNK_PAR_FLOP && flop >= DNK_ROWS_FLOP && !g->ta && g->m >= 16 * ctx->threads;
}
static int dnk_own_par(const dn_cg_ctx *ctx, int outer_par, double flop) {
  return ctx->threads > 1 && !outer_par && flop >= DNK_PAR_FLOP;
}

int dn_cg_gemm_mask_ok(const dn_cg_ctx *ctx, const dn_node *n) {
  const dn_gemm *g = &n->gemm;
  double flop = 2.0 * (double)g->m * (double)g->n * (double)g->k;
  dn_kreg r = dnk_reg_of(ctx, g, 1);
  /* one product (no batch loop, so no outer threads), run by dnk_gemm_own (with --blas too:
   * K <= DNK_REG_DIM < DNK_OWN_SIDE) as register-block product r */
  return n->op == DN_OP_GEMM && g->nb == 1 && r.dim && !dnk_own_rows(ctx, g, 0, flop) && !dnk_own_par(ctx, 0, flop) &&
         (dnk_reg_find(ctx, &r) >= 0 || ctx->nreg < DN_KREG_MAX);
}

void dn_cg_gemm_mask_reserve(dn_cg_ctx *ctx, const dn_node *n) {
  if (!dnk_reg_pick(ctx, &n->gemm, 1)) dn_die("gemm: no room for a masked register-block product");
}

/* Prints `#if defined(__AVX512F__)`, the call of register-block kernel r (of dnk_gemm_dots
 * when r is NULL) on product g with operands a, b and result c (C expressions of this
 * product's element 0), and `#else`: the caller prints the portable call and `#endif`. */
static void dnk_small_call(dn_buf *out, const dn_kreg *r, const dn_gemm *g, const char *a, const char *b, const char *c,
                           const char *acc) {
  dn_buf_printf(out, "#if defined(__AVX512F__)\n    ");
  if (r) {
    dnk_reg_name(out, r);
    dn_buf_printf(out, "(%lld, %lld, %lld, %s, %s, %s, %s);\n", (long long)g->m, (long long)g->n, (long long)g->k, a, b, c, acc);
  } else {
    dn_buf_printf(out, "dnk_gemm_dots(%lld, %lld, %lld, %s, %lld, %s, %lld, %s, %lld, %s);\n", (long long)g->m, (long long)g->n,
                  (long long)g->k, a, (long long)g->k, b, (long long)g->k, c, (long long)g->n, acc);
  }
  dn_buf_printf(out, "#else\n");
}

/* Prints C_b = op(A_b) @ op(B_b) computed transposed (dnk_swap_ok, dnk_swap_ta_ok): C^T
 * [N x M] = W @ X into the scratch area, then put in place by dnk_untranspose; `views`
 * declares dk_wa (W, [N x K]) and dk_xb (X, [K x M]) over dk_va and dk_vb. With pack_w, W is
 * packed once (dnk_pack_a_all) into the scratch area after C^T. */
static void dnk_swapped(dn_buf *c, dn_cg_ctx *ctx, const dn_gemm *g, const char *views, int par, int pack_w) {
  long long ct = dn_kscratch_bytes(ctx, (long long)g->m * g->n);
  dn_kneed_scratch(ctx, ct + (pack_w ? dn_kscratch_bytes(ctx, dnk_pack_all_size(g->n, g->k)) : 0));
  dn_buf_printf(c, "    dnk_real *dk_ct = (dnk_real *)(%s);\n    dnk_view %s;\n    dnk_outv dk_vt = dnk_out(dk_ct, %lld, 1);\n",
                ctx->scratch, views, (long long)g->m);
  dn_buf_printf(c, "    dnk_gemm(%lld, %lld, %lld, &dk_wa, &dk_xb, &dk_vt, 0, %d, ", (long long)g->n, (long long)g->m, (long long)g->k,
                par);
  if (pack_w)
    dn_buf_printf(c, "dnk_pack_a_all(%lld, %lld, &dk_wa, (dnk_real *)((%s) + %lld)));\n", (long long)g->n, (long long)g->k,
                  ctx->scratch, ct);
  else
    dn_buf_printf(c, "NULL);\n");
  dn_buf_printf(c, "    dnk_untranspose(%lld, %lld, dk_ct, dk_vc.p, %lld);\n", (long long)g->m, (long long)g->n, (long long)g->n);
}

/* Prints dnncc's own product C_b = op(A_b) @ op(B_b) (inside the batch loop of dn_kgemm_emit):
 * swapped (dnk_swap_ok, dnk_swap_ta_ok), split by rows over the threads, a register-block
 * product, or the tiled GEMM. */
static void dnk_gemm_own(dn_buf *c, dn_cg_ctx *ctx, const dn_gemm *g, const char *out, const char *const *in, const char *acc,
                         int outer_par, double flop) {
  dn_buf_printf(c, "    dnk_view dk_va = dnk_dense((%s) + dk_b * %lld, %lld, %lld);\n", in[0], (long long)g->sa,
                (long long)(g->ta ? 1 : g->k), (long long)(g->ta ? g->m : 1));
  dn_buf_printf(c, "    dnk_view dk_vb = dnk_dense((%s) + dk_b * %lld, %lld, %lld);\n", in[1], (long long)g->sb,
                (long long)(g->tb ? 1 : g->n), (long long)(g->tb ? g->k : 1));
  dn_buf_printf(c, "    dnk_outv dk_vc = dnk_out((%s) + dk_b * %lld, %lld, 1);\n", out, (long long)g->sc, (long long)g->n);
  int rows = dnk_own_rows(ctx, g, outer_par, flop), par = dnk_own_par(ctx, outer_par, flop);
  if (dnk_swap_ok(ctx, g) && !outer_par)  /* one scratch area: not in the threaded batch loop */
    /* the weight B^T (N rows) is read in place by the micro-kernel and only A (M < N rows) is packed */
    dnk_swapped(c, ctx, g, "dk_wa = dnk_dense(dk_vb.p, dk_vb.cs, 1), dk_xb = dnk_dense(dk_va.p, 1, dk_va.rs)", par, 0);
  else if (dnk_swap_ta_ok(ctx, g) && !outer_par)
    /* B^T (N <= 64 rows) packed, A (rows contiguous) the right operand */
    dnk_swapped(c, ctx, g, "dk_wa = dnk_dense(dk_vb.p, 1, dk_vb.rs), dk_xb = dnk_dense(dk_va.p, dk_va.cs, 1)", par, 1);
  else if (rows)
    dn_buf_printf(c, "    dnk_gemm_rows(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, %s);\n", (long long)g->m, (long long)g->n,
                  (long long)g->k, acc);
  else {
    const dn_kreg *r = par ? NULL : dnk_reg_pick(ctx, g, 0);
    /* A transposed (a weight gradient dy^T @ x) cannot be read in place: every column tile of
     * C packed all of it again. With more than one tile, where dnk_gemm does not pack A once
     * itself (M <= DNK_MC and K <= DNK_KC), it is packed once into the scratch area */
    int pre = !r && g->ta && !outer_par && g->m > 4 && g->n > DNK_NC_E && (g->m > DNK_MC_E || g->k > DNK_KC_E);
    if (r) dnk_small_call(c, r, g, "dk_va.p", "dk_vb.p", "dk_vc.p", acc);
    if (pre) {
      dn_kneed_scratch(ctx, dn_kscratch_bytes(ctx, dnk_pack_all_size(g->m, g->k)));
      dn_buf_printf(c, "    dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, %s, %d, dnk_pack_a_all(%lld, %lld, &dk_va, (dnk_real *)(%s)));\n",
                    (long long)g->m, (long long)g->n, (long long)g->k, acc, par, (long long)g->m, (long long)g->k, ctx->scratch);
    } else {
      dn_buf_printf(c, "    dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, %s, %d, NULL);\n", (long long)g->m, (long long)g->n,
                    (long long)g->k, acc, par);
    }
    if (r) dn_buf_printf(c, "#endif\n");
  }
}

/* With --blas openblas, the products with at most DNK_OWN_SIDE rows (a batch of samples
 * through a layer: the forward and data gradient) or terms per sum (its weight gradient) run
 * dnncc's kernels on AVX-512 and cblas_sgemm elsewhere. OpenBLAS packs both operands on every
 * call; measured inside training steps at 1 thread (dense layers 4096 -> 256, 784 -> 256,
 * 256 -> 4096, 1024 -> 1024, 512 -> 512; forward / data gradient / weight gradient GFLOP/s,
 * docs/performance.md): batch 16, dnncc 97-115 / 76-102 / 100-162, OpenBLAS 40-72 / 75-111 /
 * 57-116; batch 64, dnncc 127-179 / 127-171 / 125-172, OpenBLAS 95-147 / 125-175 / 105-177;
 * from batch 256 on OpenBLAS was as fast or faster (weight gradients of 1024 terms: 155-183
 * against 138-153, 168-176 since A is packed once, dnk_gemm_own). */
#define DNK_OWN_SIDE 64

/* Prints out = (A @ B) * (ctx->epi_mask > 0 ? 1 : 0) for a product dn_cg_gemm_mask_ok
 * accepts: on AVX-512 its register-block product with the mask applied as it stores, which
 * may overwrite the mask in place; elsewhere the product into its own buffer ctx->epi_tmp
 * (cblas_sgemm with --blas) and a loop. */
static void dnk_gemm_masked(dn_buf *c, dn_cg_ctx *ctx, const dn_gemm *g, const char *out, const char *const *in) {
  const dn_kreg *r = dnk_reg_pick(ctx, g, 1);
  if (!r || !ctx->epi_tmp) dn_die("gemm: a mask epilogue on a product that cannot take it");
  long long cnt = (long long)g->m * g->n;
  dn_buf_printf(c, "{  /* gemm: [%lld x %lld] @ [%lld x %lld]%s, times (mask > 0) */\n#if defined(__AVX512F__)\n  ",
                (long long)g->m, (long long)g->k, (long long)g->k, (long long)g->n, g->ta ? ", A transposed" : "");
  dnk_reg_name(c, r);
  dn_buf_printf(c, "(%lld, %lld, %lld, %s, %s, %s, %s);\n#else\n", (long long)g->m, (long long)g->n, (long long)g->k, in[0], in[1],
                out, ctx->epi_mask);
  if (ctx->blas) {
    dn_buf_printf(c, "  {\n  const long dk_b = 0;\n");
    dnk_gemm_blas(c, g, ctx->epi_tmp, in);
    dn_buf_printf(c, "  }\n");
  } else {
    dn_buf_printf(c, "  {\n    dnk_view dk_va = dnk_dense(%s, %lld, %lld), dk_vb = dnk_dense(%s, %lld, 1);\n", in[0],
                  (long long)(g->ta ? 1 : g->k), (long long)(g->ta ? g->m : 1), in[1], (long long)g->n);
    dn_buf_printf(c, "    dnk_outv dk_vc = dnk_out(%s, %lld, 1);\n    dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, 0, 0, NULL);\n  }\n",
                  ctx->epi_tmp, (long long)g->n, (long long)g->m, (long long)g->n, (long long)g->k);
  }
  dn_buf_printf(c, "  {\n    long dk_i;\n    for (dk_i = 0; dk_i < %lld; ++dk_i) (%s)[dk_i] = (%s)[dk_i] * ((%s)[dk_i] > 0 ? 1.0f : 0.0f);\n  }\n"
                   "#endif\n}\n", cnt, out, ctx->epi_tmp, ctx->epi_mask);
}

int dn_kgemm_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  const dn_gemm *g = &n->gemm;
  if (ctx->epi_mask) {
    ctx->need |= DN_KNEED_GEMM | (ctx->blas ? DN_KNEED_CBLAS : 0);
    dnk_gemm_masked(c, ctx, g, out, in);
    return 0;
  }
  int blas = ctx->blas && strcmp(ctx->real, "float") == 0;
  double flop = 2.0 * (double)g->m * (double)g->n * (double)g->k;
  int outer_par = ctx->threads > 1 && g->nb > 1 && g->sc != 0 && flop * (double)g->nb >= DNK_PAR_FLOP;
  const char *acc = g->sc == 0 && g->nb > 1 ? "dk_b > 0" : "0";  /* a summed batch adds to C after the first */
  /* --blas: on AVX-512, products of at most DNK_OWN_SIDE rows or terms per sum stay dnncc's */
  int own = blas && !outer_par && (g->m <= DNK_OWN_SIDE || g->k <= DNK_OWN_SIDE);
  ctx->need |= blas ? DN_KNEED_CBLAS : DN_KNEED_GEMM;
  if (own) ctx->need |= DN_KNEED_GEMM;
  dn_buf_printf(c, "{  /* gemm: %lld x [%lld x %lld] @ [%lld x %lld]%s%s%s */\n  long dk_b;\n", (long long)g->nb,
                (long long)g->m, (long long)g->k, (long long)g->k, (long long)g->n, g->ta ? ", A transposed" : "",
                g->tb ? ", B transposed" : "", g->sc == 0 && g->nb > 1 ? ", summed" : "");
  if (outer_par) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_b = 0; dk_b < %lld; ++dk_b) {\n", (long long)g->nb);
  if (own) {
    dn_buf_printf(c, "#if defined(__AVX512F__)\n");
    dnk_gemm_own(c, ctx, g, out, in, acc, outer_par, flop);
    dn_buf_printf(c, "#else\n");
    dnk_gemm_blas(c, g, out, in);
    dn_buf_printf(c, "#endif\n");
  } else if (blas) {
    /* more than DNK_OWN_SIDE rows and terms (the register-block products, at most
     * DNK_REG_DIM, are all own above): products under DNK_ROWS_FLOP of few columns still stay
     * dnncc's on AVX-512, through dnk_gemm_dots (OpenBLAS ran a classifier's 0.3 MFLOP
     * products at 26-64% of its own 1024^3 speed, dnncc's kernels at 52-112%;
     * docs/performance.md) */
    int dots = flop < DNK_ROWS_FLOP && !outer_par && g->tb && !g->ta && g->n <= 16 && g->k >= 32 && g->m > 4;
    if (dots) {
      ctx->need |= DN_KNEED_SMALL;
      dnk_small_call(c, NULL, g, dn_fmt("(%s) + dk_b * %lld", in[0], (long long)g->sa),
                     dn_fmt("(%s) + dk_b * %lld", in[1], (long long)g->sb), dn_fmt("(%s) + dk_b * %lld", out, (long long)g->sc),
                     acc);
    }
    dnk_gemm_blas(c, g, out, in);
    if (dots) dn_buf_printf(c, "#endif\n");
  } else {
    dnk_gemm_own(c, ctx, g, out, in, acc, outer_par, flop);
  }
  dn_buf_printf(c, "  }\n}\n");
  return 0;
}

/* --- convolutions ------------------------------------------------------------------- */

/* Reads the geometry: x [.., C, H, W] (or [.., C, L] when the weight has rank 3), y alike. */
static dn_kconv dnk_geometry(const dn_node *n) {
  dn_kconv k;
  const dn_node *x = n->op == DN_OP_CONV2D ? n->in[0] : n->op == DN_OP_CONV2D_BWD_W ? n->in[1] : n;
  const dn_node *y = n->op == DN_OP_CONV2D ? n : n->in[0];
  dn_shape ws = n->op == DN_OP_CONV2D_BWD_W ? n->shape : n->in[1]->shape;
  int sp = ws.rank == 3 ? 1 : 2, rx = x->shape.rank, ry = y->shape.rank;
  memset(&k, 0, sizeof k);
  k.win = n->win;
  if (sp == 1) k.win.kh = k.win.sh = k.win.dh = 1, k.win.ph = 0;
  k.g = n->win.groups > 0 ? n->win.groups : 1;
  k.c = x->shape.dim[rx - 1 - sp];
  k.h = sp == 2 ? x->shape.dim[rx - 2] : 1;
  k.w = x->shape.dim[rx - 1];
  k.f = y->shape.dim[ry - 1 - sp];
  k.oh = sp == 2 ? y->shape.dim[ry - 2] : 1;
  k.ow = y->shape.dim[ry - 1];
  k.n = dn_shape_count(x->shape) / (k.c * k.h * k.w);
  return k;
}

/* 1x1, stride 1, no padding, same size: the convolution is a plain GEMM over x [C, H*W]. */
static int dnk_pointwise(const dn_kconv *k) {
  const dn_window *w = &k->win;
  return w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 && w->ph == 0 && w->pw == 0 && k->h == k->oh &&
         k->w == k->ow;
}

/* Prints `dnk_geo(...)` for the im2col matrix of one group. */
static void dnk_geo_arg(dn_buf *c, const dn_kconv *k) {
  const dn_window *w = &k->win;
  dn_buf_printf(c, "dnk_geo(%lld, %lld, %lld, %d, %d, %d, %d, %d, %d, %d, %d, %lld, %lld)", (long long)(k->c / k->g),
                (long long)k->h, (long long)k->w, w->kh, w->kw, w->sh, w->sw, w->ph, w->pw, w->dh > 0 ? w->dh : 1,
                w->dw > 0 ? w->dw : 1, (long long)k->oh, (long long)k->ow);
}

/* Opens `for n: for g:` with the per-(n, g) offsets dk_x (input), dk_y (output); n runs
 * over all samples, or over [lo, hi) (C expressions) when lo is given. */
static void dnk_conv_loops(dn_buf *c, const dn_cg_ctx *ctx, const dn_kconv *k, int par_n, const char *lo, const char *hi) {
  long long hw = k->h * k->w, ohw = k->oh * k->ow, cg = k->c / k->g, fg = k->f / k->g;
  dn_buf_printf(c, "  long dk_n;\n");
  if (par_n && ctx->threads > 1 && k->n > 1) dn_kpar_for(c, ctx);
  if (lo) dn_buf_printf(c, "  for (dk_n = %s; dk_n < %s; ++dk_n) {\n    long dk_g;\n", lo, hi);
  else dn_buf_printf(c, "  for (dk_n = 0; dk_n < %lld; ++dk_n) {\n    long dk_g;\n", (long long)k->n);
  dn_buf_printf(c, "    for (dk_g = 0; dk_g < %lld; ++dk_g) {\n", (long long)k->g);
  dn_buf_printf(c, "      long dk_x = (dk_n * %lld + dk_g * %lld) * %lld, dk_y = (dk_n * %lld + dk_g * %lld) * %lld;\n",
                (long long)k->c, cg, hw, (long long)k->f, fg, ohw);
}

/* Packs each group's weight matrix once (dk_pa[g], in the scratch area from byte `at`) for
 * all samples and column tiles. Returns the scratch bytes it used. */
static long long dnk_prepack(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *w, long long m, long long kd,
                             long long rs, long long cs, long long at) {
  long long per = dnk_pack_all_size(m, kd), bytes = dn_kscratch_bytes(ctx, per * k->g);
  dn_kneed_scratch(ctx, at + bytes);
  dn_buf_printf(c, "  dnk_real *dk_pa[%lld];\n  { long dk_g; for (dk_g = 0; dk_g < %lld; ++dk_g) {\n", (long long)k->g,
                (long long)k->g);
  dn_buf_printf(c, "    dnk_view dk_wa = dnk_dense((%s) + dk_g * %lld, %lld, %lld);\n", w, m * kd, rs, cs);
  dn_buf_printf(c, "    dk_pa[dk_g] = dnk_pack_a_all(%lld, %lld, &dk_wa, (dnk_real *)((%s) + %lld) + dk_g * %lld);\n  } }\n", m,
                kd, ctx->scratch, at, per);
  return bytes;
}

void dn_kpar_for(dn_buf *c, const dn_cg_ctx *ctx) {
  dn_buf_printf(c, "#pragma omp parallel for schedule(static) num_threads(%d)\n", ctx->threads);
}

long long dn_kchunks(const dn_cg_ctx *ctx, int64_t n) {
  return ctx->threads > 1 && n > 1 ? (ctx->threads < n ? ctx->threads : n) : 1;
}

void dn_kpart_sums(dn_buf *c, const dn_cg_ctx *ctx, long long nq, long long count, const char *out) {
  if (nq == 1) return;
  dn_buf_printf(c, "  for (dk_q = 1; dk_q < %lld; ++dk_q) {\n    long dk_i;\n    const %s *dk_t = dk_part + (dk_q - 1) * %lld;\n",
                nq, ctx->real, count);
  dn_buf_printf(c, "    for (dk_i = 0; dk_i < %lld; ++dk_i) (%s)[dk_i] += dk_t[dk_i];\n  }\n", count, out);
}

/* The wide-output geometry of a stride-1 convolution for the direct kernels: the padded
 * input [cg, hp, wp], the wide output's last index + 1 (end), and the input rows and columns
 * that land inside the padded buffer. */
typedef struct dnk_wide {
  long long dh, dw, kk, cg;   /* dilation, kernel elements, input channels per group */
  long long hp, wp, hw, end;  /* padded input rows, columns, their product; wide output end */
  long long r0, r1, x0, x1;   /* input rows [r0, r1) and columns [x0, x1) copied */
} dnk_wide;

static dnk_wide dnk_wide_geom(const dn_kconv *k) {
  const dn_window *w = &k->win;
  dnk_wide g;
  g.dh = w->dh > 0 ? w->dh : 1, g.dw = w->dw > 0 ? w->dw : 1, g.kk = (long long)w->kh * w->kw, g.cg = k->c / k->g;
  g.hp = k->oh + (w->kh - 1) * g.dh, g.wp = k->ow + (w->kw - 1) * g.dw, g.hw = g.hp * g.wp;
  g.end = (k->oh - 1) * g.wp + k->ow;
  g.r0 = w->ph < 0 ? -w->ph : 0, g.r1 = k->h < g.hp - w->ph ? k->h : g.hp - w->ph;
  g.x0 = w->pw < 0 ? -w->pw : 0, g.x1 = k->w < g.wp - w->pw ? k->w : g.wp - w->pw;
  return g;
}

/* Prints dk_off[p] for p < count: the offset of im2col row p = (c, ki, kj) in the padded
 * input, channels cstride apart; rows past `rows` get 0 (read, then dropped). */
static void dnk_print_offsets(dn_buf *c, const dnk_wide *g, const dn_window *w, long long count, long long rows,
                              long long cstride) {
  dn_buf_printf(c, "  for (dk_p = 0; dk_p < %lld; ++dk_p)\n", count);
  dn_buf_printf(c, "    dk_off[dk_p] = dk_p < %lld ? (int)(dk_p / %lld * %lld + dk_p %% %lld / %d * %lld + dk_p %% %d * %lld) : 0;\n",
                rows, g->kk, cstride, g->kk, w->kw, g->dh * g->wp, w->kw, g->dw);
}

/* Prints the copy of one sample's channels (x + dk_x) into slot `slot` of the padded buffer
 * dk_xp [cg, sn, hp, wp] (its padding stays zero from the start of the kernel). */
static void dnk_print_pad_copy(dn_buf *c, const dnk_wide *g, const dn_kconv *k, const char *x, long long sn, const char *slot,
                               const char *ind) {
  dn_buf_printf(c, "%sfor (dk_c = 0; dk_c < %lld; ++dk_c)\n%s  for (dk_r = %lld; dk_r < %lld; ++dk_r)\n", ind, g->cg, ind, g->r0,
                g->r1);
  dn_buf_printf(c, "%s    memcpy(dk_xp + ((dk_c * %lld + %s) * %lld + dk_r + %d) * %lld + %lld, (%s) + dk_x + (dk_c * %lld + dk_r) * %lld + %lld,\n"
                   "%s           %lld * sizeof(float));\n",
                ind, sn, slot, g->hp, k->win.ph, g->wp, g->x0 + k->win.pw, x, (long long)k->h, (long long)k->w, g->x0, ind,
                g->x1 - g->x0);
}

/* Opens the per-thread chunks of samples (q < nq, spread over the threads when nq > 1; chunk
 * q's padded input dk_xp at dk_xs + q * stride, its xps floats zeroed once) and, per
 * sample, copies the sample's channels of x into dk_xp (dnk_print_pad_copy); leaves the
 * sample and group loops of dnk_conv_loops open inside the chunk loop. */
static void dnk_print_sample_chunks(dn_buf *c, const dn_cg_ctx *ctx, const dn_kconv *k, const dnk_wide *g, const char *x,
                                    long long nq, long long stride, long long xps) {
  if (nq > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_q = 0; dk_q < %lld; ++dk_q) {\n    float *dk_xp = dk_xs + dk_q * %lld;\n", nq, stride);
  dn_buf_printf(c, "    long dk_i, dk_lo = dk_q * %lld / %lld, dk_hi = (dk_q + 1) * %lld / %lld;\n", (long long)k->n, nq,
                (long long)k->n, nq);
  dn_buf_printf(c, "    for (dk_i = 0; dk_i < %lld; ++dk_i) dk_xp[dk_i] = 0;\n", xps);
  dnk_conv_loops(c, ctx, k, 0, "dk_lo", "dk_hi");
  dn_buf_printf(c, "      long dk_c, dk_r;\n");
  dnk_print_pad_copy(c, g, k, x, 1, "0", "      ");
}

/* Can the direct kernel (dnk_dconv) run this forward-like convolution? Float code, stride 1,
 * and at least half of the wide output's columns valid. */
static int dnk_dconv_ok(const dn_cg_ctx *ctx, const dn_kconv *k) {
  dnk_wide g = dnk_wide_geom(k);
  return strcmp(ctx->real, "float") == 0 && k->win.sh == 1 && k->win.sw == 1 && !dnk_pointwise(k) && 2 * k->ow >= g.wp &&
         g.cg * g.hw < (1LL << 30);
}

/* Winograd F(2x2, 3x3) (dnk_wino) for a 3x3, stride-1, undilated, ungrouped convolution of
 * at least DNK_WINO_MIN input channels and filters and output rows of at least 12 (6 tiles:
 * at most a quarter of a tile row's 8 columns dropped). Tiles of DNK_WINO_TB columns. */
#define DNK_WINO_MIN 16
#define DNK_WINO_TB 64
static int dnk_wino_ok(const dn_kconv *k) {
  const dn_window *w = &k->win;
  return w->kh == 3 && w->kw == 3 && w->dh <= 1 && w->dw <= 1 && k->g == 1 && k->c >= DNK_WINO_MIN &&
         k->f >= DNK_WINO_MIN && k->ow >= 12 && k->oh >= 2;
}

/* Transforms of embedded weights (ctx->in_const) that dnncc computes itself. */
enum { DNK_DERIVED_WINO, DNK_DERIVED_DCONV };

/* The name of the file-scope array holding transform `kind` of the embedded weights w for
 * convolution k (count floats, put there by fill; the layouts depend on the weights' shape
 * and k's groups only), printed into ctx->data the first time; NULL when the file has
 * DN_KDERIVED_MAX of them already (the caller transforms at run time then). */
static const char *dnk_derived(dn_cg_ctx *ctx, const float *w, int kind, long long count,
                               void (*fill)(const float *w, const dn_kconv *k, float *d), const dn_kconv *k) {
  int i;
  for (i = 0; i < ctx->nderived; ++i)
    if (ctx->derived[i].w == w && ctx->derived[i].kind == kind && ctx->derived[i].groups == k->g)
      return dn_fmt("%s_wd%d", ctx->prefix, i);
  if (ctx->nderived == DN_KDERIVED_MAX || !ctx->data) return NULL;
  float *d = dn_alloc(sizeof *d * (size_t)count);
  fill(w, k, d);
  dn_buf_printf(ctx->data, "#if defined(DNK_DCONV) /* the kernels that read it */\n");
  dn_buf_printf(ctx->data, "static const float %s_wd%d[%lld] = { /* %s of embedded weights */", ctx->prefix, i, count,
                kind == DNK_DERIVED_WINO ? "Winograd transform" : "8-row panels");
  dn_cg_array_elems(ctx->data, "float", d, count);
  dn_buf_printf(ctx->data, "\n};\n#endif\n");
  ctx->derived[i].w = w, ctx->derived[i].kind = kind, ctx->derived[i].groups = k->g, ctx->nderived++;
  return dn_fmt("%s_wd%d", ctx->prefix, i);
}

/* What dnk_wino_u computes at run time, in double: U = G g G^T of every filter and channel
 * (g the 3x3 kernel), in the sixteen planes of mp * C + 16 floats, (f, c) of plane 4 i + j at
 * (f / 8 * 8) * C + c * 8 + f % 8, the rows past M zero. */
static void dnk_wino_u_fill(const float *w, const dn_kconv *k, float *u) {
  static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  long long M = k->f, C = k->c, mp = (M + 7) / 8 * 8, pk = mp * C + 16, f, ch;
  memset(u, 0, sizeof *u * (size_t)(16 * pk));
  for (f = 0; f < M; ++f)
    for (ch = 0; ch < C; ++ch) {
      const float *g = w + (f * C + ch) * 9;
      double t[4][3];
      for (int i = 0; i < 4; ++i)
        for (int s = 0; s < 3; ++s) t[i][s] = G[i][0] * g[s] + G[i][1] * g[3 + s] + G[i][2] * g[6 + s];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j)
          u[(4 * i + j) * pk + f / 8 * 8 * C + ch * 8 + f % 8] = (float)(t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
    }
}

/* Prints the Winograd path of dnk_dconv_emit (same arguments): the weights transformed once
 * (dnk_wino_u; rows over the threads for one sample; with wc, the values of embedded weights,
 * by dnncc into a const array instead), then per thread a padded input [c, hq, wq] (hq, wq:
 * the tiles' extent, even), the transformed tiles and products. */
static void dnk_wino_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *w, const float *wc, const char *x,
                          const char *y, long long at, const char *bias, int relu) {
  dnk_wide g = dnk_wide_geom(k);
  long long m = k->f, mp = (m + 7) / 8 * 8, cg = k->c, nty = (k->oh + 1) / 2, ntx = (k->ow + 1) / 2;
  long long ntxp = (ntx + 7) / 8 * 8, nh = nty * ntxp / 8, nq = dn_kchunks(ctx, k->n), tb = DNK_WINO_TB;
  long long us = 16 * (mp * cg + 16), xps = (cg * (2 * nty + 2) * (2 * ntx + 2) + 64 + 15) / 16 * 16;
  long long per = xps + 16 * (cg * tb + 16) + 16 * (mp * tb + 16);
  int inner = ctx->threads > 1 && nq == 1;
  g.hp = 2 * nty + 2, g.wp = 2 * ntx + 2;  /* the copy's strides; rows and columns copied as before */
  const char *uc = wc ? dnk_derived(ctx, wc, DNK_DERIVED_WINO, us, dnk_wino_u_fill, k) : NULL;
  ctx->need |= DN_KNEED_DCONV | DN_KNEED_WINO;
  if (uc) {
    dn_kneed_scratch(ctx, at + dn_kscratch_bytes(ctx, nq * per));
    dn_buf_printf(c, "  const float *dk_u = %s;\n  float *dk_xs = (float *)((char *)(%s) + %lld);\n  long dk_q;\n", uc,
                  ctx->scratch, at);
  } else {
    dn_kneed_scratch(ctx, at + dn_kscratch_bytes(ctx, us) + dn_kscratch_bytes(ctx, nq * per));
    dn_buf_printf(c, "  float *dk_u = (float *)((char *)(%s) + %lld), *dk_xs = (float *)((char *)(%s) + %lld);\n", ctx->scratch,
                  at, ctx->scratch, at + dn_kscratch_bytes(ctx, us));
    dn_buf_printf(c, "  long dk_q, dk_p;\n");
    if (inner) dn_kpar_for(c, ctx);
    dn_buf_printf(c, "  for (dk_p = 0; dk_p < %lld; dk_p += 8) dnk_wino_u(%s, %lld, %lld, dk_u, dk_p, dk_p + 8);\n", mp, w, m, cg);
  }
  dnk_print_sample_chunks(c, ctx, k, &g, x, nq, per, xps);
  dn_buf_printf(c, "      dnk_wino%s(%lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, %lld, dk_u, dk_xp, dk_xp + %lld, dk_xp + %lld, (%s) + dk_y, ",
                inner ? "_par" : "", m, cg, g.hp, g.wp, ntxp, nh, (long long)k->oh, (long long)k->ow, tb, xps,
                xps + 16 * (cg * tb + 16), y);
  dn_buf_printf(c, "%s, %d);\n    }\n  }\n  }\n", bias ? bias : "NULL", relu);
}

/* What dnk_dconv_pack computes at run time for every group of the weights w [g, m, kd]:
 * 8-row panels over all kd (panel i0 / 8 at i0 * kd, element (r, p) at p * 8 + r), the rows
 * past m zero, each group mp * kd floats. */
static void dnk_dconv_pack_fill(const float *w, const dn_kconv *k, float *d) {
  dnk_wide g = dnk_wide_geom(k);
  long long m = k->f / k->g, kd = g.cg * g.kk, mp = (m + 7) / 8 * 8, q, i0, p, r;
  for (q = 0; q < k->g; ++q)
    for (i0 = 0; i0 < mp; i0 += 8)
      for (p = 0; p < kd; ++p)
        for (r = 0; r < 8; ++r)
          d[q * mp * kd + i0 * kd + p * 8 + r] = i0 + r < m ? w[q * m * kd + (i0 + r) * kd + p] : 0;
}

/* Prints the direct-convolution path of y[n, g] = W_g @ im2col(x[n, g]) for a forward-like
 * geometry k (x [n, c, h, w], y [n, f, oh, ow], weights w [g, f/g, (c/g) kh kw] row-major),
 * using the scratch area from byte `at`: the packed weights, the offset and mask tables, and
 * one padded input per thread. Samples are split in --threads chunks; one sample: the
 * output vectors are. */
static void dnk_dconv_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *w, const float *wc, const char *x,
                           const char *y, long long at, const char *bias, int relu) {
  if (dnk_wino_ok(k)) {
    dnk_wino_emit(c, ctx, k, w, wc, x, y, at, bias, relu);
    return;
  }
  dnk_wide g = dnk_wide_geom(k);
  long long m = k->f / k->g, kd = g.cg * g.kk, mp = (m + 7) / 8 * 8, nv = (g.end + 31) / 32 * 2;
  long long xps = (g.cg * g.hw + 64 + 15) / 16 * 16, nq = dn_kchunks(ctx, k->n);
  const char *pc = wc ? dnk_derived(ctx, wc, DNK_DERIVED_DCONV, k->g * mp * kd, dnk_dconv_pack_fill, k) : NULL;
  long long o_off = at + (pc ? 0 : dn_kscratch_bytes(ctx, k->g * mp * kd)), o_mk = o_off + (kd * 4 + 63) / 64 * 64;
  long long o_sm = o_mk + (nv * 2 + 63) / 64 * 64, o_oi = o_sm + (nv * 2 + 63) / 64 * 64;
  long long o_xp = o_oi + (nv * 4 + 63) / 64 * 64;
  ctx->need |= DN_KNEED_DCONV;
  dn_kneed_scratch(ctx, o_xp + nq * xps * 4);
  dn_buf_printf(c, "  char *dk_s = (char *)(%s);\n  float *dk_xs = (float *)(dk_s + %lld);\n", ctx->scratch, o_xp);
  if (pc) dn_buf_printf(c, "  const float *dk_pd = %s;\n", pc);
  else dn_buf_printf(c, "  float *dk_pd = (float *)(dk_s + %lld);\n", at);
  dn_buf_printf(c, "  int *dk_off = (int *)(dk_s + %lld), *dk_oi = (int *)(dk_s + %lld);\n", o_off, o_oi);
  dn_buf_printf(c, "  unsigned short *dk_mk = (unsigned short *)(dk_s + %lld), *dk_sm = (unsigned short *)(dk_s + %lld);\n",
                o_mk, o_sm);
  dn_buf_printf(c, "  long dk_q, dk_p;\n");
  if (!pc) {
    dn_buf_printf(c, "  for (dk_p = 0; dk_p < %lld; ++dk_p) {\n", (long long)k->g);
    dn_buf_printf(c, "    dnk_dconv_pack((%s) + dk_p * %lld, %lld, %lld, dk_pd + dk_p * %lld);\n  }\n", w, m * kd, m, kd, mp * kd);
  }
  dnk_print_offsets(c, &g, &k->win, kd, kd, g.hw);
  dn_buf_printf(c, "  (void)dnk_dconv_plan(%lld, %lld, %lld, dk_mk, dk_sm, dk_oi);\n", (long long)k->oh, (long long)k->ow, g.wp);
  dnk_print_sample_chunks(c, ctx, k, &g, x, nq, xps, xps);
  dn_buf_printf(c, "      dnk_dconv%s(%lld, %lld, %lld, dk_pd + dk_g * %lld, dk_off, dk_xp, dk_mk, dk_sm, dk_oi, (%s) + dk_y, %lld, 0, ",
                ctx->threads > 1 && nq == 1 && nv > 2 ? "_par" : "", m, kd, nv, mp * kd, y, (long long)k->oh * k->ow);
  if (bias) dn_buf_printf(c, "(%s) + dk_g * %lld, %d);\n", bias, m, relu);
  else dn_buf_printf(c, "NULL, %d);\n", relu);
  dn_buf_printf(c, "    }\n  }\n  }\n");
}

static void dnk_conv_fwd(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in) {
  long long r = k->c / k->g * k->win.kh * k->win.kw, fg = k->f / k->g, ohw = k->oh * k->ow;
  int inner_par = ctx->threads > 1 && k->n == 1, direct = dnk_dconv_ok(ctx, k);
  if (direct) {
    dn_buf_printf(c, "#if defined(DNK_DCONV)\n");
    dnk_dconv_emit(c, ctx, k, in[1], ctx->in_const ? ctx->in_const[1] : NULL, in[0], out, 0, ctx->epi_bias, ctx->epi_relu);
    dn_buf_printf(c, "#else\n");
  }
  dnk_prepack(c, ctx, k, in[1], fg, r, r, 1, 0);
  dnk_conv_loops(c, ctx, k, 1, NULL, NULL);
  dn_buf_printf(c, "      dnk_view dk_va = dnk_dense((%s) + dk_g * %lld, %lld, 1);\n", in[1], fg * r, r);
  if (dnk_pointwise(k)) {
    dn_buf_printf(c, "      dnk_view dk_vb = dnk_dense((%s) + dk_x, %lld, 1);\n", in[0], ohw);
  } else {
    dn_buf_printf(c, "      dnk_view dk_vb = dnk_conv((%s) + dk_x, 1, ", in[0]);
    dnk_geo_arg(c, k);
    dn_buf_printf(c, ");\n");
  }
  dn_buf_printf(c, "      dnk_outv dk_vc = dnk_out((%s) + dk_y, %lld, 1);\n", out, ohw);
  dn_buf_printf(c, "      dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, 0, %d, dk_pa[dk_g]);\n", fg, ohw, r, inner_par);
  if (ctx->epi_bias || ctx->epi_relu) {  /* the fused epilogue over the sample's output, still in cache */
    dn_buf_printf(c, "      long dk_f, dk_j;\n      for (dk_f = 0; dk_f < %lld; ++dk_f) {\n        %s *dk_o = (%s) + dk_y + dk_f * %lld;\n",
                  fg, ctx->real, out, ohw);
    if (ctx->epi_bias) dn_buf_printf(c, "        const %s dk_bv = (%s)[dk_g * %lld + dk_f];\n", ctx->real, ctx->epi_bias, fg);
    dn_buf_printf(c, "        for (dk_j = 0; dk_j < %lld; ++dk_j) {\n          const %s dk_v = dk_o[dk_j]%s;\n", ohw, ctx->real,
                  ctx->epi_bias ? " + dk_bv" : "");
    dn_buf_printf(c, "          dk_o[dk_j] = %s;\n        }\n      }\n", ctx->epi_relu ? "dk_v > 0 ? dk_v : 0" : "dk_v");
  }
  dn_buf_printf(c, "    }\n  }\n");
  if (direct) dn_buf_printf(c, "#endif\n");
}

static void dnk_conv_bwd_data_col2im(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in) {
  long long r = k->c / k->g * k->win.kh * k->win.kw, fg = k->f / k->g, ohw = k->oh * k->ow, hw = k->h * k->w;
  int pw = dnk_pointwise(k);
  if (!pw)
    dn_buf_printf(c, "  { long dk_i; for (dk_i = 0; dk_i < %lld; ++dk_i) (%s)[dk_i] = 0; }\n", (long long)k->n * k->c * hw,
                  out);
  dnk_prepack(c, ctx, k, in[1], r, fg, 1, r, 0);
  dnk_conv_loops(c, ctx, k, 1, NULL, NULL);
  dn_buf_printf(c, "      dnk_view dk_va = dnk_dense((%s) + dk_g * %lld, 1, %lld);\n", in[1], fg * r, r);
  dn_buf_printf(c, "      dnk_view dk_vb = dnk_dense((%s) + dk_y, %lld, 1);\n", in[0], ohw);
  if (pw) {
    dn_buf_printf(c, "      dnk_outv dk_vc = dnk_out((%s) + dk_x, %lld, 1);\n", out, hw);
  } else {
    dn_buf_printf(c, "      dnk_outv dk_vc = dnk_col2im((%s) + dk_x, ", out);
    dnk_geo_arg(c, k);
    dn_buf_printf(c, ");\n");
  }
  dn_buf_printf(c, "      dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, %d, %d, dk_pa[dk_g]);\n    }\n  }\n", r, ohw, fg, !pw,
                ctx->threads > 1 && k->n == 1 && pw);
}

/* Stride 1, dilation 1: dx is the forward convolution of dy with the weights flipped in
 * space and transposed (W'[c, f] = W[f, c] rotated by 180 degrees), padded by k - 1 - p
 * before: dx_n,g = W'_g [Cg, Fg*kh*kw] @ im2col(dy_n,g). A gather instead of the col2im
 * scatter-add, and no zeroing of dx first (CIFAR CNN training step 152 -> 135 ms). */

/* dy's side of that forward convolution. */
static dn_kconv dnk_flipped(const dn_kconv *k) {
  dn_kconv t = *k;
  t.c = k->f, t.h = k->oh, t.w = k->ow, t.f = k->c, t.oh = k->h, t.ow = k->w;
  t.win.ph = k->win.kh - 1 - k->win.ph, t.win.pw = k->win.kw - 1 - k->win.pw;
  return t;
}

/* Prints W' into the scratch area (dk_wt); returns its bytes. */
static long long dnk_flip_weights(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *w) {
  long long kk = (long long)k->win.kh * k->win.kw, cg = k->c / k->g, fg = k->f / k->g;
  long long wbytes = dn_kscratch_bytes(ctx, (long long)k->f * cg * kk);
  dn_kneed_scratch(ctx, wbytes);
  dn_buf_printf(c, "  dnk_real *dk_wt = (dnk_real *)(%s);\n  {\n    long dk_g, dk_c, dk_f, dk_k;\n", ctx->scratch);
  dn_buf_printf(c, "    for (dk_g = 0; dk_g < %lld; ++dk_g)\n      for (dk_c = 0; dk_c < %lld; ++dk_c)\n", (long long)k->g, cg);
  dn_buf_printf(c, "        for (dk_f = 0; dk_f < %lld; ++dk_f)\n          for (dk_k = 0; dk_k < %lld; ++dk_k)\n", fg, kk);
  dn_buf_printf(c, "            dk_wt[((dk_g * %lld + dk_c) * %lld + dk_f) * %lld + dk_k] = (%s)[((dk_g * %lld + dk_f) * %lld + dk_c) * %lld + %lld - dk_k];\n  }\n",
                cg, fg, kk, w, fg, cg, kk, kk - 1);
  return wbytes;
}

/* The flipped convolution through the tiled GEMM (implicit im2col of dy); W' is at dk_wt,
 * its packed panels after it. */
static void dnk_conv_bwd_data_flip(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in,
                                   long long wbytes) {
  long long kk = (long long)k->win.kh * k->win.kw, cg = k->c / k->g, fg = k->f / k->g, hw = k->h * k->w;
  dnk_prepack(c, ctx, k, "dk_wt", cg, fg * kk, fg * kk, 1, wbytes);
  dnk_conv_loops(c, ctx, k, 1, NULL, NULL);
  dn_buf_printf(c, "      dnk_view dk_va = dnk_dense(dk_wt, 1, 1);\n");
  dn_buf_printf(c, "      dnk_view dk_vb = dnk_conv((%s) + dk_y, 1, dnk_geo(%lld, %lld, %lld, %d, %d, 1, 1, %d, %d, 1, 1, %lld, %lld));\n",
                in[0], fg, (long long)k->oh, (long long)k->ow, k->win.kh, k->win.kw, k->win.kh - 1 - k->win.ph,
                k->win.kw - 1 - k->win.pw, (long long)k->h, (long long)k->w);
  dn_buf_printf(c, "      dnk_outv dk_vc = dnk_out((%s) + dk_x, %lld, 1);\n", out, hw);
  dn_buf_printf(c, "      dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, 0, %d, dk_pa[dk_g]);\n    }\n  }\n", cg, hw, fg * kk,
                ctx->threads > 1 && k->n == 1);
}

/* Stride 1 with k - 1 - p >= 0: the flipped convolution through the direct kernel where it
 * is available (its cost does not depend on im2col packing, so LeNet's valid 5x5 pays too:
 * 1166 -> about 350 us); else through the GEMM for "same" convolutions (k - 1 - p <= p: otherwise
 * the transposed convolution runs over mostly padding, LeNet's valid 5x5 1.35x slower) and
 * col2im for the rest. */
static void dnk_conv_bwd_data(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in) {
  const dn_window *w = &k->win;
  int unit = w->sh == 1 && w->sw == 1 && (w->dh <= 1) && (w->dw <= 1) && !dnk_pointwise(k);
  int flip = unit && w->kh - 1 - w->ph >= 0 && w->kw - 1 - w->pw >= 0;
  int same = flip && w->kh - 1 - w->ph <= w->ph && w->kw - 1 - w->pw <= w->pw;
  dn_kconv t = dnk_flipped(k);
  int direct = flip && dnk_dconv_ok(ctx, &t);
  if (direct) {
    dn_buf_printf(c, "#if defined(DNK_DCONV)\n");
    dnk_dconv_emit(c, ctx, &t, "dk_wt", NULL, in[0], out, dnk_flip_weights(c, ctx, k, in[1]), NULL, 0);
    dn_buf_printf(c, "#else\n");
  }
  if (same) dnk_conv_bwd_data_flip(c, ctx, k, out, in, dnk_flip_weights(c, ctx, k, in[1]));
  else dnk_conv_bwd_data_col2im(c, ctx, k, out, in);
  if (direct) dn_buf_printf(c, "#endif\n");
}

/* Direct weight gradient (stride 1, float, AVX-512): dw_g [Fg, R] = sum over samples of
 * dy spread over the wide output (dyw, zeros in the dropped columns) times the padded input
 * at the im2col offsets, by dnk_wg tiles; no im2col, no transposed packing. Up to S samples
 * are stacked one below the other (xp [C, S, hp, wp], dyw [Fg, S hp wp]: the padding rows
 * between them give zeros), so the tiles' lane sums are reduced once per S samples rather
 * than once per sample (S from the wide row length, at most ~1536 floats, so that a tile's
 * rows of dyw stay in L1). Samples in --threads chunks as in dnk_conv_bwd_w_gemm. */
static void dnk_wgrad_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in) {
  dnk_wide g = dnk_wide_geom(k);
  long long fg = k->f / k->g, r = g.cg * g.kk, fr = (long long)k->f * r, nq = dn_kchunks(ctx, k->n);
  int m = 4, n = 4;  /* the tile that pads Fg x R least */
  if (((fg + 2) / 3 * 3) * ((r + 4) / 5 * 5) < ((fg + 3) / 4 * 4) * ((r + 3) / 4 * 4)) m = 3, n = 5;
  /* dy read in place (dnk_wg..r) where its rows are whole vectors and the copy to the wide
   * grid would cost much beside the product: few input channels (R = Cg kh kw < 64); whole
   * tiles of filters (a partial one would read past the group's dy) */
  int rows_ok = k->ow % 16 == 0 && r < 64;
  /* there, 8 x 3 tiles where they pad no more: 24 accumulators, the 3 input vectors held
   * and 8 rows of dy streamed, 14 load slots per 24 multiply-adds against 12 per 16 (the
   * unaligned input loads cross cache lines); R = 27 (3 channels, 3 x 3) without a padded
   * column. CIFAR CNN's first convolution, weight gradient in the step: 117-143 -> 142-152 GFLOP/s */
  if (rows_ok && fg % 8 == 0 && fg * ((r + 2) / 3 * 3) <= ((fg + m - 1) / m * m) * ((r + n - 1) / n * n)) m = 8, n = 3;
  int inpl = rows_ok && fg % m == 0;
  long long sn = 1536 / g.hw > 1 && !inpl ? 1536 / g.hw : 1, per_chunk = (k->n + nq - 1) / nq;
  if (sn > per_chunk) sn = per_chunk;
  long long ldd = ((sn - 1) * g.hw + g.end + 15) / 16 * 16;
  if (ldd < sn * g.hw) ldd = (sn * g.hw + 15) / 16 * 16;
  long long fp = (fg + m - 1) / m * m, rp = (r + n - 1) / n * n, xps = (g.cg * sn * g.hw + 64 + 15) / 16 * 16;
  long long per = (inpl ? 0 : fp * ldd) + xps, o_off = dn_kscratch_bytes(ctx, nq * per), o_part = o_off + (rp * 4 + 63) / 64 * 64;
  ctx->need |= m == 8 ? DN_KNEED_WG83R : m == 4 ? (inpl ? DN_KNEED_WG44R : DN_KNEED_WG44) : (inpl ? DN_KNEED_WG35R : DN_KNEED_WG35);
  dn_kneed_scratch(ctx, o_part + dn_kscratch_bytes(ctx, (nq - 1) * fr));
  dn_buf_printf(c, "  char *dk_s = (char *)(%s);\n  int *dk_off = (int *)(dk_s + %lld);\n", ctx->scratch, o_off);
  dn_buf_printf(c, "  dnk_real *dk_part = (dnk_real *)(dk_s + %lld);\n  long dk_q, dk_p;\n", o_part);
  dnk_print_offsets(c, &g, &k->win, rp, r, sn * g.hw);
  if (nq > 1) dn_kpar_for(c, ctx);
  dn_buf_printf(c, "  for (dk_q = 0; dk_q < %lld; ++dk_q) {\n", nq);
  dn_buf_printf(c, "    float *dk_dw = (float *)dk_s + dk_q * %lld, *dk_xp = dk_dw + %lld;\n", per, inpl ? 0 : fp * ldd);
  dn_buf_printf(c, "    dnk_real *dk_dst = dk_q == 0 ? (%s) : dk_part + (dk_q - 1) * %lld;\n", out, fr);
  dn_buf_printf(c, "    long dk_i, dk_b, dk_g, dk_lo = dk_q * %lld / %lld, dk_hi = (dk_q + 1) * %lld / %lld;\n", (long long)k->n, nq,
                (long long)k->n, nq);
  dn_buf_printf(c, "    for (dk_i = 0; dk_i < %lld; ++dk_i) dk_dw[dk_i] = 0;\n", per);
  dn_buf_printf(c, "    for (dk_g = 0; dk_g < %lld; ++dk_g)\n", (long long)k->g);
  dn_buf_printf(c, "    for (dk_b = dk_lo; dk_b < dk_hi; dk_b += %lld) {\n", sn);
  dn_buf_printf(c, "      long dk_sb = dk_hi - dk_b < %lld ? dk_hi - dk_b : %lld, dk_t, dk_c, dk_r, dk_f, dk_j;\n", sn, sn);
  dn_buf_printf(c, "      for (dk_t = 0; dk_t < dk_sb; ++dk_t) {\n");
  dn_buf_printf(c, "        long dk_x = ((dk_b + dk_t) * %lld + dk_g * %lld) * %lld, dk_y = ((dk_b + dk_t) * %lld + dk_g * %lld) * %lld;\n",
                (long long)k->c, g.cg, (long long)(k->h * k->w), (long long)k->f, fg, (long long)(k->oh * k->ow));
  dnk_print_pad_copy(c, &g, k, in[1], sn, "dk_t", "        ");
  if (inpl) {
    dn_buf_printf(c, "        (void)dk_y;\n");
  } else {
    dn_buf_printf(c, "        for (dk_f = 0; dk_f < %lld; ++dk_f)\n          for (dk_r = 0; dk_r < %lld; ++dk_r)\n", fg, (long long)k->oh);
    dn_buf_printf(c, "            memcpy(dk_dw + dk_f * %lld + dk_t * %lld + dk_r * %lld, (%s) + dk_y + (dk_f * %lld + dk_r) * %lld, %lld * sizeof(float));\n",
                  ldd, g.hw, g.wp, in[0], (long long)k->oh, (long long)k->ow, (long long)k->ow);
  }
  dn_buf_printf(c, "      }\n");
  if (sn > 1)
    dn_buf_printf(c, "      for (dk_f = 0; dk_f < %lld && dk_sb < %lld; ++dk_f)  /* a short last stack: no stale samples */\n"
                     "        for (dk_i = dk_sb * %lld; dk_i < %lld; ++dk_i) dk_dw[dk_f * %lld + dk_i] = 0;\n",
                  fg, sn, g.hw, ldd, ldd);
  dn_buf_printf(c, "      for (dk_f = 0; dk_f < %lld; dk_f += %d)\n        for (dk_j = 0; dk_j < %lld; dk_j += %d)\n", fg, m, r, n);
  if (inpl)
    dn_buf_printf(c, "          dnk_wg%dx%dr(%lld, %lld, (%s) + (dk_b * %lld + dk_g * %lld + dk_f) * %lld, %lld, %lld, dk_xp, dk_off + dk_j, %lld,\n"
                     "                    dk_dst + dk_g * %lld + dk_f * %lld + dk_j, %lld, %lld - dk_f < %d ? %lld - dk_f : %d,\n"
                     "                    %lld - dk_j < %d ? %lld - dk_j : %d, dk_b == dk_lo);\n",
                  m, n, (long long)k->oh, (long long)k->ow / 16, in[0], (long long)k->f, fg, (long long)(k->oh * k->ow),
                  (long long)(k->oh * k->ow), (long long)k->ow, g.wp, fg * r, r, r, fg, m, fg, m, r, n, r, n);
  else
  dn_buf_printf(c, "          dnk_wg%dx%d(((dk_sb - 1) * %lld + %lld + 15) / 16, dk_dw + dk_f * %lld, %lld, dk_xp, dk_off + dk_j,\n"
                   "                   dk_dst + dk_g * %lld + dk_f * %lld + dk_j, %lld, %lld - dk_f < %d ? %lld - dk_f : %d,\n"
                   "                   %lld - dk_j < %d ? %lld - dk_j : %d, dk_b == dk_lo);\n",
                m, n, g.hw, g.end, ldd, ldd, fg * r, r, r, fg, m, fg, m, r, n, r, n);
  dn_buf_printf(c, "    }\n  }\n");
  dn_kpart_sums(c, ctx, nq, fr, out);
}

/* dw_g [Fg, R] = sum_n dy_n,g [Fg, OH*OW] @ im2col(x_n,g)^T: each im2col row becomes one
 * B panel column, so x is unfolded once per sample. */
static void dnk_conv_bwd_w_gemm(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in) {
  long long r = k->c / k->g * k->win.kh * k->win.kw, fg = k->f / k->g, ohw = k->oh * k->ow, hw = k->h * k->w;
  long long fr = (long long)k->f * r;
  /* Samples split into one contiguous chunk per thread (as many chunks as --threads), each
   * summed into its own dw (chunk 0 into the output, the others in the scratch area), then
   * the partial sums added in chunk order: the result depends on the thread count the code
   * was generated for, not on scheduling. One chunk: the products' tiles use the threads. */
  long long nq = dn_kchunks(ctx, k->n);
  dn_buf_printf(c, "  long dk_q;\n");
  if (nq > 1) {
    dn_kneed_scratch(ctx, dn_kscratch_bytes(ctx, (nq - 1) * fr));
    dn_buf_printf(c, "  dnk_real *dk_part = (dnk_real *)(%s);\n", ctx->scratch);
    dn_kpar_for(c, ctx);
  }
  dn_buf_printf(c, "  for (dk_q = 0; dk_q < %lld; ++dk_q) {\n", nq);
  if (nq > 1) dn_buf_printf(c, "    dnk_real *dk_dst = dk_q == 0 ? (%s) : dk_part + (dk_q - 1) * %lld;\n", out, fr);
  else dn_buf_printf(c, "    dnk_real *dk_dst = (%s);\n", out);
  dn_buf_printf(c, "    long dk_lo = dk_q * %lld / %lld, dk_hi = (dk_q + 1) * %lld / %lld;\n", (long long)k->n, nq,
                (long long)k->n, nq);
  dnk_conv_loops(c, ctx, k, 0, "dk_lo", "dk_hi");
  dn_buf_printf(c, "      dnk_view dk_va = dnk_dense((%s) + dk_y, %lld, 1);\n", in[0], ohw);
  if (dnk_pointwise(k)) {
    dn_buf_printf(c, "      dnk_view dk_vb = dnk_dense((%s) + dk_x, 1, %lld);\n", in[1], hw);
  } else {
    dn_buf_printf(c, "      dnk_view dk_vb = dnk_conv((%s) + dk_x, 2, ", in[1]);
    dnk_geo_arg(c, k);
    dn_buf_printf(c, ");\n");
  }
  dn_buf_printf(c, "      dnk_outv dk_vc = dnk_out(dk_dst + dk_g * %lld, %lld, 1);\n", fg * r, r);
  dn_buf_printf(c, "      dnk_gemm(%lld, %lld, %lld, &dk_va, &dk_vb, &dk_vc, dk_n > dk_lo, %d, NULL);\n    }\n  }\n  }\n", fg, r, ohw,
                nq == 1 && ctx->threads > 1);
  dn_kpart_sums(c, ctx, nq, fr, out);
}

static void dnk_conv_bwd_w(dn_buf *c, dn_cg_ctx *ctx, const dn_kconv *k, const char *out, const char *const *in) {
  int direct = dnk_dconv_ok(ctx, k);
  if (direct) {
    dn_buf_printf(c, "#if defined(DNK_DCONV)\n");
    dnk_wgrad_emit(c, ctx, k, out, in);
    dn_buf_printf(c, "#else\n");
  }
  dnk_conv_bwd_w_gemm(c, ctx, k, out, in);
  if (direct) dn_buf_printf(c, "#endif\n");
}

int64_t dn_cg_flops(const dn_node *n) {
  if (n->op == DN_OP_GEMM) return 2 * n->gemm.nb * n->gemm.m * n->gemm.n * n->gemm.k;
  if (n->op != DN_OP_CONV2D && n->op != DN_OP_CONV2D_BWD_DATA && n->op != DN_OP_CONV2D_BWD_W) return 0;
  dn_kconv k = dnk_geometry(n);
  return 2 * k.n * k.f * k.oh * k.ow * (k.c / k.g) * k.win.kh * k.win.kw;
}

int dn_kconv_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  dn_kconv k = dnk_geometry(n);
  static const char *const what[] = {"y = W_g @ im2col(x) per sample and group",
                                     "dx = col2im(W_g^T @ dy) per sample and group",
                                     "dw_g = sum over samples of dy @ im2col(x)^T"};
  ctx->need |= DN_KNEED_GEMM;
  dn_buf_printf(c, "{  /* %s: %s */\n", dn_ops[n->op].name,
                what[n->op == DN_OP_CONV2D ? 0 : n->op == DN_OP_CONV2D_BWD_DATA ? 1 : 2]);
  if (n->op == DN_OP_CONV2D) dnk_conv_fwd(c, ctx, &k, out, in);
  else if (n->op == DN_OP_CONV2D_BWD_DATA) dnk_conv_bwd_data(c, ctx, &k, out, in);
  else dnk_conv_bwd_w(c, ctx, &k, out, in);
  dn_buf_printf(c, "}\n");
  return 0;
}
