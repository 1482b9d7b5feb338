/* scan_hoist.c - time-parallel work of a loop becomes one batched operation outside it.
 *
 * Inputs (dn_hoist_scan_inputs, before autodiff): a GEMM in a loop body whose left operand
 * is the step slice x_t [B, k] of a sequence and whose right operand is read from outside
 * (a weight) is the same for every step, so it runs once before the loop over the sequence
 * seen as [B*T, k], and the body reads its rows as a new sequence: the input projection of
 * a recurrence written with `scan` (x_t @ W) becomes one large GEMM, as the built-in layers
 * already do. Autodiff then differentiates that GEMM outside the loop.
 *
 * Reductions (dn_hoist_scan_reductions, after autodiff): sums over time that a loop
 * accumulates step by step become one batched operation after the loop.
 *
 * Requires: a simplified graph with loop scans (training graphs after scan_save.c).
 * The reverse scan of BPTT carries the gradient of every parameter the forward body reads
 * as an unbatched accumulator state, acc' = acc + d_t, where d_t is usually a reduction over
 * the batch rows of per-step values: a GEMM that contracts the batch (dW_t = h_t^T dz_t) or
 * a REDUCE_SUM over the batch axis (db_t = sum_b dz_t). The sum over the steps of such a
 * reduction is the same reduction over B*T rows of the stacked values [B, T, ...], so:
 *   - per-step operands that are step slices of a sequence read the sequence itself; the
 *     others become extra stacked outputs of the scan (or reuse a state that already
 *     stacks them);
 *   - the reduction runs once after the loop on the stacked values seen as [B*T, ...]
 *     (one large GEMM instead of T small ones), plus the accumulator's initial value;
 *   - the accumulator state leaves the loop, and SCAN_LAST readers read the new value.
 * Produces: the same computation; simplify afterwards drops the dead per-step nodes.
 */
#include "pipeline.h"

#include <string.h>

typedef struct hoist_ctx {
  dn_graph *g;
  dn_vec before;     /* new nodes to place before the scan being rewritten */
  dn_vec after;      /* new nodes to place right after it */
} hoist_ctx;

/* Records a node just created in g (appended to g->nodes) as going after or before. */
static dn_node *note(dn_vec *where, dn_node *n) {
  for (int i = 0; i < where->n; i++)
    if (where->v[i] == n) return n;
  dn_vec_push(where, n);
  return n;
}

static dn_node *reshape_after(hoist_ctx *h, dn_node *x, dn_shape s, dn_loc loc) {
  int before = h->g->nodes.n;
  dn_node *r = dn_ir_reshape(h->g, x, s, loc);
  if (h->g->nodes.n > before) {
    r->batched = 0;
    note(&h->after, r);
  }
  return r;
}

/* The one body leaf of op with index k, or NULL. */
static dn_node *body_leaf(dn_graph *b, dn_op op, int k) {
  for (int i = 0; i < b->nodes.n; i++) {
    dn_node *n = b->nodes.v[i];
    if (n->op == op && n->param == k) return n;
  }
  return NULL;
}

/* Number of readers of x in graph b (node inputs and results). */
static int readers(const dn_graph *b, const dn_node *x) {
  int k = 0;
  for (int i = 0; i < b->nodes.n; i++) {
    const dn_node *n = b->nodes.v[i];
    for (int j = 0; j < n->nin; j++) k += n->in[j] == x;
  }
  for (int i = 0; i < b->results.n; i++) k += b->results.v[i] == x;
  return k;
}

/* The body value whose per-step rows v is (through row-preserving reshapes), or NULL when
 * v is not a per-step [B, ...] value that can be stacked. */
static dn_node *row_base(dn_node *v, int64_t B) {
  if (!v->batched || v->shape.rank < 1 || v->shape.dim[0] != B || v->dtype != DN_F32) return NULL;
  while (v->op == DN_OP_RESHAPE && v->in[0]->batched && v->in[0]->shape.dim[0] == B) v = v->in[0];
  if (v->op == DN_OP_SCAN_STATE || v->op == DN_OP_SCAN_OUTER || v->op == DN_OP_CONST) return NULL;
  return v;
}

/* The stacked values [B, T, ...] of per-step value v (row_base(v) != NULL) of scan a,
 * viewed as [B*T, rest]. */
