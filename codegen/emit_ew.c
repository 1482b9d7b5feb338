/* emit_ew.c - fused elementwise loops.
 *
 * A group is a root node (DN_EMK_ARENA/OUT/GRAD, elementwise or RAND_UNIFORM) plus the
 * DN_EMK_INLINE nodes that feed only it, directly or through each other (emit.c decides,
 * at -O1 and above; at -O0 every group is one node). Inline nodes have the root's shape, so
 * the loop runs over the root's elements and every group node is one `const real vN = ...;`
 * statement in node order inside the loop body: the chain is computed in registers and
 * stored once. Leaves of the group (values from outside it) are loaded with an index that
 * follows NumPy broadcasting: size-1 axes of the leaf get stride 0, rank-0 leaves and inlined
 * constants are literals. When every loaded leaf has the root's element count the loop is a
 * single flat loop, which GCC and Clang vectorize; otherwise one loop per axis.
 *
 * RAND_UNIFORM draws from a counter-based hash of (seed in the state, step counter, node id,
 * element index): no generator state, the same value for the same step (P_grad_v repeats
 * exactly), fresh values after P_train_step_v advances the step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"

const char *dn_em_lit(const dn_em *em, double v) { return dn_cg_lit(em->real, v); }

/* libm name for the element type: expf or exp. In float code, exp and tanh are the file's own
 * branch-free versions (P_expf, P_tanhf: dn_em_math_helpers), which the C compiler can
 * vectorize; libm's are calls in every iteration. Double code (gradcheck) keeps libm. */
static const char *fn(const dn_em *em, const char *name) {
  if (em->esize == 4 && (!strcmp(name, "exp") || !strcmp(name, "tanh"))) return dn_fmt("%s_%sf", em->P, name);
  return em->esize == 4 ? dn_fmt("%sf", name) : name;
}

/* The constant value of a DN_EMK_SCALAR node (a CONST, or a view of one). */
static double scalar_value(const dn_node *n) {
  while (n->op != DN_OP_CONST) n = n->in[0];
  return n->alpha;
}

