/* autodiff.c - reverse-mode differentiation on the IR (dn_autodiff, see pipeline.h).
 *
 * Requires: a verified training graph with loss_mean set and scans unrolled. Produces:
 * g->grads.v[i] = d loss_mean / d params[i] for every trainable parameter (a zero CONST when
 * the loss does not depend on it), NULL for state parameters.
 *
 * Gradients are more graph: the walk goes backwards from loss_mean (seed 1) and, for every
 * node that has an adjoint and depends on a trainable parameter, calls its op's rule. A rule
 * builds ordinary IR nodes with the dn_ir_* builders and hands each input's contribution to
 * ad_acc, the one accumulate-or-set helper: it sums broadcast axes away (an input with size-1
 * axes or rank 0 gets REDUCE_SUM + RESHAPE), then sets the adjoint or ADDs to it. Nodes that
 * do not depend on a trainable parameter are pruned first, so no adjoint is built for them.
 *
 * The rule table is generated from ops.def: every op must have a grad_NAME, either a rule
 * function below or NULL (no gradient can flow through it: leaves, DN_F_NOGRAD ops, and the
 * backward-only ops that never appear in a forward graph). A node that needs a gradient but
 * has no rule is a located error naming the op.
 *
 * Recurrences (BPTT). Scans the pipeline kept as loops (unroll.c) are differentiated here:
 * the adjoint of a SCAN is a SCAN over the same steps in the opposite order (grad_SCAN)
 * whose body is this same pass applied to a copy of the forward body (so step t's values
 * are recomputed from the saved previous states and the step's inputs, then differentiated
 * with the ordinary rules). The other scans were unrolled and need no rule.
 */
#include "pipeline.h"

#include <stdlib.h>
#include <string.h>

/* A contribution dy to x[start:stop] along axis, from a SLICE of x (see flush_pieces). */
typedef struct ad_piece {
  dn_node *d;
  int axis;
  int64_t start, stop;
  struct ad_piece *next;
} ad_piece;

typedef struct ad_ctx {
  dn_graph *g;        /* the graph being differentiated (gradient nodes are appended) */
  int n_fwd;          /* nodes before differentiation: only these get adjoints */
  char *needs;        /* needs[id]: the node depends on a trainable parameter (or wrt leaf) */
  dn_node **adj;      /* adj[id]: d loss_mean / d node, NULL while none arrived */
  dn_node ***sadj;    /* sadj[id] of a SCAN: the adjoint of each stacked state (SCAN_GET) */
  ad_piece **pieces;  /* pieces[id]: slice contributions not yet added to adj[id] */
  int64_t tbptt;      /* train block's tbptt = K (0: full BPTT) */
  int failed;         /* a rule reported an error */
} ad_ctx;

typedef void (*ad_rule)(ad_ctx *c, dn_node *n, dn_node *dy);

/* --- small builders: all gradient nodes carry the location of the node they differentiate */

static dn_node *un(ad_ctx *c, dn_op op, dn_node *x, dn_node *at) { return dn_ir_unary(c->g, op, x, at->loc); }
static dn_node *bin(ad_ctx *c, dn_op op, dn_node *a, dn_node *b, dn_node *at) {
  return dn_ir_binary(c->g, op, a, b, at->loc);
}
static dn_node *sc(ad_ctx *c, double v, dn_node *at) { return dn_ir_scalar(c->g, v, at->loc); }
static dn_node *mul(ad_ctx *c, dn_node *a, dn_node *b, dn_node *at) { return bin(c, DN_OP_MUL, a, b, at); }

/* Does gradient flow into this node (an input of the node being differentiated)? */
static int want(ad_ctx *c, const dn_node *x) { return x->id < c->n_fwd && c->needs[x->id]; }

/* The axes where `from` was broadcast to reach `to` (same rank). */
static uint32_t broadcast_axes(dn_shape from, dn_shape to) {
  uint32_t axes = 0;
  for (int i = 0; i < to.rank; i++)
    if (from.dim[i] == 1 && to.dim[i] != 1) axes |= 1u << i;
  return axes;
}

/* Brings a contribution to x's shape: sums broadcast axes (rank-0 x: every axis), or
 * broadcasts a rank-0 contribution over x. */
static dn_node *unbroadcast(ad_ctx *c, dn_node *x, dn_node *d) {
  if (dn_shape_eq(x->shape, d->shape)) return d;
  if (d->shape.rank == 0) {
    dn_shape ones = x->shape;
    for (int i = 0; i < ones.rank; i++) ones.dim[i] = 1;
    dn_node *e = dn_ir_expand(c->g, dn_ir_reshape(c->g, d, ones, x->loc), x->shape, x->loc);
    e->batched = x->batched;
    return e;
  }
  uint32_t axes = x->shape.rank == 0 ? (1u << d->shape.rank) - 1 : broadcast_axes(x->shape, d->shape);
  if (axes) d = dn_ir_reduce(c->g, DN_OP_REDUCE_SUM, d, axes, x->loc);
  return dn_ir_reshape(c->g, d, x->shape, x->loc);
}

/* The accumulate-or-set helper: adj[x] = d (first contribution) or adj[x] + d. */
static void ad_acc(ad_ctx *c, dn_node *x, dn_node *d) {
  if (!d || !want(c, x)) return;
  d = unbroadcast(c, x, d);
  dn_node **a = &c->adj[x->id];
  *a = *a ? dn_ir_binary(c->g, DN_OP_ADD, *a, d, x->loc) : d;
}

/* --- elementwise unary: x = in[0], y = n ------------------------------------------- */

