/* kernels.h - C emitters for the non-elementwise ops (codegen/kernels*.c).
 *
 * The emitter (emit.c) owns the file layout, the memory plan, elementwise fusion and the
 * leaves; for every other op it asks dn_cg_kernel to print the C statements that compute
 * one node for the whole batch. Conventions of the printed code:
 *   - `out` and each `in[i]` are C expressions of pointer type (ctx->real * for f32 tensors,
 *     const int32_t * for class tensors) pointing at element 0 of a contiguous C-order
 *     tensor of the node's FULL shape (batch axis included); inputs are const, never aliased
 *     with out;
 *   - the code is one braced block with its own locals, constant loop bounds, and writes
 *     every element of out (kernels that accumulate clear out first);
 *   - large products and convolutions are tiled for cache; with ctx->blas (float only) GEMMs
 *     may call cblas_sgemm; with ctx->threads > 1 loops may carry `#pragma omp parallel for`;
 *   - static helper functions a kernel needs are requested through ctx->need and printed
 *     once by dn_cg_helpers before the first function of the file;
 *   - nothing is allocated: a kernel that needs temporary memory (packed weights, partial
 *     sums) uses ctx->scratch, a region of the caller's state that the emitter sizes to the
 *     largest ctx->scratch_bytes (kernels run one at a time, so they share it).
 */
#ifndef DNNCC_KERNELS_H
#define DNNCC_KERNELS_H

#include "ir.h"

/* A matrix product with its small dimension held in registers (kernels_gemm.c): few_k 0,
 * C [dim, N] in registers over K; few_k 1, B [dim, N] in registers over the rows of A. A's
 * element (i, p) is at a[i * ars + p * acs] (constants of the node). */
typedef struct dn_kreg {
  int few_k, dim;
  long long ars, acs;
  int mask;  /* few_k only: C = (A @ B) * (h > 0 ? 1 : 0) for an h [M, N] (ctx->epi_mask) */
} dn_kreg;
#define DN_KREG_MAX 32 /* per file; more shape classes than this use the tiled GEMM */
#define DN_KDERIVED_MAX 64 /* per file; weights past these are transformed at run time */

typedef struct dn_cg_ctx {
  const char *real;      /* "float" or "double" */
  const char *prefix;    /* the model's C prefix (helper names may use it) */
  int blas;              /* cblas_sgemm allowed (only when real is float) */
  int threads;           /* > 1: OpenMP */
  int opt_level;         /* dnncc -O level */
  unsigned need;         /* helper bits requested by kernels (kernels.c defines them) */
  const char *scratch;   /* C expression (char *) of the kernels' scratch area in the state */
  size_t scratch_bytes;  /* the most scratch one kernel needs (kernels raise it) */
  int par_small;         /* with threads > 1: thread kernels below DN_PAR_MIN_* too (tests) */
  /* An epilogue the emitter fused into the CONV2D it asks for (emit.c, conv_epilogue):
   * out = relu(y + bias[channel]); epi_bias is a C expression of the [F] bias or NULL,
   * epi_relu 0 or 1. Other kernels ignore them. */
  const char *epi_bias;
  int epi_relu;
  /* An epilogue the emitter fused into the GEMM it asks for (emit.c, gemm_epilogue), only
   * where dn_cg_gemm_mask_ok: out = (A @ B) * (mask > 0 ? 1 : 0), a ReLU's backward, with
   * epi_mask a C expression of a tensor of the product's shape (out itself, or disjoint
   * from it) and epi_tmp the product's own buffer (the portable path computes the product
   * there first). */
  const char *epi_mask, *epi_tmp;
  int nreg;              /* the register-block products the kernels use (printed once each) */
  dn_kreg reg[DN_KREG_MAX];
  /* Weights compiled in (--weights): in_const[i] is the value of the node's input i when it
   * is a parameter embedded as const data (in_const NULL when no input is). A kernel may
   * then print a transformed copy of it as a file-scope static const array P_wdI into
   * `data` (printed before the bodies), once per parameter, transform and groups:
   * derived[I] says which (kernels_gemm.c, dnk_derived). */
  const float *const *in_const;
  dn_buf *data;
  int nderived;
  struct { const float *w; int kind; long long groups; } derived[DN_KDERIVED_MAX];
} dn_cg_ctx;

/* The least work a loop is threaded for (with ctx->threads > 1): an OpenMP region costs
 * about 3 us to fork and join here, and the next serial loop then reads what the other core
 * wrote, about twice as slow as reading its own (docs/performance.md). Elementwise loops and
 * the loop kernels (pooling, softmax, reductions) need DN_PAR_MIN_ELEMS elements in their
 * largest operand, convolutions DN_PAR_MIN_FLOP; matrix products have their own rules
 * (kernels_gemm.c). Smaller ones run on the calling thread: LeNet-5 batch-1 inference at
 * 2 threads forked for pooling rows of one sample. */
#define DN_PAR_MIN_ELEMS 32768
#define DN_PAR_MIN_FLOP (4.0 * 1024 * 1024)

/* Prints the computation of node n. Returns 0, or 1 when the op has no kernel here
 * (elementwise ops, leaves, views and SCAN are the emitter's). */
int dn_cg_kernel(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in);

/* Can the kernel of GEMM node n apply ctx->epi_mask on its stores? (The product that
 * dn_cg_kernel prints for it is a register-block one with B held in registers: a
 * classifier's data gradient dy @ W, 10 terms per sum.) */
int dn_cg_gemm_mask_ok(const dn_cg_ctx *ctx, const dn_node *n);

/* Registers the masked product of n (dn_cg_gemm_mask_ok) in ctx, so that it still has its
 * slot when the emitter prints it later, after other products may have filled the table. */
void dn_cg_gemm_mask_reserve(dn_cg_ctx *ctx, const dn_node *n);

/* Floating-point operations (multiply-adds count 2) of a matrix product or convolution
 * node, 0 for other ops: printed in the kernel's comment, read by bench/kernel_flops.py. */
int64_t dn_cg_flops(const dn_node *n);

/* Prints the static helper functions requested in ctx->need. */
void dn_cg_helpers(dn_buf *c, const dn_cg_ctx *ctx);
/* A C literal of v as `real` ("float": 9 significant digits and an f suffix; "double": 17),
 * NaN and infinities through NAN and HUGE_VAL (math.h). */
const char *dn_cg_lit(const char *real, double v);
/* Prints the n values of v as the elements of an array initializer of `real`, eight a line
 * (the embedded weights, and the kernels' transforms of them). */
void dn_cg_array_elems(dn_buf *c, const char *real, const float *v, int64_t n);
/* Prints the DN_IVDEP macro (dn_cg_helpers does when any kernel needs helpers). */
void dn_cg_ivdep(dn_buf *c);

#endif
