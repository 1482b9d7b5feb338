/* simplify.c - graph simplification (dn_simplify, see pipeline.h).
 *
 * Requires: a verified graph (topological order). Produces: an equivalent verified graph
 * with ids renumbered 0..n-1 and every reference the graph holds (outputs, loss, loss_mean,
 * grads, inputs' nodes, scan bodies' results) pointing at surviving nodes.
 *
 * One forward sweep does, per node: redirect inputs to their replacements, fold constants
 * (an elementwise op, EXPAND, RESHAPE or REDUCE_SUM of uniform CONSTs becomes a CONST, in
 * place), apply algebraic identities (x*1, x+0, x-0, x/1, x*0 -> 0, neg(neg x), powc 1,
 * reshape of reshape, reshape/expand/transpose/reduce that change nothing, a ReLU's
 * gradient mask folded into the max pooling gradient before it) and common
 * subexpression elimination (same op, inputs and attributes; never random or side-effect
 * nodes). Root nodes (outputs, loss, grads, ...) are never replaced by another node, so
 * the emitter never sees a root that is a leaf or a view of something else. Then dead-code
 * elimination keeps what the roots and DN_F_SIDE nodes need. At -O0 only DCE runs.
 */
#include "pipeline.h"

#include <math.h>
#include <string.h>

typedef struct sp_ctx {
  dn_graph *g;       /* graph being simplified */
  dn_node **repl;    /* repl[id]: the node that replaces it (itself when kept) */
  char *root;        /* root[id]: referenced from outside the node list */
  dn_node **table;   /* CSE hash table (open addressing) */
  size_t cap;        /* table size, a power of two */
} sp_ctx;

/* --- helpers --------------------------------------------------------------------------- */

/* A CONST whose every element is the same value (no explicit data). */
static int is_uniform(const dn_node *n) { return n->op == DN_OP_CONST && !n->data; }
static int is_value(const dn_node *n, double v) { return is_uniform(n) && n->alpha == v; }

/* Can node n be replaced by x (same shape, type and batch axis)? */
static int same_type(const dn_node *n, const dn_node *x) {
  return dn_shape_eq(n->shape, x->shape) && n->dtype == x->dtype && n->batched == x->batched;
}

/* Turns n into a uniform CONST holding v (its shape, type and batch flag stay). */
static void make_const(dn_node *n, double v) {
  n->op = DN_OP_CONST;
  n->nin = 0;
  n->alpha = v;
  n->data = NULL;
}

/* --- constant folding ------------------------------------------------------------------ */

/* The value of a unary elementwise op (double precision; NAN for ops it cannot fold). */
static double eval_unary(const dn_node *n, double x) {
  switch (n->op) {
  case DN_OP_NEG: return -x;
  case DN_OP_RELU: return x > 0 ? x : 0;
  case DN_OP_SIGMOID: return 1 / (1 + exp(-x));
  case DN_OP_TANH: return tanh(x);
  case DN_OP_SOFTPLUS: return x > 20 ? x : log1p(exp(x));
  case DN_OP_ELU: return x > 0 ? x : n->alpha * (exp(x) - 1);
  case DN_OP_LEAKY_RELU: return x > 0 ? x : n->alpha * x;
  case DN_OP_HARDTANH: case DN_OP_CLAMP: return fmin(fmax(x, n->alpha), n->beta);
  case DN_OP_STEP: return x > 0;
  case DN_OP_SIGN: return (x > 0) - (x < 0);
  case DN_OP_INRANGE: return n->axis ? (n->alpha <= x && x <= n->beta) : (n->alpha < x && x < n->beta);
  case DN_OP_EXP: return exp(x);
  case DN_OP_LOG: return log(x);
  case DN_OP_SQRT: return sqrt(x);
  case DN_OP_ABS: return fabs(x);
  case DN_OP_SQUARE: return x * x;
  case DN_OP_SIN: return sin(x);
  case DN_OP_COS: return cos(x);
  case DN_OP_RECIP: return 1 / x;
  case DN_OP_POWC: return pow(x, n->alpha);
  default: return NAN;
  }
}