/* dx = -dy */
static void grad_NEG(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], un(c, DN_OP_NEG, dy, n)); }
/* dx = dy * step(y)   (0 at x = 0, as PyTorch; y > 0 exactly where x > 0, NaN included).
 * Read from y, not x: x is then dead after the forward pass, so the bias add before it
 * fuses into the activation's pass (one pass over a convolution's output, not two) and x
 * is not kept for the backward pass. */
static void grad_RELU(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], mul(c, dy, un(c, DN_OP_STEP, n, n), n)); }
/* dx = dy * y * (1 - y) */
static void grad_SIGMOID(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *d = mul(c, n, bin(c, DN_OP_SUB, sc(c, 1, n), n, n), n);
  ad_acc(c, n->in[0], mul(c, dy, d, n));
}
/* dx = dy * (1 - y^2) */
static void grad_TANH(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *d = bin(c, DN_OP_SUB, sc(c, 1, n), un(c, DN_OP_SQUARE, n, n), n);
  ad_acc(c, n->in[0], mul(c, dy, d, n));
}
/* dx = dy * sigmoid(x) */
static void grad_SOFTPLUS(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], mul(c, dy, un(c, DN_OP_SIGMOID, n->in[0], n), n));
}
/* dx = dy * (s + (1 - s) * (y + alpha)),  s = step(x)   (x <= 0: alpha * exp(x) = y + alpha) */
static void grad_ELU(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *s = un(c, DN_OP_STEP, n->in[0], n);
  dn_node *neg = mul(c, bin(c, DN_OP_SUB, sc(c, 1, n), s, n), bin(c, DN_OP_ADD, n, sc(c, n->alpha, n), n), n);
  ad_acc(c, n->in[0], mul(c, dy, bin(c, DN_OP_ADD, s, neg, n), n));
}
/* dx = dy * (alpha + (1 - alpha) * step(x)); step(y) for alpha >= 0, as in grad_RELU */
static void grad_LEAKY_RELU(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *s = mul(c, sc(c, 1 - n->alpha, n), un(c, DN_OP_STEP, n->alpha >= 0 ? n : n->in[0], n), n);
  ad_acc(c, n->in[0], mul(c, dy, bin(c, DN_OP_ADD, s, sc(c, n->alpha, n), n), n));
}
/* Gradient mask of a clamp to [alpha, beta]: 1 inside; bounds included when `inclusive`. */
static dn_node *range_mask(ad_ctx *c, dn_node *n, int inclusive) {
  dn_node *m = un(c, DN_OP_INRANGE, n->in[0], n);
  m->alpha = n->alpha, m->beta = n->beta, m->axis = inclusive;
  return m;
}
/* dx = dy * (alpha < x < beta)   (PyTorch hardtanh: strict) */
static void grad_HARDTANH(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], mul(c, dy, range_mask(c, n, 0), n)); }
/* dx = dy * (alpha <= x <= beta)   (PyTorch clamp: inclusive) */
static void grad_CLAMP(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], mul(c, dy, range_mask(c, n, 1), n)); }
/* dx = dy * y */
static void grad_EXP(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], mul(c, dy, n, n)); }
/* dx = dy / x */
static void grad_LOG(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], bin(c, DN_OP_DIV, dy, n->in[0], n)); }
/* dx = dy / (2 y) */
static void grad_SQRT(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], bin(c, DN_OP_DIV, dy, mul(c, n, sc(c, 2, n), n), n));
}
/* dx = dy * sign(x) */
static void grad_ABS(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], mul(c, dy, un(c, DN_OP_SIGN, n->in[0], n), n)); }
/* dx = dy * 2x */
static void grad_SQUARE(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], mul(c, dy, mul(c, n->in[0], sc(c, 2, n), n), n));
}
/* dx = dy * cos(x) */
static void grad_SIN(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], mul(c, dy, un(c, DN_OP_COS, n->in[0], n), n)); }
/* dx = -dy * sin(x) */
static void grad_COS(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], un(c, DN_OP_NEG, mul(c, dy, un(c, DN_OP_SIN, n->in[0], n), n), n));
}
/* dx = -dy * y^2 */
static void grad_RECIP(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], un(c, DN_OP_NEG, mul(c, dy, un(c, DN_OP_SQUARE, n, n), n), n));
}
/* dx = dy * alpha * x^(alpha - 1)   (alpha = 0: no gradient, as PyTorch) */
static void grad_POWC(ad_ctx *c, dn_node *n, dn_node *dy) {
  if (n->alpha == 0) return;
  dn_node *p = n->in[0];
  if (n->alpha != 2) {
    p = un(c, DN_OP_POWC, n->in[0], n);
    p->alpha = n->alpha - 1;
  }
  ad_acc(c, n->in[0], mul(c, dy, mul(c, p, sc(c, n->alpha, n), n), n));
}

/* --- elementwise binary: a = in[0], b = in[1], y = n (broadcasting: see ad_acc) -------- */

/* da = dy, db = dy */
static void grad_ADD(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], dy), ad_acc(c, n->in[1], dy); }
/* da = dy, db = -dy */
static void grad_SUB(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dy);
  if (want(c, n->in[1])) ad_acc(c, n->in[1], un(c, DN_OP_NEG, dy, n));
}
/* da = dy * b, db = dy * a */
static void grad_MUL(ad_ctx *c, dn_node *n, dn_node *dy) {
  if (want(c, n->in[0])) ad_acc(c, n->in[0], mul(c, dy, n->in[1], n));
  if (want(c, n->in[1])) ad_acc(c, n->in[1], mul(c, dy, n->in[0], n));
}
/* da = dy / b, db = -dy * y / b */
static void grad_DIV(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *q = bin(c, DN_OP_DIV, dy, n->in[1], n);
  ad_acc(c, n->in[0], q);
  if (want(c, n->in[1])) ad_acc(c, n->in[1], un(c, DN_OP_NEG, mul(c, q, n, n), n));
}
/* da = dy * b * a^(b - 1 + [b == 0])   (0 where b = 0, as PyTorch)
 * db = dy * y * log(a + [a == 0])      (0 where a = 0, as PyTorch) */