static dn_node *stacked_rows(hoist_ctx *h, dn_node *a, dn_node *v) {
  dn_graph *b = a->scan.body;
  int64_t B = h->g->batch, T = a->scan.steps;
  dn_node *base = row_base(v, B), *st = NULL;
  if (base->op == DN_OP_SCAN_X) {
    st = a->in[base->param];
  } else {
    int k = -1;
    for (int i = 0; i < b->results.n && k < 0; i++)
      if (b->results.v[i] == base && a->in[a->scan.n_seq + i]->batched) k = i;
    if (k < 0) { /* a new output-only state */
      k = a->scan.n_state;
      dn_node *init = note(&h->before, dn_ir_const(h->g, 0, base->shape, base->loc));
      init->batched = 1;
      dn_node_insert_inputs(a, a->scan.n_seq + k, &init, 1);
      a->scan.n_state++;
      dn_vec_push(&b->results, base);
    }
    st = note(&h->after, dn_ir_scan_get(h->g, a, k, base->shape, base->loc));
  }
  dn_shape rows = v->shape;
  rows.dim[0] = B * T;
  return reshape_after(h, st, rows, v->loc);
}

/* The reduction d over the batch rows, redone over the stacked rows; NULL if d is not one. */
static dn_node *hoisted(hoist_ctx *h, dn_node *a, dn_node *d) {
  int64_t B = h->g->batch, T = a->scan.steps;
  if (d->batched || d->dtype != DN_F32) return NULL;
  if (d->op == DN_OP_GEMM) {
    dn_gemm gm = d->gemm;
    dn_node *x = d->in[0], *y = d->in[1];
    if (gm.nb != 1 || !gm.ta || gm.tb || gm.k != B || x->shape.rank != 2 || y->shape.rank != 2) return NULL;
    if (!row_base(x, B) || !row_base(y, B)) return NULL;
    dn_node *xs = stacked_rows(h, a, x), *ys = stacked_rows(h, a, y);
    gm.k = B * T;
    return note(&h->after, dn_ir_gemm(h->g, xs, ys, gm, d->shape, 0, d->loc));
  }
  if (d->op == DN_OP_REDUCE_SUM && d->axes == 1u && row_base(d->in[0], B)) {
    dn_node *xs = stacked_rows(h, a, d->in[0]);
    dn_node *r = note(&h->after, dn_ir_reduce(h->g, DN_OP_REDUCE_SUM, xs, 1u, d->loc));
    r->batched = 0;
    return r;
  }
  return NULL;
}

static void replace_everywhere(dn_graph *g, dn_node *from, dn_node *to) {
  dn_graph_replace_uses(g, from, to);
  for (int i = 0; i < g->outputs.n; i++)
    if (((dn_output *)g->outputs.v[i])->node == from) ((dn_output *)g->outputs.v[i])->node = to;
  for (int i = 0; i < g->grads.n; i++)
    if (g->grads.v[i] == from) g->grads.v[i] = to;
  if (g->loss == from) g->loss = to;
  if (g->loss_mean == from) g->loss_mean = to;
}

/* Takes state j out of scan a: its leaf must be unread. */
static void remove_state(dn_graph *g, dn_node *a, int j) {
  dn_graph *b = a->scan.body;
  int at = a->scan.n_seq + j;
  memmove(a->in + at, a->in + at + 1, sizeof(dn_node *) * (size_t)(a->nin - at - 1));
  a->nin--;
  memmove(b->results.v + j, b->results.v + j + 1, sizeof(void *) * (size_t)(b->results.n - j - 1));
  b->results.n--;
  for (int i = 0; i < b->nodes.n; i++) {
    dn_node *n = b->nodes.v[i];
    if (n->op != DN_OP_SCAN_STATE) continue;
    if (n->param == j) { /* unread: a harmless constant until simplify drops it */
      n->op = DN_OP_CONST;
      n->alpha = 0;
      n->data = NULL;
    } else if (n->param > j) {
      n->param--;
    }
  }
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if ((n->op == DN_OP_SCAN_GET || n->op == DN_OP_SCAN_LAST) && n->in[0] == a && n->axis > j) n->axis--;
  }
  a->scan.n_state--;
}