/* Expression computing node n from its inputs' value names a, b. */
static const char *op_expr(const dn_em *em, const dn_node *n, const char *a, const char *b) {
  const char *al = dn_em_lit(em, n->alpha), *be = dn_em_lit(em, n->beta), *zero = dn_em_lit(em, 0), *one = dn_em_lit(em, 1);
  switch (n->op) {
  case DN_OP_NEG: return dn_fmt("-%s", a);
  case DN_OP_RELU: return dn_fmt("%s > %s ? %s : %s", a, zero, a, zero);
  case DN_OP_SIGMOID: return dn_fmt("%s / (%s + %s(-%s))", one, one, fn(em, "exp"), a);
  case DN_OP_TANH: return dn_fmt("%s(%s)", fn(em, "tanh"), a);
  case DN_OP_SOFTPLUS: return dn_fmt("%s > %s ? %s : %s(%s(%s))", a, dn_em_lit(em, 20), a, fn(em, "log1p"), fn(em, "exp"), a);
  case DN_OP_ELU: return dn_fmt("%s > %s ? %s : %s * %s(%s)", a, zero, a, al, fn(em, "expm1"), a);
  case DN_OP_LEAKY_RELU: return dn_fmt("%s > %s ? %s : %s * %s", a, zero, a, al, a);
  case DN_OP_HARDTANH:
  case DN_OP_CLAMP: return dn_fmt("%s < %s ? %s : %s > %s ? %s : %s", a, al, al, a, be, be, a);
  case DN_OP_STEP: return dn_fmt("%s > %s ? %s : %s", a, zero, one, zero);
  case DN_OP_SIGN: return dn_fmt("%s > %s ? %s : %s < %s ? -%s : %s", a, zero, one, a, zero, one, zero);
  case DN_OP_INRANGE:
    return n->axis == 1 ? dn_fmt("%s <= %s && %s <= %s ? %s : %s", al, a, a, be, one, zero)
                        : dn_fmt("%s < %s && %s < %s ? %s : %s", al, a, a, be, one, zero);
  case DN_OP_EXP: return dn_fmt("%s(%s)", fn(em, "exp"), a);
  case DN_OP_LOG: return dn_fmt("%s(%s)", fn(em, "log"), a);
  case DN_OP_SQRT: return dn_fmt("%s(%s)", fn(em, "sqrt"), a);
  case DN_OP_ABS: return dn_fmt("%s(%s)", fn(em, "fabs"), a);
  case DN_OP_SQUARE: return dn_fmt("%s * %s", a, a);
  case DN_OP_SIN: return dn_fmt("%s(%s)", fn(em, "sin"), a);
  case DN_OP_COS: return dn_fmt("%s(%s)", fn(em, "cos"), a);
  case DN_OP_RECIP: return dn_fmt("%s / %s", one, a);
  case DN_OP_POWC:
    if (n->alpha == 1) return a;
    if (n->alpha == 2) return dn_fmt("%s * %s", a, a);
    return dn_fmt("%s(%s, %s)", fn(em, "pow"), a, al);
  case DN_OP_ADD: return dn_fmt("%s + %s", a, b);
  case DN_OP_SUB: return dn_fmt("%s - %s", a, b);
  case DN_OP_MUL: return dn_fmt("%s * %s", a, b);
  case DN_OP_DIV: return dn_fmt("%s / %s", a, b);
  case DN_OP_POW: return dn_fmt("%s(%s, %s)", fn(em, "pow"), a, b);
  case DN_OP_MAX: return dn_fmt("%s > %s || %s != %s ? %s : %s", a, b, a, a, a, b);
  case DN_OP_MIN: return dn_fmt("%s < %s || %s != %s ? %s : %s", a, b, a, a, a, b);
  case DN_OP_GT: return dn_fmt("%s > %s ? %s : %s", a, b, one, zero);
  case DN_OP_EQ: return dn_fmt("%s == %s ? %s : %s", a, b, one, zero);
  case DN_OP_BCE_LOGITS:
    return dn_fmt("(%s > %s ? %s : %s) - %s * %s + %s(%s(-%s(%s)))", a, zero, a, zero, a, b, fn(em, "log1p"), fn(em, "exp"),
                  fn(em, "fabs"), a);
  case DN_OP_RAND_UNIFORM:
    /* in the per-thread training body (emit.c part_body) element i of part dn_part is
     * element dn_part * count + i of the whole batch: the serial step's draws (when the
     * two graphs number their nodes alike, as the same passes do; else other but still
     * independent draws: no two parts share an element index) */
    if (strcmp(em->pvar, "st") != 0) a = dn_fmt("(%s) + dn_part * %lld", a, (long long)dn_shape_count(n->shape));
    return dn_fmt("%s + (%s - %s) * %s_rand01(dn_seed, dn_step, %d, %s)", al, be, al, em->P, n->id, a);
  default: dn_die("%s is not elementwise", dn_ops[n->op].name);
  }
}

/* A fused group: the root and the inline nodes it reaches, ascending ids (= evaluation order). */
typedef struct ew_group {
  int *ids;                /* member node ids, ascending */
  int n;                   /* members */
} ew_group;

/* A fresh "seen" stamp for b->ew_stamp (allocated once per body, so a group costs its size,
 * not the graph's: unrolled scans make graphs of many thousand nodes). */
static int new_stamp(dn_em_body *b) {
  if (!b->ew_stamp) b->ew_stamp = dn_alloc(sizeof(int) * (size_t)(b->g->nodes.n + 1));
  return ++b->ew_gen;
}

static int cmp_int(const void *x, const void *y) { return (*(const int *)x > *(const int *)y) - (*(const int *)x < *(const int *)y); }

/* Collects root and the nodes reachable from it through inline nodes (iteratively: chains
 * can be long). */
static ew_group collect_group(dn_em_body *b, const dn_node *root) {
  int gen = new_stamp(b), cap = 16, top = 0;
  ew_group gr = {malloc(sizeof(int) * (size_t)cap), 0};
  const dn_node **stack = malloc(sizeof(*stack) * (size_t)cap);
  if (!gr.ids || !stack) dn_die("out of memory");
  stack[top++] = root;
  b->ew_stamp[root->id] = gen;
  while (top > 0) {
    const dn_node *n = stack[--top];
    if (gr.n + n->nin + 1 > cap || top + n->nin + 1 > cap) {
      cap = 2 * (cap + n->nin);
      gr.ids = realloc(gr.ids, sizeof(int) * (size_t)cap);
      stack = realloc(stack, sizeof(*stack) * (size_t)cap);
      if (!gr.ids || !stack) dn_die("out of memory");
    }
    gr.ids[gr.n++] = n->id;
    for (int i = 0; i < n->nin; i++) {
      const dn_node *x = n->in[i];
      if (b->nodes[x->id].kind != DN_EMK_INLINE || b->ew_stamp[x->id] == gen) continue;
      b->ew_stamp[x->id] = gen;
      stack[top++] = x;
    }
  }
  free(stack);
  qsort(gr.ids, (size_t)gr.n, sizeof(int), cmp_int);
  return gr;
}