static void grad_POW(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *a = n->in[0], *b = n->in[1];
  if (want(c, a)) {
    dn_node *e = bin(c, DN_OP_ADD, bin(c, DN_OP_SUB, b, sc(c, 1, n), n), bin(c, DN_OP_EQ, b, sc(c, 0, n), n), n);
    ad_acc(c, a, mul(c, dy, mul(c, b, bin(c, DN_OP_POW, a, e, n), n), n));
  }
  if (want(c, b)) {
    dn_node *l = un(c, DN_OP_LOG, bin(c, DN_OP_ADD, a, bin(c, DN_OP_EQ, a, sc(c, 0, n), n), n), n);
    ad_acc(c, b, mul(c, dy, mul(c, n, l, n), n));
  }
}
/* Routing mask of max/min: [first wins] + 0.5 [tie]   (ties split in half, as PyTorch). */
static dn_node *tie_mask(ad_ctx *c, dn_node *n, dn_node *first, dn_node *second) {
  dn_node *half = mul(c, bin(c, DN_OP_EQ, first, second, n), sc(c, 0.5, n), n);
  return bin(c, DN_OP_ADD, bin(c, DN_OP_GT, first, second, n), half, n);
}
/* da = dy * ([a > b] + [a == b] / 2), db = dy * ([b > a] + [a == b] / 2) */
static void grad_MAX(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *a = n->in[0], *b = n->in[1];
  if (want(c, a)) ad_acc(c, a, mul(c, dy, tie_mask(c, n, a, b), n));
  if (want(c, b)) ad_acc(c, b, mul(c, dy, tie_mask(c, n, b, a), n));
}
/* da = dy * ([b > a] + [a == b] / 2), db = dy * ([a > b] + [a == b] / 2) */
static void grad_MIN(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *a = n->in[0], *b = n->in[1];
  if (want(c, a)) ad_acc(c, a, mul(c, dy, tie_mask(c, n, b, a), n));
  if (want(c, b)) ad_acc(c, b, mul(c, dy, tie_mask(c, n, a, b), n));
}
/* da = dy * (sigmoid(a) - b), db = -dy * a */
static void grad_BCE_LOGITS(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *a = n->in[0], *b = n->in[1];
  if (want(c, a)) ad_acc(c, a, mul(c, dy, bin(c, DN_OP_SUB, un(c, DN_OP_SIGMOID, a, n), b, n), n));
  if (want(c, b)) ad_acc(c, b, un(c, DN_OP_NEG, mul(c, dy, a, n), n));
}

/* --- matrix products --------------------------------------------------------------------
 * C_b = op(A_b) @ op(B_b) over flat memory with strides sa, sb, sc. The gradients are GEMMs
 * over the same strides with the roles exchanged: a shared operand (stride 0) gets its
 * products summed (output stride 0), and an accumulated C (sc = 0) is read with stride 0.
 *   dA_b = dC_b @ op(B_b)^T         (stored transposed when ta: op(B_b) @ dC_b^T)
 *   dB_b = op(A_b)^T @ dC_b         (stored transposed when tb: dC_b^T @ op(A_b))      */

/* A GEMM whose output is the full operand x (stride `sx` between its products). */
static dn_node *gemm_into(ad_ctx *c, dn_node *n, dn_node *x, int64_t sx, dn_node *l, dn_node *r, dn_gemm gm) {
  dn_gemm o = n->gemm;
  int64_t per = gm.m * gm.n;
  int whole = o.nb == 1 || sx == 0 || sx == per;
  if (!whole || dn_shape_count(x->shape) != (o.nb == 1 || sx == 0 ? 1 : o.nb) * per) {
    dn_error(n->loc, "no gradient rule for gemm with operand stride %lld", (long long)sx);
    c->failed = 1;
    return NULL;
  }
  gm.nb = o.nb;
  gm.sc = o.nb == 1 ? per : sx;
  return dn_ir_gemm(c->g, l, r, gm, x->shape, x->batched, n->loc);
}

static void grad_GEMM(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_gemm o = n->gemm;
  dn_node *a = n->in[0], *b = n->in[1];
  if (want(c, a)) {
    dn_gemm g = {0};
    if (!o.ta) g = (dn_gemm){o.m, o.k, o.n, 0, !o.tb, 1, o.sc, o.sb, 0};
    else g = (dn_gemm){o.k, o.m, o.n, o.tb, 1, 1, o.sb, o.sc, 0};
    ad_acc(c, a, gemm_into(c, n, a, o.sa, o.ta ? b : dy, o.ta ? dy : b, g));
  }
  if (want(c, b)) {
    dn_gemm g = {0};
    if (!o.tb) g = (dn_gemm){o.k, o.n, o.m, !o.ta, 0, 1, o.sa, o.sc, 0};
    else g = (dn_gemm){o.n, o.k, o.m, 1, o.ta, 1, o.sc, o.sa, 0};
    ad_acc(c, b, gemm_into(c, n, b, o.sb, o.tb ? dy : a, o.tb ? a : dy, g));
  }
}