/* The value of a binary elementwise op. */
static double eval_binary(const dn_node *n, double a, double b) {
  switch (n->op) {
  case DN_OP_ADD: return a + b;
  case DN_OP_SUB: return a - b;
  case DN_OP_MUL: return a * b;
  case DN_OP_DIV: return a / b;
  case DN_OP_POW: return pow(a, b);
  case DN_OP_MAX: return fmax(a, b);
  case DN_OP_MIN: return fmin(a, b);
  case DN_OP_GT: return a > b;
  case DN_OP_EQ: return a == b;
  case DN_OP_BCE_LOGITS: return fmax(a, 0) - a * b + log1p(exp(-fabs(a)));
  default: return NAN;
  }
}

/* Folds n in place when all its inputs are uniform CONSTs. Returns 1 when it did. */
static int fold(dn_node *n) {
  for (int i = 0; i < n->nin; i++)
    if (!is_uniform(n->in[i])) return 0;
  if (n->nin == 0 || n->dtype != DN_F32) return 0;
  double a = n->in[0]->alpha, v;
  if ((dn_ops[n->op].flags & DN_F_EW) && n->nin == 1) v = eval_unary(n, a);
  else if ((dn_ops[n->op].flags & DN_F_EW) && n->nin == 2) v = eval_binary(n, a, n->in[1]->alpha);
  else if (n->op == DN_OP_EXPAND || n->op == DN_OP_RESHAPE) v = a;
  else if (n->op == DN_OP_REDUCE_SUM) v = a * (double)(dn_shape_count(n->in[0]->shape) / dn_shape_count(n->shape));
  else return 0;
  if (isnan(v) && !isnan(a)) return 0;
  make_const(n, v);
  return 1;
}

/* --- algebraic identities ---------------------------------------------------------------- */

/* Is perm the identity? */
static int identity_perm(const dn_node *n) {
  for (int i = 0; i < n->shape.rank; i++)
    if (n->perm[i] != i) return 0;
  return 1;
}

/* The node n equals one of its inputs (or a simpler node); NULL when no identity applies. */
static dn_node *identity(dn_node *n) {
  dn_node *a = n->nin > 0 ? n->in[0] : NULL, *b = n->nin > 1 ? n->in[1] : NULL;
  switch (n->op) {
  case DN_OP_MUL:
    if (is_value(b, 1) && same_type(n, a)) return a;
    if (is_value(a, 1) && same_type(n, b)) return b;
    return NULL;
  case DN_OP_ADD:
    if (is_value(b, 0) && same_type(n, a)) return a;
    if (is_value(a, 0) && same_type(n, b)) return b;
    return NULL;
  case DN_OP_SUB: return is_value(b, 0) && same_type(n, a) ? a : NULL;
  case DN_OP_DIV: return is_value(b, 1) && same_type(n, a) ? a : NULL;
  case DN_OP_POWC: return n->alpha == 1 ? a : NULL;
  case DN_OP_NEG: return a->op == DN_OP_NEG && same_type(n, a->in[0]) ? a->in[0] : NULL;
  case DN_OP_RESHAPE: case DN_OP_EXPAND: case DN_OP_REDUCE_SUM: return same_type(n, a) ? a : NULL;
  case DN_OP_TRANSPOSE: return identity_perm(n) ? a : NULL;
  default: return NULL;
  }
}

/* MUL(p, step(x)) with p = MAXPOOL2D_BWD(x, dy), either order: a ReLU's gradient after max
 * pooling's (x = the ReLU's output, read by both). The pooling gradient applies the mask at
 * each window's argmax, whose x is the window's max: p with axis 1 (one pass, not two). */
static dn_node *pool_relu(dn_node *n) {
  if (n->op != DN_OP_MUL) return NULL;
  for (int k = 0; k < 2; k++) {
    dn_node *p = n->in[k], *s = n->in[1 - k];
    if (p->op == DN_OP_MAXPOOL2D_BWD && !p->axis && s->op == DN_OP_STEP && s->in[0] == p->in[0] &&
        dn_shape_eq(p->shape, n->shape) && dn_shape_eq(s->shape, n->shape) && same_type(n, p))
      return p;
  }
  return NULL;
}