/* Is x a leaf of the group that is loaded from memory? */
static int loaded_leaf(const dn_em_body *b, const dn_node *x) {
  dn_em_kind k = b->nodes[x->id].kind;
  return k != DN_EMK_INLINE && k != DN_EMK_SCALAR;
}

/* Element strides of a leaf of shape s read in a loop over root shape r (axes aligned from the
 * right, NumPy broadcasting): 0 on the axes the leaf is broadcast along. */
static void leaf_strides(dn_shape s, dn_shape r, int64_t *st) {
  int64_t stride = 1;
  for (int k = r.rank - 1; k >= 0; k--) {
    int ks = k - (r.rank - s.rank);
    st[k] = ks >= 0 && s.dim[ks] != 1 ? stride : 0;
    if (ks >= 0) stride *= s.dim[ks];
  }
}

/* The loop nest of a broadcast group: the root's axes without its size-1 axes, with
 * neighbouring axes merged where every loaded leaf walks them as one (so a per-channel bias
 * over [N, C, H, W] is a loop over N*C of a contiguous H*W loop, which vectorizes). */
typedef struct ew_nest {
  int n;                      /* loops */
  int64_t dim[DN_MAX_RANK];   /* trip counts, outermost first */
  int last[DN_MAX_RANK];      /* the innermost root axis of each loop */
} ew_nest;

static ew_nest make_nest(const dn_em_body *b, const dn_node *root, const ew_group *gr) {
  dn_shape r = root->shape;
  int merge[DN_MAX_RANK] = {0}; /* merge[k]: root axis k joins the next kept axis */
  for (int k = 0; k < r.rank; k++) merge[k] = 1;
  int prev = -1; /* the previous kept axis */
  for (int k = 0; k < r.rank; k++) {
    if (r.dim[k] == 1) continue;
    if (prev >= 0)
      for (int m = 0; m < gr->n && merge[prev]; m++) {
        const dn_node *n = b->g->nodes.v[gr->ids[m]];
        for (int i = 0; i < n->nin; i++) {
          const dn_node *x = n->in[i];
          if (!loaded_leaf(b, x)) continue;
          int64_t st[DN_MAX_RANK];
          leaf_strides(x->shape, r, st);
          if (st[prev] != st[k] * r.dim[k]) merge[prev] = 0;
        }
      }
    prev = k;
  }
  ew_nest nest = {0};
  int open = 0;
  for (int k = 0; k < r.rank; k++) {
    if (r.dim[k] == 1) continue;
    if (!open) nest.dim[nest.n++] = 1;
    nest.dim[nest.n - 1] *= r.dim[k];
    nest.last[nest.n - 1] = k;
    open = merge[k];
  }
  if (nest.n == 0) nest.dim[nest.n++] = 1, nest.last[0] = r.rank - 1;
  return nest;
}

/* Index expression of an element of leaf shape s in the loop nest over root shape r. */
static const char *leaf_index(dn_shape s, dn_shape r, const ew_nest *nest) {
  if (!nest || dn_shape_count(s) == dn_shape_count(r)) return "dn_i";
  int64_t st[DN_MAX_RANK];
  leaf_strides(s, r, st);
  const char *e = "0";
  for (int j = 0; j < nest->n; j++)
    if (nest->last[j] >= 0 && st[nest->last[j]]) e = dn_fmt("%s + dn_i%d * %lld", e, j, (long long)st[nest->last[j]]);
  return e;
}

/* Does every loaded leaf have the root's element count? */
static int all_flat(const dn_em_body *b, const dn_node *root, const ew_group *gr) {
  int64_t cnt = dn_shape_count(root->shape);
  for (int m = 0; m < gr->n; m++) {
    const dn_node *n = b->g->nodes.v[gr->ids[m]];
    for (int i = 0; i < n->nin; i++) {
      const dn_node *x = n->in[i];
      if (loaded_leaf(b, x) && dn_shape_count(x->shape) != cnt) return 0;
    }
  }
  return 1;
}