/* --- convolution and pooling --------------------------------------------------------- */

/* y = conv(x, w):  dx = conv^T(dy, w),  dw = sum_N dy (x) x */
static void grad_CONV2D(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *x = n->in[0], *w = n->in[1];
  if (want(c, x)) ad_acc(c, x, dn_ir_conv(c->g, DN_OP_CONV2D_BWD_DATA, dy, w, n->win, x->shape, n->loc));
  if (want(c, w)) ad_acc(c, w, dn_ir_conv(c->g, DN_OP_CONV2D_BWD_W, dy, x, n->win, w->shape, n->loc));
}
/* y = conv^T(a, w) (transposed convolution):  da = conv(dy, w),  dw = sum_N a (x) dy */
static void grad_CONV2D_BWD_DATA(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *a = n->in[0], *w = n->in[1];
  if (want(c, a)) ad_acc(c, a, dn_ir_conv(c->g, DN_OP_CONV2D, dy, w, n->win, a->shape, n->loc));
  if (want(c, w)) ad_acc(c, w, dn_ir_conv(c->g, DN_OP_CONV2D_BWD_W, a, dy, n->win, w->shape, n->loc));
}
/* dx = dy routed to the first argmax of each window */
static void grad_MAXPOOL2D(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *in[2] = {n->in[0], dy};
  ad_acc(c, n->in[0], dn_ir_pool(c->g, DN_OP_MAXPOOL2D_BWD, 2, in, n->win, n->in[0]->shape, n->loc));
}
/* dx = dy spread over each window */
static void grad_SUMPOOL2D(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dn_ir_pool(c->g, DN_OP_SUMPOOL2D_BWD, 1, &dy, n->win, n->in[0]->shape, n->loc));
}
/* the adjoint of spreading is summing: dx = sumpool(dy) */
static void grad_SUMPOOL2D_BWD(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dn_ir_pool(c->g, DN_OP_SUMPOOL2D, 1, &dy, n->win, n->in[0]->shape, n->loc));
}

/* --- reductions and normalizers ------------------------------------------------------- */

/* dx = expand(dy) */
static void grad_REDUCE_SUM(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *e = dn_ir_expand(c->g, dy, n->in[0]->shape, n->loc);
  e->batched = n->in[0]->batched;
  ad_acc(c, n->in[0], e);
}
/* dx = dy * [x == y] / count([x == y])   (ties share evenly, as torch.amax) */
static void grad_REDUCE_MAX(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *hit = bin(c, DN_OP_EQ, n->in[0], n, n);
  dn_node *cnt = dn_ir_reduce(c->g, DN_OP_REDUCE_SUM, hit, n->axes, n->loc);
  ad_acc(c, n->in[0], mul(c, hit, bin(c, DN_OP_DIV, dy, cnt, n), n));
}
/* dx = sum of dy over the broadcast axes (ad_acc does it) */
static void grad_EXPAND(ad_ctx *c, dn_node *n, dn_node *dy) { ad_acc(c, n->in[0], dy); }
/* dx = y * (dy - sum(dy * y)) */
static void grad_SOFTMAX(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *s = dn_ir_reduce(c->g, DN_OP_REDUCE_SUM, mul(c, dy, n, n), 1u << n->axis, n->loc);
  ad_acc(c, n->in[0], mul(c, n, bin(c, DN_OP_SUB, dy, s, n), n));
}
/* dx = dy - exp(y) * sum(dy) */
static void grad_LOG_SOFTMAX(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *s = dn_ir_reduce(c->g, DN_OP_REDUCE_SUM, dy, 1u << n->axis, n->loc);
  ad_acc(c, n->in[0], bin(c, DN_OP_SUB, dy, mul(c, un(c, DN_OP_EXP, n, n), s, n), n));
}
/* dx = dy * softmax(x) = dy * exp(x - y) */
static void grad_LOGSUMEXP(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], mul(c, dy, un(c, DN_OP_EXP, bin(c, DN_OP_SUB, n->in[0], n, n), n), n));
}

/* --- class indices -------------------------------------------------------------------- */

/* dx = onehot(y) * dy[..., None] */
static void grad_PICK(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *x = n->in[0];
  dn_shape s = dy->shape;
  s.dim[s.rank++] = 1;
  dn_node *oh = dn_ir_onehot(c->g, n->in[1], x->shape.dim[x->shape.rank - 1], n->loc);
  ad_acc(c, x, mul(c, oh, dn_ir_reshape(c->g, dy, s, n->loc), n));
}
/* dw = scatter-add of dy at rows y */
static void grad_EMBED(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dn_ir_embed_bwd(c->g, dy, n->in[1], n->in[0]->shape, n->loc));
}
/* the adjoint of scatter-add is gather: d(dy) = embed(dw, y) */
static void grad_EMBED_BWD(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dn_ir_embed(c->g, dy, n->in[1], n->loc));
}

/* --- layout --------------------------------------------------------------------------- */

/* dx = reshape(dy, shape of x) */
static void grad_RESHAPE(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dn_ir_reshape(c->g, dy, n->in[0]->shape, n->loc));
}
/* dx = transpose(dy, inverse perm) */
static void grad_TRANSPOSE(ad_ctx *c, dn_node *n, dn_node *dy) {
  int inv[DN_MAX_RANK];
  for (int i = 0; i < n->shape.rank; i++) inv[n->perm[i]] = i;
  ad_acc(c, n->in[0], dn_ir_transpose(c->g, dy, inv, n->loc));
}
/* dx = zeros with dy at [start:stop] */
static void grad_SLICE(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *x = n->in[0];
  if (!want(c, x)) return;
  ad_piece *p = dn_alloc(sizeof *p);
  *p = (ad_piece){dy, n->axis, n->start, n->stop, c->pieces[x->id]};
  c->pieces[x->id] = p;
}