/* In-place rewrites that keep the node: x*0 -> 0, reshape(reshape(x)) -> reshape(x),
 * MUL(maxpool gradient, step) -> one masked maxpool gradient (pool_relu). */
static void rewrite(dn_node *n) {
  dn_node *p;
  if (n->op == DN_OP_MUL && (is_value(n->in[0], 0) || is_value(n->in[1], 0))) make_const(n, 0);
  else if (n->op == DN_OP_RESHAPE && n->in[0]->op == DN_OP_RESHAPE) n->in[0] = n->in[0]->in[0];
  else if ((p = pool_relu(n))) {
    n->op = DN_OP_MAXPOOL2D_BWD, n->in[0] = p->in[0], n->in[1] = p->in[1], n->win = p->win, n->axis = 1;
  }
}

/* --- CSE ------------------------------------------------------------------------------- */

static uint64_t mix(uint64_t h, uint64_t v) { return (h ^ v) * 0x100000001b3ull; }

static uint64_t node_hash(const dn_node *n) {
  uint64_t h = mix(0xcbf29ce484222325ull, (uint64_t)n->op);
  for (int i = 0; i < n->nin; i++) h = mix(h, (uint64_t)n->in[i]->id);
  for (int i = 0; i < n->shape.rank; i++) h = mix(h, (uint64_t)n->shape.dim[i]);
  h = mix(h, (uint64_t)n->param);
  uint64_t bits;
  memcpy(&bits, &n->alpha, sizeof bits);
  h = mix(h, bits);
  return mix(h, (uint64_t)n->axis);
}

static int same_window(dn_window a, dn_window b) {
  return a.kh == b.kh && a.kw == b.kw && a.sh == b.sh && a.sw == b.sw && a.ph == b.ph && a.pw == b.pw &&
         a.dh == b.dh && a.dw == b.dw && a.groups == b.groups;
}

static int same_gemm(dn_gemm a, dn_gemm b) {
  return a.m == b.m && a.n == b.n && a.k == b.k && a.ta == b.ta && a.tb == b.tb && a.nb == b.nb && a.sa == b.sa &&
         a.sb == b.sb && a.sc == b.sc;
}

/* Same op, inputs, shape, type and every attribute. */
static int same_node(const dn_node *a, const dn_node *b) {
  if (a->op != b->op || a->nin != b->nin || !same_type(a, b)) return 0;
  for (int i = 0; i < a->nin; i++)
    if (a->in[i] != b->in[i]) return 0;
  return a->param == b->param && a->alpha == b->alpha && a->beta == b->beta && a->axis == b->axis &&
         a->axes == b->axes && !memcmp(a->perm, b->perm, sizeof a->perm) && a->start == b->start &&
         a->stop == b->stop && a->classes == b->classes && a->data == b->data && same_window(a->win, b->win) &&
         same_gemm(a->gemm, b->gemm);
}

/* The earlier node equal to n, or n itself after recording it. */
static dn_node *cse(sp_ctx *c, dn_node *n) {
  if (dn_ops[n->op].flags & (DN_F_RANDOM | DN_F_SIDE) || n->op == DN_OP_SCAN) return n;
  for (size_t i = node_hash(n) & (c->cap - 1);; i = (i + 1) & (c->cap - 1)) {
    if (!c->table[i]) return c->table[i] = n;
    if (same_node(c->table[i], n)) return c->table[i];
  }
}

/* --- roots, sweep, DCE ----------------------------------------------------------------- */

static void mark_root(sp_ctx *c, dn_node *n) {
  if (n) c->root[n->id] = 1;
}