/* The load of leaf x, once per stamp `loaded`. */
static void leaf_load(dn_em *em, dn_em_body *b, dn_buf *c, const dn_node *root, const dn_node *x, const ew_nest *nest,
                      int loaded, const char *ind) {
  if (b->ew_stamp[x->id] == loaded) return;
  b->ew_stamp[x->id] = loaded;
  dn_buf_printf(c, "%sconst %s l%d = (%s)p%d[%s];\n", ind, em->real, x->id, em->real, x->id,
                leaf_index(x->shape, root->shape, nest));
}

/* Loads of the leaves that stay the same along the innermost loop (a bias per channel), before
 * that loop: GCC vectorizes the loop only when no load in it is invariant. */
static void hoisted_loads(dn_em *em, dn_em_body *b, dn_buf *c, const dn_node *root, const ew_group *gr,
                          const ew_nest *nest, int loaded, const char *ind) {
  for (int m = 0; m < gr->n; m++) {
    const dn_node *n = b->g->nodes.v[gr->ids[m]];
    for (int i = 0; i < n->nin; i++) {
      const dn_node *x = n->in[i];
      if (!loaded_leaf(b, x) || dn_shape_count(x->shape) == dn_shape_count(root->shape)) continue;
      int64_t st[DN_MAX_RANK];
      leaf_strides(x->shape, root->shape, st);
      if (st[nest->last[nest->n - 1]] == 0) leaf_load(em, b, c, root, x, nest, loaded, ind);
    }
  }
}

/* Loads of the leaves not loaded yet (stamp `loaded`), then one statement per group node. */
static void body_stmts(dn_em *em, dn_em_body *b, dn_buf *c, const dn_node *root, const ew_group *gr,
                       const ew_nest *nest, int loaded, const char *ind) {
  for (int m = 0; m < gr->n; m++) {
    int id = gr->ids[m];
    const dn_node *n = b->g->nodes.v[id];
    const char *v[2] = {"dn_i", "dn_i"};
    for (int i = 0; i < n->nin && i < 2; i++) {
      const dn_node *x = n->in[i];
      dn_em_node *xe = &b->nodes[x->id];
      if (xe->kind == DN_EMK_INLINE) v[i] = dn_fmt("v%d", x->id);
      else if (xe->kind == DN_EMK_SCALAR) v[i] = dn_fmt("(%s)", dn_em_lit(em, scalar_value(x)));
      else {
        v[i] = dn_fmt("l%d", x->id);
        leaf_load(em, b, c, root, x, nest, loaded, ind);
      }
    }
    dn_buf_printf(c, "%sconst %s v%d = %s;\n", ind, em->real, id, op_expr(em, n, v[0], v[1]));
  }
}

/* The arena buffer under node x's views, or -1. */
static int base_buf(const dn_em_body *b, const dn_node *x) {
  while (b->nodes[x->id].kind == DN_EMK_VIEW) x = x->in[0];
  return b->nodes[x->id].kind == DN_EMK_ARENA ? b->nodes[x->id].buf : -1;
}

/* Can the group's pointers be restrict? Only the in-place leaf (its pointer is the output's
 * own, dn_o) may share the root's buffer: then every access to the written memory goes
 * through dn_o and the compiler vectorizes without run-time overlap checks (GCC's -O2 cost
 * model gives up on loops that need them). */
static int restrict_ok(const dn_em_body *b, const dn_node *root, const ew_group *gr, const char *out) {
  if (!b->nodes[root->id].inplace) return 1;
  int rb = b->nodes[root->id].buf;
  for (int m = 0; m < gr->n; m++) {
    const dn_node *n = b->g->nodes.v[gr->ids[m]];
    for (int i = 0; i < n->nin; i++) {
      const dn_node *x = n->in[i];
      const dn_em_node *xe = &b->nodes[x->id];
      if (!loaded_leaf(b, x)) continue;
      if (base_buf(b, x) == rb && strcmp(xe->expr, out)) return 0;
    }
  }
  return 1;
}

/* Pointer declarations of the loaded leaves. */
static void leaf_ptrs(dn_em *em, dn_em_body *b, dn_buf *c, const dn_node *root, const ew_group *gr, const char *out, int rs) {
  int done = new_stamp(b);
  for (int m = 0; m < gr->n; m++) {
    const dn_node *n = b->g->nodes.v[gr->ids[m]];
    for (int i = 0; i < n->nin; i++) {
      const dn_node *x = n->in[i];
      dn_em_node *xe = &b->nodes[x->id];
      if (!loaded_leaf(b, x) || b->ew_stamp[x->id] == done) continue;
      b->ew_stamp[x->id] = done;
      const char *t = x->dtype == DN_I32 ? "int32_t" : em->real;
      if (rs && b->nodes[root->id].inplace && !strcmp(xe->expr, out)) dn_buf_printf(c, "  const %s *p%d = dn_o;\n", t, x->id);
      else dn_buf_printf(c, "  const %s *%sp%d = %s;\n", t, rs ? "restrict " : "", x->id, xe->expr);
    }
  }
}