static int by_start(const void *a, const void *b) {
  const ad_piece *x = *(ad_piece *const *)a, *y = *(ad_piece *const *)b;
  return x->start < y->start ? -1 : x->start > y->start;
}

/* Adds the slice contributions of x to its adjoint. Disjoint slices along one axis (the
 * gates of an LSTM cut from one product) become one CONCAT with zeros in the gaps, instead
 * of a zero-filled UNSLICE per slice and a sum of them. */
static void flush_pieces(ad_ctx *c, dn_node *x) {
  int n = 0;
  for (ad_piece *p = c->pieces[x->id]; p; p = p->next) n++;
  if (!n) return;
  ad_piece **v = dn_alloc(sizeof *v * (size_t)n);
  n = 0;
  for (ad_piece *p = c->pieces[x->id]; p; p = p->next) v[n++] = p;
  c->pieces[x->id] = NULL;
  qsort(v, (size_t)n, sizeof *v, by_start);
  int disjoint = 1;
  for (int i = 0; i + 1 < n; i++) disjoint &= v[i]->axis == v[i + 1]->axis && v[i]->stop <= v[i + 1]->start;
  if (!disjoint || n == 1) {
    for (int i = 0; i < n; i++) ad_acc(c, x, dn_ir_unslice(c->g, v[i]->d, v[i]->axis, v[i]->start, x->shape, x->loc));
    return;
  }
  int axis = v[0]->axis;
  dn_node **parts = dn_alloc(sizeof *parts * (size_t)(2 * n + 1));
  int k = 0;
  int64_t at = 0;
  for (int i = 0; i <= n; i++) {
    int64_t next = i < n ? v[i]->start : x->shape.dim[axis];
    if (next > at) {
      dn_shape zs = x->shape;
      zs.dim[axis] = next - at;
      parts[k] = dn_ir_const(c->g, 0, zs, x->loc);
      parts[k++]->batched = x->batched;
    }
    if (i < n) parts[k++] = v[i]->d, at = v[i]->stop;
  }
  ad_acc(c, x, dn_ir_concat(c->g, k, parts, axis, x->loc));
}
/* dx = dy[start:stop] */
static void grad_UNSLICE(ad_ctx *c, dn_node *n, dn_node *dy) {
  ad_acc(c, n->in[0], dn_ir_slice(c->g, dy, n->axis, n->start, n->stop, n->loc));
}
/* dx_i = dy[offset_i : offset_i + size_i] */
static void grad_CONCAT(ad_ctx *c, dn_node *n, dn_node *dy) {
  int64_t off = 0;
  for (int i = 0; i < n->nin; i++) {
    int64_t len = n->in[i]->shape.dim[n->axis];
    if (want(c, n->in[i])) ad_acc(c, n->in[i], dn_ir_slice(c->g, dy, n->axis, off, off + len, n->loc));
    off += len;
  }
}

/* --- recurrence: the adjoint of a scan is a reverse scan ------------------------------

   Forward: h_t = f(x_t, h_{t-1}, outer) for t in processing order, stacked H = [h_t]. With
   dH the adjoint of H (from SCAN_GET users) and c_t = dL/dh_t arriving from later steps:
     a_t = c_t + dH_t                     (total adjoint of the step's new state)
     c_{t-1} = a_t df/dh_{t-1},  dx_t = a_t df/dx_t,  d outer += a_t df/d outer
   which is a SCAN in the opposite order: sequences x, Hprev (the state each step read:
   h0 then H shifted by one), dH and, under tbptt, a 0/1 cut mask; states c (carried), the
   outer accumulators, dx (only stacked); outers as before. Its body recomputes f from
   (x_t, h_{t-1}) on a copy of the forward body (nodes with `primal` set; scan_save.c later
   replaces the copies the gradient reads by saved per-step values) and differentiates that
   copy with this pass. */

/* SCAN_GET: collects the adjoint of one stacked state; grad_SCAN uses them. */
static void grad_SCAN_GET(ad_ctx *c, dn_node *n, dn_node *dy) {
  dn_node *sc = n->in[0];
  if (!c->sadj[sc->id]) c->sadj[sc->id] = dn_alloc(sizeof(dn_node *) * (size_t)(sc->scan.n_state + 1));
  dn_node **a = &c->sadj[sc->id][n->axis];
  *a = *a ? dn_ir_binary(c->g, DN_OP_ADD, *a, dy, n->loc) : dy;
  c->adj[sc->id] = dy; /* marks the scan as reached */
}

/* [B, T, ...] -> the per-step shape [B, ...]. */
static dn_shape step_shape(dn_shape seq) {
  dn_shape s = seq;
  s.rank--;
  for (int i = 1; i < s.rank; i++) s.dim[i] = seq.dim[i + 1];
  return s;
}

/* [B, ...] -> [B, 1, ...]. */
static dn_node *with_time_axis(dn_graph *g, dn_node *x, dn_loc loc) {
  int64_t d[DN_MAX_RANK];
  d[0] = x->shape.dim[0];
  d[1] = 1;
  for (int i = 1; i < x->shape.rank; i++) d[i + 1] = x->shape.dim[i];
  return dn_ir_reshape(g, x, dn_shape_make(x->shape.rank + 1, d), loc);
}