/* Hoists what it can of scan a's accumulators. Returns 1 when it changed something. */
static int hoist_scan(hoist_ctx *h, dn_node *a) {
  dn_graph *b = a->scan.body;
  int changed = 0;
  for (int j = a->scan.n_state - 1; j >= 0; j--) {
    dn_node *init = a->in[a->scan.n_seq + j], *leaf = body_leaf(b, DN_OP_SCAN_STATE, j), *r = b->results.v[j];
    if (init->batched || !leaf || r->op != DN_OP_ADD || readers(b, leaf) != 1 || readers(b, r) != 1) continue;
    dn_node *d = r->in[0] == leaf ? r->in[1] : r->in[1] == leaf ? r->in[0] : NULL;
    if (!d) continue;
    while (d->op == DN_OP_RESHAPE && !d->in[0]->batched) d = d->in[0];
    dn_node *sum = hoisted(h, a, d);
    if (!sum) continue;
    sum = reshape_after(h, sum, init->shape, init->loc);
    if (!(init->op == DN_OP_CONST && !init->data && init->alpha == 0))
      sum = note(&h->after, dn_ir_binary(h->g, DN_OP_ADD, init, sum, init->loc));
    for (int i = 0; i < h->g->nodes.n; i++) {
      dn_node *n = h->g->nodes.v[i];
      if (n->op == DN_OP_SCAN_LAST && n->in[0] == a && n->axis == j) replace_everywhere(h->g, n, sum);
    }
    remove_state(h->g, a, j);
    changed = 1;
  }
  return changed;
}

/* Hoists the input GEMMs of loop a; the new nodes go to h->before. Returns how many. */
static int hoist_inputs(hoist_ctx *h, dn_node *a) {
  dn_graph *b = a->scan.body;
  int64_t B = h->g->batch, T = a->scan.steps;
  int done = 0, nb = b->nodes.n;
  for (int i = 0; i < nb; i++) {
    dn_node *u = b->nodes.v[i];
    if (u->op != DN_OP_GEMM || u->gemm.nb != 1 || u->gemm.ta || u->gemm.m != B || !u->batched) continue;
    dn_node *x = u->in[0], *w = u->in[1];
    dn_node *xb = row_base(x, B);
    if (!xb || xb->op != DN_OP_SCAN_X || x->shape.rank != 2 || w->op != DN_OP_SCAN_OUTER || w->batched ||
        u->shape.rank != 2)
      continue;
    dn_node *seq = a->in[xb->param], *wo = a->in[a->scan.n_seq + a->scan.n_state + w->param];
    dn_node *rows = note(&h->before, dn_ir_reshape(h->g, seq, dn_shape_of(2, B * T, x->shape.dim[1]), u->loc));
    rows->batched = 0;
    dn_gemm gm = u->gemm;
    gm.m = B * T;
    dn_node *p = note(&h->before, dn_ir_gemm(h->g, rows, wo, gm, dn_shape_of(2, B * T, u->shape.dim[1]), 0, u->loc));
    dn_node *ps = note(&h->before, dn_ir_reshape(h->g, p, dn_shape_of(3, B, T, u->shape.dim[1]), u->loc));
    ps->batched = 1;
    int q = a->scan.n_seq;
    dn_node_insert_inputs(a, q, &ps, 1);
    a->scan.n_seq++;
    dn_node *leaf = dn_node_add(b, DN_OP_SCAN_X, 0, NULL, u->shape, u->loc);
    leaf->param = q;
    leaf->batched = 1;
    leaf->name = u->name;
    dn_graph_replace_uses(b, u, leaf);
    done++;
  }
  if (done) dn_graph_leaves_first(b);
  return done;
}

void dn_hoist_scan_inputs(dn_graph *g) {
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *a = g->nodes.v[i];
    if (a->op != DN_OP_SCAN || !a->scan.loop) continue;
    int n0 = g->nodes.n;
    hoist_ctx h = {g, {0}, {0}};
    if (!hoist_inputs(&h, a)) continue;
    dn_graph_place_around(g, a, n0, &h.before, &h.after);
    i += h.before.n;
  }
}

void dn_hoist_scan_reductions(dn_graph *g) {
  int n0 = g->nodes.n;
  for (int i = 0; i < n0; i++) {
    dn_node *a = g->nodes.v[i];
    if (a->op != DN_OP_SCAN || !a->scan.loop) continue;
    hoist_ctx h = {g, {0}, {0}};
    if (!hoist_scan(&h, a)) {
      for (int k = n0; k < g->nodes.n; k++) dn_die("scan_hoist: stray node %%%d", k);
      continue;
    }
    dn_graph_place_around(g, a, n0, &h.before, &h.after);
    i += h.before.n + h.after.n;
    n0 = g->nodes.n;
  }
}