static void mark_roots(sp_ctx *c) {
  dn_graph *g = c->g;
  for (int i = 0; i < g->outputs.n; i++) mark_root(c, ((dn_output *)g->outputs.v[i])->node);
  for (int i = 0; i < g->grads.n; i++) mark_root(c, g->grads.v[i]);
  for (int i = 0; i < g->results.n; i++) mark_root(c, g->results.v[i]);
  for (int i = 0; i < g->inputs.n; i++) mark_root(c, ((dn_input *)g->inputs.v[i])->node);
  mark_root(c, g->loss);
  mark_root(c, g->loss_mean);
}

/* One node of the forward sweep: returns what replaces it. */
static dn_node *simplify_node(sp_ctx *c, dn_node *n) {
  for (int i = 0; i < n->nin; i++) n->in[i] = c->repl[n->in[i]->id];
  if (fold(n)) return c->root[n->id] ? n : cse(c, n);
  rewrite(n);
  if (c->root[n->id]) {
    cse(c, n);
    return n;
  }
  dn_node *x = identity(n);
  return x ? x : cse(c, n);
}

static void sweep(sp_ctx *c) {
  for (int i = 0; i < c->g->nodes.n; i++) {
    dn_node *n = c->g->nodes.v[i];
    c->repl[i] = n;
    c->repl[i] = simplify_node(c, n);
  }
}

/* Marks n and everything it reads as live (iterative over the topological order). */
static void mark_live(dn_graph *g, char *live) {
  for (int i = g->nodes.n - 1; i >= 0; i--) {
    dn_node *n = g->nodes.v[i];
    if (dn_ops[n->op].flags & DN_F_SIDE) live[i] = 1;
    if (!live[i]) continue;
    for (int j = 0; j < n->nin; j++) live[n->in[j]->id] = 1;
  }
}

/* Drops dead nodes and renumbers the survivors. */
static void compact(dn_graph *g, const char *live) {
  int k = 0;
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if (!live[i]) continue;
    n->id = k;
    g->nodes.v[k++] = n;
  }
  g->nodes.n = k;
}

static dn_node *redirect(sp_ctx *c, dn_node *n) { return n ? c->repl[n->id] : NULL; }

/* Points every reference the graph holds at the replacements, and marks them live. */
static void update_refs(sp_ctx *c, char *live) {
  dn_graph *g = c->g;
  for (int i = 0; i < g->outputs.n; i++) {
    dn_output *o = g->outputs.v[i];
    o->node = redirect(c, o->node);
    live[o->node->id] = 1;
  }
  for (int i = 0; i < g->inputs.n; i++) {
    dn_input *in = g->inputs.v[i];
    if ((in->node = redirect(c, in->node))) live[in->node->id] = 1;
  }
  dn_vec *vs[2] = {&g->grads, &g->results};
  for (int v = 0; v < 2; v++)
    for (int i = 0; i < vs[v]->n; i++)
      if ((vs[v]->v[i] = redirect(c, vs[v]->v[i]))) live[((dn_node *)vs[v]->v[i])->id] = 1;
  if ((g->loss = redirect(c, g->loss))) live[g->loss->id] = 1;
  if ((g->loss_mean = redirect(c, g->loss_mean))) live[g->loss_mean->id] = 1;
}

void dn_simplify(dn_graph *g, int opt_level) {
  int n = g->nodes.n;
  sp_ctx c = {g, dn_alloc(sizeof(dn_node *) * ((size_t)n + 1)), dn_alloc((size_t)n + 1), NULL, 16};
  while (c.cap < 2 * (size_t)n + 2) c.cap *= 2;
  c.table = dn_alloc(sizeof(dn_node *) * c.cap);
  mark_roots(&c);
  if (opt_level > 0) sweep(&c);
  else
    for (int i = 0; i < n; i++) c.repl[i] = g->nodes.v[i];
  char *live = dn_alloc((size_t)n + 1);
  update_refs(&c, live);
  mark_live(g, live);
  compact(g, live);
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *x = g->nodes.v[i];
    if (x->op == DN_OP_SCAN && x->scan.body) dn_simplify(x->scan.body, opt_level);
  }
}