static dn_node *leaf(dn_graph *g, dn_op op, int index, dn_shape shape, const dn_node *like, dn_loc loc) {
  dn_node *n = dn_node_add(g, op, 0, NULL, shape, loc);
  n->param = index;
  n->batched = like->batched;
  n->dtype = like->dtype;
  n->classes = like->classes;
  n->name = like->name;
  return n;
}

static dn_node *zeros_like(dn_graph *g, const dn_node *x, dn_loc loc) {
  dn_node *z = dn_ir_const(g, 0, x->shape, loc);
  z->batched = x->batched;
  return z;
}

/* SCAN_LAST of state k of scan sc, whose initial value is init. */
static dn_node *scan_last(dn_graph *g, dn_node *sc, int k, const dn_node *init, dn_loc loc) {
  dn_node *v = dn_node_add(g, DN_OP_SCAN_LAST, 1, &sc, init->shape, loc);
  v->axis = k;
  v->batched = init->batched;
  return v;
}

/* The states each step read, in time order: h0 then H without its last processed step. */
static dn_node *prev_states(dn_graph *g, dn_node *sc, int k, dn_loc loc) {
  dn_node *h0 = sc->in[sc->scan.n_seq + k];
  int64_t T = sc->scan.steps;
  dn_node *first = with_time_axis(g, h0, loc);
  if (T == 1) return first;
  dn_node *H = dn_ir_scan_get(g, sc, k, h0->shape, loc);
  dn_node *parts[2];
  if (!sc->scan.reverse) parts[0] = first, parts[1] = dn_ir_slice(g, H, 1, 0, T - 1, loc);
  else parts[0] = dn_ir_slice(g, H, 1, 1, T, loc), parts[1] = first;
  return dn_ir_concat(g, 2, parts, 1, loc);
}

static int backprop_from(ad_ctx *c, int top);
static void mark_needs(ad_ctx *c);