void dn_em_ew(dn_em *em, dn_em_body *b, dn_buf *c, const dn_node *root, const char *out) {
  ew_group gr = collect_group(b, root);
  int flat = all_flat(b, root, &gr), rand = 0;
  for (int m = 0; m < gr.n; m++)
    if (((const dn_node *)b->g->nodes.v[gr.ids[m]])->op == DN_OP_RAND_UNIFORM) rand = 1;
  int64_t cnt = dn_shape_count(root->shape);
  int inplace = b->nodes[root->id].inplace, rs = restrict_ok(b, root, &gr, out);
  /* Threaded loops: the body of an OpenMP loop is moved into a function of its own, where
   * GCC -O2 no longer vectorizes it (each thread's trip count is unknown, the pointers are
   * loaded from a struct): 4-8x slower than the serial loop. `simd` asks for vectors (its
   * cost model is not -O2's); it needs iterations free of each other, which holds when
   * only the in-place leaf shares the output's memory (rs). */
  int par = em->ctx.threads > 1 && !em->serial && cnt >= DN_PAR_MIN_ELEMS;
  const char *simd = rs ? " simd" : "";
  dn_buf_printf(c, "{ /* %s%s%s */\n  %s *%sdn_o = %s;\n", dn_ops[root->op].name, flat ? "" : " (broadcast)",
                inplace ? ", in place" : "", em->real, rs ? "restrict " : "", out);
  leaf_ptrs(em, b, c, root, &gr, out, rs);
  if (rand)
    dn_buf_printf(c, "  const uint64_t dn_seed = *(const uint64_t *)(%s + %zu);\n  const int64_t dn_step = *(const int64_t *)(%s + %zu);\n",
                  em->pvar, em->step_off + 8, em->pvar, em->step_off);
  if (flat || root->shape.rank == 0) {
    dn_buf_printf(c, "  long dn_i;\n");
    if (par) dn_buf_printf(c, "#pragma omp parallel for%s num_threads(%d)\n", simd, em->ctx.threads);
    dn_buf_printf(c, "  for (dn_i = 0; dn_i < %lld; ++dn_i) {\n", (long long)cnt);
    body_stmts(em, b, c, root, &gr, NULL, new_stamp(b), "    ");
    dn_buf_printf(c, "    dn_o[dn_i] = v%d;\n  }\n}\n", root->id);
    free(gr.ids);
    return;
  }
  ew_nest nest = make_nest(b, root, &gr);
  int r = nest.n;
  /* the inner indices are declared in their loops: declared before an OpenMP loop they
   * would be shared by its threads (C's rule), a race Clang's code loses */
  dn_buf_printf(c, "  long dn_i0;\n");
  if (par) dn_buf_printf(c, "#pragma omp parallel for%s num_threads(%d)\n", r == 1 ? simd : "", em->ctx.threads);
  int loaded = new_stamp(b);
  for (int k = 0; k < r; k++) {
    const char *ind = dn_fmt("%*s", 2 + 2 * k, "");
    if (k == r - 1) hoisted_loads(em, b, c, root, &gr, &nest, loaded, ind);
    if (k == r - 1 && r > 1 && par && rs) dn_buf_printf(c, "#pragma omp simd\n");
    /* the serial inner loop of a nest: GCC -O2 left it scalar ("complicated access pattern"
     * over the outer index, even with every pointer restrict); LSTM training step, the
     * bias broadcasts over [B T, 4H] and [B, 4H] */
    if (k == r - 1 && r > 1 && !par && rs) dn_buf_printf(c, "%sDN_IVDEP\n", ind);
    dn_buf_printf(c, "%sfor (%sdn_i%d = 0; dn_i%d < %lld; ++dn_i%d)%s\n", ind, k ? "long " : "", k, k, (long long)nest.dim[k], k,
                  k >= r - 2 ? " {" : "");
  }
  const char *ind = dn_fmt("%*s", 2 * r + 2, "");
  const char *flat_idx = dn_fmt("dn_i%d", r - 1);
  int64_t stride = nest.dim[r - 1];
  for (int k = r - 2; k >= 0; stride *= nest.dim[k--]) flat_idx = dn_fmt("%s + dn_i%d * %lld", flat_idx, k, (long long)stride);
  dn_buf_printf(c, "%sconst long dn_i = %s;\n", ind, flat_idx);
  body_stmts(em, b, c, root, &gr, &nest, loaded, ind);
  dn_buf_printf(c, "%sdn_o[dn_i] = v%d;\n%*s}\n", ind, root->id, 2 * r, "");
  if (r >= 2) dn_buf_printf(c, "%*s}\n", 2 * r - 2, "");
  dn_buf_printf(c, "}\n");
  free(gr.ids);
}

