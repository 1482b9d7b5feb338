/* kernels_int.h - internals shared by the kernel emitters (codegen/kernels*.c).
 *
 * kernels.c dispatches on the op and prints the simple loop kernels (pooling, reductions,
 * normalizers, class indices, layout); kernels_gemm.c prints matrix products and
 * convolutions on top of one tiled GEMM helper (dnk_gemm) that reads its B operand either
 * as a strided matrix or as an implicit im2col view of a convolution input, and writes C
 * either densely or by col2im scatter-add; on AVX-512, float stride-1 convolutions use
 * direct kernels over a padded copy of the input in the scratch area.
 */
#ifndef DNNCC_KERNELS_INT_H
#define DNNCC_KERNELS_INT_H

#include "kernels.h"

/* Bits of dn_cg_ctx.need. */
enum {
  DN_KNEED_GEMM = 1u << 0,   /* the dnk_gemm helper family */
  DN_KNEED_CBLAS = 1u << 1,  /* #include <cblas.h> */
  DN_KNEED_BASE = 1u << 2,   /* <math.h>, <stdint.h> for the loop kernels */
  DN_KNEED_DCONV = 1u << 3,  /* the direct convolution helpers (float, AVX-512) */
  DN_KNEED_WG44 = 1u << 4,   /* the 4 x 4 direct weight-gradient kernel */
  DN_KNEED_WG35 = 1u << 5,   /* the 3 x 5 one */
  DN_KNEED_POOL2 = 1u << 6,  /* 2 x 2 max pooling rows (float, AVX-512) */
  DN_KNEED_WG44R = 1u << 7,  /* the 4 x 4 weight-gradient kernel reading dy in place */
  DN_KNEED_WG35R = 1u << 8,  /* the 3 x 5 one */
  DN_KNEED_SMALL = 1u << 9,  /* the dot-product and register-block products alone (--blas) */
  DN_KNEED_WG83R = 1u << 10, /* the 8 x 3 weight-gradient kernel reading dy in place */
  DN_KNEED_WINO = 1u << 11,  /* the Winograd F(2x2, 3x3) convolution helpers (float, AVX-512) */
};

/* Spatial geometry of one convolution: input [C, H, W] per sample, output [F, OH, OW]. */
typedef struct dn_kconv {
  int64_t n;              /* samples (product of the leading axes) */
  int64_t c, h, w;        /* input channels and spatial size */
  int64_t f, oh, ow;      /* output channels and spatial size */
  int64_t g;              /* groups */
  dn_window win;          /* kernel, stride, padding-before, dilation */
} dn_kconv;

int dn_kgemm_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in);

/* Bytes of kernel scratch that `elems` reals take, rounded up to 64. */
long long dn_kscratch_bytes(const dn_cg_ctx *ctx, long long elems);
/* Raises the scratch the file reserves to `bytes` (kernels run one at a time and share it). */
void dn_kneed_scratch(dn_cg_ctx *ctx, long long bytes);
/* Chunks of n samples with --threads: one per thread (at most one per sample), each a
 * contiguous range [q n / nq, (q + 1) n / nq), so results depend on the thread count the
 * code was generated for, not on scheduling. */
long long dn_kchunks(const dn_cg_ctx *ctx, int64_t n);
/* Prints the pragma that spreads the next loop over the --threads N threads (static
 * schedule, num_threads(N): N whatever OMP_NUM_THREADS says). */
void dn_kpar_for(dn_buf *c, const dn_cg_ctx *ctx);
/* Prints `out += partial sums 1..nq-1` (dk_part, count reals each; chunk 0 summed into out). */
void dn_kpart_sums(dn_buf *c, const dn_cg_ctx *ctx, long long nq, long long count, const char *out);
int dn_kconv_emit(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in);
void dn_kgemm_helpers(dn_buf *c, const dn_cg_ctx *ctx);

#endif