static void grad_SCAN(ad_ctx *c, dn_node *sc, dn_node *dy) {
  (void)dy;
  dn_graph *g = c->g, *fb = sc->scan.body;
  int ns = sc->scan.n_seq, nk = sc->scan.n_state, no = sc->scan.n_outer;
  dn_node **dH = c->sadj[sc->id];
  dn_loc loc = sc->loc;
  if (!sc->scan.loop) dn_die("autodiff: scan %%%d was not unrolled", sc->id);
  int n_dh = 0;
  for (int k = 0; k < nk; k++) n_dh += dH && dH[k];

  /* The adjoint body: leaves, then the forward body recomputed from them. */
  dn_graph *ab = dn_graph_new_body(g);
  dn_node **x = dn_alloc(sizeof(dn_node *) * (size_t)(ns + 1)), **hp = dn_alloc(sizeof(dn_node *) * (size_t)(nk + 1));
  dn_node **dh = dn_alloc(sizeof(dn_node *) * (size_t)(nk + 1)), **carry = dn_alloc(sizeof(dn_node *) * (size_t)(nk + 1));
  dn_node **acc = dn_alloc(sizeof(dn_node *) * (size_t)(no + 1)), **ol = dn_alloc(sizeof(dn_node *) * (size_t)(no + 1));
  int seq = 0, st = 0;
  for (int i = 0; i < ns; i++) x[i] = leaf(ab, DN_OP_SCAN_X, seq++, step_shape(sc->in[i]->shape), sc->in[i], loc);
  for (int k = 0; k < nk; k++) hp[k] = leaf(ab, DN_OP_SCAN_X, seq++, sc->in[ns + k]->shape, sc->in[ns + k], loc);
  for (int k = 0; k < nk; k++) dh[k] = dH && dH[k] ? leaf(ab, DN_OP_SCAN_X, seq++, sc->in[ns + k]->shape, sc->in[ns + k], loc) : NULL;
  dn_node *mask = NULL, *mleaf = NULL;
  if (c->tbptt > 0 && sc->scan.steps > c->tbptt) {
    /* Truncated BPTT: the adjoint carried into the state that entered processing step s is
     * cut (times 0) when s > 0 and s % K == 0, as unroll.c's STOP_GRAD does. */
    int64_t B = g->batch, T = sc->scan.steps;
    float *m = dn_alloc(sizeof(float) * (size_t)(B * T));
    for (int64_t b = 0; b < B; b++)
      for (int64_t t = 0; t < T; t++) {
        int64_t st_ = sc->scan.reverse ? T - 1 - t : t;
        m[b * T + t] = st_ > 0 && st_ % c->tbptt == 0 ? 0.0f : 1.0f;
      }
    mask = dn_ir_const_data(g, m, dn_shape_of(3, B, T, (int64_t)1), loc);
    mask->batched = 1;
    mleaf = leaf(ab, DN_OP_SCAN_X, seq++, dn_shape_of(2, B, (int64_t)1), mask, loc);
  }
  for (int k = 0; k < nk; k++) carry[k] = leaf(ab, DN_OP_SCAN_STATE, st++, sc->in[ns + k]->shape, sc->in[ns + k], loc);
  for (int j = 0; j < no; j++) {
    dn_node *o = sc->in[ns + nk + j];
    acc[j] = want(c, o) ? leaf(ab, DN_OP_SCAN_STATE, st++, o->shape, o, loc) : NULL;
  }
  for (int j = 0; j < no; j++) ol[j] = leaf(ab, DN_OP_SCAN_OUTER, j, sc->in[ns + nk + j]->shape, sc->in[ns + nk + j], loc);
  for (int i = 0; i < fb->nodes.n; i++) {
    dn_node *n = fb->nodes.v[i];
    switch (n->op) {
    case DN_OP_SCAN_X: n->aux = x[n->param]; break;
    case DN_OP_SCAN_STATE: n->aux = hp[n->param]; break;
    case DN_OP_SCAN_OUTER: n->aux = ol[n->param]; break;
    case DN_OP_SCAN: case DN_OP_PARAM:
      dn_die("autodiff: loop body of %%%d still holds a %s", sc->id, dn_ops[n->op].name);
    default:
      n->aux = dn_node_copy_mapped(ab, n);
      ((dn_node *)n->aux)->primal = n;
      break;
    }
  }

  /* Differentiate the copy: seeds are the new states' adjoints, targets the leaves. */
  int nf = ab->nodes.n;
  ad_ctx sub = {ab, nf, dn_alloc((size_t)nf + 1), dn_alloc(sizeof(dn_node *) * ((size_t)nf + 1)),
                dn_alloc(sizeof(dn_node **) * ((size_t)nf + 1)), dn_alloc(sizeof(ad_piece *) * ((size_t)nf + 1)), c->tbptt, 0};
  for (int k = 0; k < nk; k++) sub.needs[hp[k]->id] = hp[k]->dtype == DN_F32;
  for (int i = 0; i < ns; i++) sub.needs[x[i]->id] = want(c, sc->in[i]);
  for (int j = 0; j < no; j++) sub.needs[ol[j]->id] = acc[j] != NULL;
  mark_needs(&sub);
  int top = -1;
  for (int k = 0; k < nk; k++) {
    dn_node *r = ((dn_node *)fb->results.v[k])->aux;
    if (!sub.needs[r->id]) continue;
    dn_node *seed = dh[k] ? dn_ir_binary(ab, DN_OP_ADD, carry[k], dh[k], loc) : carry[k];
    sub.adj[r->id] = sub.adj[r->id] ? dn_ir_binary(ab, DN_OP_ADD, sub.adj[r->id], seed, loc) : seed;
    if (r->id > top) top = r->id;
  }
  if (backprop_from(&sub, top)) {
    c->failed = 1;
    return;
  }
  for (int k = 0; k < nk; k++) {
    dn_node *a = sub.adj[hp[k]->id];
    if (a && mleaf) {
      dn_shape ms = a->shape;
      for (int i = 1; i < ms.rank; i++) ms.dim[i] = 1;
      a = dn_ir_binary(ab, DN_OP_MUL, a, dn_ir_reshape(ab, mleaf, ms, loc), loc);
    }
    dn_vec_push(&ab->results, a ? a : zeros_like(ab, hp[k], loc));
  }
  for (int j = 0; j < no; j++)
    if (acc[j]) dn_vec_push(&ab->results, sub.adj[ol[j]->id] ? dn_ir_binary(ab, DN_OP_ADD, acc[j], sub.adj[ol[j]->id], loc) : acc[j]);
  int dx0 = st;
  for (int i = 0; i < ns; i++) {
    if (!want(c, sc->in[i])) continue;
    leaf(ab, DN_OP_SCAN_STATE, st++, x[i]->shape, x[i], loc); /* never read: dx is only stacked */
    dn_vec_push(&ab->results, sub.adj[x[i]->id] ? sub.adj[x[i]->id] : zeros_like(ab, x[i], loc));
  }

  /* The reverse scan in g. */
  int nin = ns + nk + n_dh + (mask != NULL) + st + no, p = 0;
  dn_node **in = dn_alloc(sizeof(dn_node *) * (size_t)nin);
  for (int i = 0; i < ns; i++) in[p++] = sc->in[i];
  for (int k = 0; k < nk; k++) in[p++] = prev_states(g, sc, k, loc);
  for (int k = 0; k < nk; k++)
    if (dh[k]) in[p++] = dH[k];
  if (mask) in[p++] = mask;
  for (int k = 0; k < nk; k++) in[p++] = zeros_like(g, sc->in[ns + k], loc);
  for (int j = 0; j < no; j++)
    if (acc[j]) in[p++] = zeros_like(g, sc->in[ns + nk + j], loc);
  for (int i = 0; i < ns; i++)
    if (want(c, sc->in[i])) in[p++] = zeros_like(g, x[i], loc);
  for (int j = 0; j < no; j++) in[p++] = sc->in[ns + nk + j];
  dn_node *rs = dn_node_add(g, DN_OP_SCAN, nin, in, dn_shape_make(0, NULL), loc);
  rs->batched = 1;
  rs->scan.body = ab;
  rs->scan.n_seq = ns + nk + n_dh + (mask != NULL);
  rs->scan.n_state = st;
  rs->scan.n_outer = no;
  rs->scan.steps = sc->scan.steps;
  rs->scan.reverse = !sc->scan.reverse;
  rs->scan.loop = 1;
  rs->scan.primal = sc;

  /* Contributions to the forward scan's inputs. */
  for (int k = 0; k < nk; k++) {
    dn_node *h0 = sc->in[ns + k];
    if (want(c, h0)) ad_acc(c, h0, scan_last(g, rs, k, h0, loc));
  }
  for (int j = 0, a = nk; j < no; j++) {
    dn_node *o = sc->in[ns + nk + j];
    if (acc[j]) ad_acc(c, o, scan_last(g, rs, a++, o, loc));
  }
  for (int i = 0, k = dx0; i < ns; i++)
    if (want(c, sc->in[i])) ad_acc(c, sc->in[i], dn_ir_scan_get(g, rs, k++, x[i]->shape, loc));
}

/* --- the rule table ------------------------------------------------------------------- */