void dn_em_math_helpers(dn_em *em, dn_buf *c, int tanh) {
  const char *P = em->P;
  dn_buf_printf(c,
                "/* exp and tanh for float, written so that loops calling them vectorize (GCC -O2 and\n"
                " * Clang): no calls, no float-to-int conversions, selects only.\n"
                " * exp: Cephes' expf. x = k ln2 + r with k rounded to nearest by adding 1.5 * 2^23 (k is\n"
                " * then the low mantissa bits), a degree-6 polynomial for exp(r), scaled by 2^k through\n"
                " * the exponent bits. Within 1 ulp of exp from -86.6 to 88.7; 0 below -87.3, inf above\n"
                " * 88.73, NaN stays NaN. tanh: Cephes' tanhf, an odd polynomial for |x| <= 0.625 and\n"
                " * 1 - 2 / (exp(2|x|) + 1) above, within 1.5 ulp. Needs IEEE arithmetic: do not\n"
                " * compile this file with -ffast-math. */\n"
                "static inline float %s_expf(float x) {\n"
                "  float c = x > -87.3f ? x : -87.3f;\n"
                "  c = c < 89.0f ? c : 89.0f;\n"
                "  union { float f; int32_t i; } m, s;\n"
                "  m.f = c * 1.44269504088896341f + 12582912.0f;\n"
                "  const float k = m.f - 12582912.0f;\n"
                "  const float r = (c - k * 0.693359375f) - k * -2.12194440e-4f;\n"
                "  float p = 1.9875691500e-4f;\n"
                "  p = p * r + 1.3981999507e-3f;\n  p = p * r + 8.3334519073e-3f;\n  p = p * r + 4.1665795894e-2f;\n"
                "  p = p * r + 1.6666665459e-1f;\n  p = p * r + 5.0000001201e-1f;\n"
                "  p = p * r * r + r + 1.0f;\n"
                "  s.i = (m.i - 0x4B400000 + 126) * (1 << 23); /* 2^(k-1): k = 128 overflows only below */\n"
                "  p = p * s.f * 2.0f;\n"
                "  return x == x ? p : x;\n"
                "}\n\n",
                P);
  if (!tanh) return;
  dn_buf_printf(c,
                "static inline float %s_tanhf(float x) {\n"
                "  const float z = x < 0.0f ? -x : x, s = x * x;\n"
                "  const float small = ((((-5.70498872745e-3f * s + 2.06390887954e-2f) * s - 5.37397155531e-2f) * s +\n"
                "                        1.33314422036e-1f) * s - 3.33332819422e-1f) * s * x + x;\n"
                "  const float e = %s_expf(2.0f * z);\n"
                "  const float big = 1.0f - 2.0f / (e + 1.0f);\n"
                "  const float sb = x < 0.0f ? -big : big;\n"
                "  return z > 0.625f ? sb : small;\n"
                "}\n\n",
                P, P);
}

void dn_em_ew_helpers(dn_em *em, dn_buf *c) {
  dn_buf_printf(c,
                "/* Counter-based uniform [0, 1) with 24 random bits: splitmix64's finalizer over\n"
                " * (seed, step, node, element); see docs/deploy.md. */\n"
                "static %s %s_rand01(uint64_t seed, int64_t step, int node, long i) {\n"
                "  uint64_t z = seed ^ ((uint64_t)step * 0x9E3779B97F4A7C15u) ^ ((uint64_t)node * 0xC2B2AE3D27D4EB4Fu);\n"
                "  z += (uint64_t)i * 0xD1B54A32D192ED03u;\n"
                "  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;\n  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;\n"
                "  z ^= z >> 31;\n"
                "  return (%s)((double)(z >> 40) * (1.0 / 16777216.0));\n}\n\n",
                em->real, em->P, em->real);
}