/* No gradient flows through these: leaves, DN_F_NOGRAD ops, backward-only ops. */
#define grad_INPUT NULL
#define grad_PARAM NULL
#define grad_CONST NULL
#define grad_STEP NULL
#define grad_SIGN NULL
#define grad_INRANGE NULL
#define grad_GT NULL
#define grad_EQ NULL
#define grad_RAND_UNIFORM NULL
#define grad_ONEHOT NULL
#define grad_ASSIGN NULL
#define grad_CONV2D_BWD_W NULL
#define grad_MAXPOOL2D_BWD NULL
#define grad_SCAN_X NULL
#define grad_SCAN_STATE NULL
#define grad_SCAN_OUTER NULL
#define grad_SCAN_LAST NULL   /* only in gradient graphs */
#define grad_STOP_GRAD NULL  /* dL/dx = 0 through it: truncated BPTT */

static const ad_rule ad_rules[DN_OP_COUNT] = {
#define OP(name, arity, flags, doc) [DN_OP_##name] = grad_##name,
#include "ops.def"
#undef OP
};

/* --- the pass ------------------------------------------------------------------------- */

/* needs[id] = the node depends on a trainable parameter through ops that pass gradients. */
static void mark_needs(ad_ctx *c) {
  for (int i = 0; i < c->n_fwd; i++) {
    dn_node *n = c->g->nodes.v[i];
    if (n->op == DN_OP_PARAM) {
      c->needs[i] = ((dn_param *)c->g->params.v[n->param])->trainable;
      continue;
    }
    if (dn_ops[n->op].flags & DN_F_LEAF) continue; /* scan leaves: preset by grad_SCAN */
    if ((dn_ops[n->op].flags & DN_F_NOGRAD) || n->dtype != DN_F32) continue;
    for (int j = 0; j < n->nin && !c->needs[i]; j++) c->needs[i] = c->needs[n->in[j]->id];
  }
}

/* Adds a parameter node's adjoint to the gradient of its parameter. */
static void collect_grad(ad_ctx *c, dn_node *n) {
  dn_node *a = c->adj[n->id], **gr = (dn_node **)&c->g->grads.v[n->param];
  if (a) *gr = *gr ? dn_ir_binary(c->g, DN_OP_ADD, *gr, a, n->loc) : a;
}

/* Propagates one node's adjoint to its inputs. */
static void backprop_node(ad_ctx *c, dn_node *n) {
  flush_pieces(c, n);
  if (!c->adj[n->id] || !c->needs[n->id]) return;
  if (n->op == DN_OP_PARAM) {
    collect_grad(c, n);
    return;
  }
  if (n->op == DN_OP_SCAN_X || n->op == DN_OP_SCAN_STATE || n->op == DN_OP_SCAN_OUTER) return; /* targets */
  ad_rule r = ad_rules[n->op];
  if (!r) {
    dn_error(n->loc, "no gradient rule for %s", dn_ops[n->op].name);
    c->failed = 1;
    return;
  }
  r(c, n, c->adj[n->id]);
}

/* The reverse sweep from node `top` down. Returns 1 after a rule reported an error. */
static int backprop_from(ad_ctx *c, int top) {
  for (int i = top; i >= 0 && !dn_error_limit_reached(); i--) backprop_node(c, c->g->nodes.v[i]);
  return c->failed || dn_error_limit_reached();
}

/* Trainable parameters the loss does not reach get a zero gradient; state gets NULL. */
static void finish_grads(ad_ctx *c) {
  for (int i = 0; i < c->g->params.n; i++) {
    dn_param *p = c->g->params.v[i];
    if (p->trainable && !c->g->grads.v[i]) c->g->grads.v[i] = dn_ir_const(c->g, 0, p->shape, p->loc);
  }
}

/* STOP_GRAD has done its work once the adjoints exist: every use reads its input instead
 * (DCE then drops the node), so no later pass or emitter sees it. */
static dn_node *through(dn_node *n) {
  while (n && n->op == DN_OP_STOP_GRAD) n = n->in[0];
  return n;
}

static void strip_stop_grads(dn_graph *g) {
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    for (int j = 0; j < n->nin; j++) n->in[j] = through(n->in[j]);
  }
  for (int i = 0; i < g->outputs.n; i++) ((dn_output *)g->outputs.v[i])->node = through(((dn_output *)g->outputs.v[i])->node);
  for (int i = 0; i < g->grads.n; i++) g->grads.v[i] = through(g->grads.v[i]);
  g->loss = through(g->loss);
  g->loss_mean = through(g->loss_mean);
}

int dn_autodiff(dn_graph *g) {
  if (!g->loss_mean) {
    dn_error((dn_loc){g->file, 1, 1}, "the model has no loss: nothing to differentiate");
    return 1;
  }
  ad_ctx c = {g, g->nodes.n, dn_alloc((size_t)g->nodes.n + 1), dn_alloc(sizeof(dn_node *) * ((size_t)g->nodes.n + 1)),
              dn_alloc(sizeof(dn_node **) * ((size_t)g->nodes.n + 1)), dn_alloc(sizeof(ad_piece *) * ((size_t)g->nodes.n + 1)),
              g->train.tbptt, 0};
  mark_needs(&c);
  g->grads.n = 0;
  for (int i = 0; i < g->params.n; i++) dn_vec_push(&g->grads, NULL);
  dn_node *lm = g->loss_mean;
  c.adj[lm->id] = lm->shape.rank == 0 ? sc(&c, 1, lm) : dn_ir_const(g, 1, lm->shape, lm->loc);
  if (backprop_from(&c, lm->id)) return 1;
  finish_grads(&c);
  strip_stop_grads(g);
  return 0;
}
