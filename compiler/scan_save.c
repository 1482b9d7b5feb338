/* scan_save.c - the backward loop reads saved per-step values instead of recomputing them.
 *
 * Requires: a differentiated and simplified training graph. The adjoint of a loop scan S
 * (autodiff.c, grad_SCAN) is a reverse scan A whose body starts with a copy of S's body
 * (nodes with `primal` set) that recomputes each step's values from the step's inputs and
 * the saved previous states, followed by the gradient nodes that read some of them.
 * Produces: for every computed (not leaf, not view), batched value u of that copy which a
 * gradient node or a result of A's body reads, and whose primal node p still exists in S's
 * body, a new output of S (p becomes an extra state result, stacked over time by a
 * SCAN_GET) and a new sequence input of A (a SCAN_X leaf that replaces u). The copies no
 * longer read die at the next simplification. So the backward loop does no forward GEMM and
 * no activation again, and the states saved per step are exactly the values the backward
 * pass reads; the memory is T times those values, as in PyTorch's autograd.
 */
#include "pipeline.h"

static int alive_in(const dn_graph *g, const dn_node *n) { return n->id < g->nodes.n && g->nodes.v[n->id] == n; }

/* The computed node whose value u is: views of a copied node lead to it. */
static dn_node *through_views(dn_node *u) {
  while (u->primal && (dn_ops[u->op].flags & DN_F_VIEW) && u->nin == 1) u = u->in[0];
  return u;
}

static int saveable(const dn_node *u) {
  return u->primal && !(dn_ops[u->op].flags & (DN_F_LEAF | DN_F_VIEW)) && u->batched && u->shape.rank >= 1;
}

/* Saves what adjoint scan a reads of its forward scan's steps; the new initial states go to
 * `before` and their SCAN_GETs to `after` (to be placed around the forward scan). Returns 1
 * when it changed something. */
static int save_for(dn_graph *g, dn_node *a, dn_vec *before, dn_vec *after) {
  dn_node *s = a->scan.primal;
  dn_graph *fb = s->scan.body, *ab = a->scan.body;
  int n = ab->nodes.n;
  char *want = dn_alloc((size_t)n + 1);
  for (int i = 0; i < n; i++) {
    dn_node *v = ab->nodes.v[i];
    if (v->primal) continue;
    for (int j = 0; j < v->nin; j++) {
      dn_node *u = through_views(v->in[j]);
      want[u->id] |= saveable(u);
    }
  }
  for (int i = 0; i < ab->results.n; i++) {
    dn_node *u = through_views(ab->results.v[i]);
    want[u->id] |= saveable(u);
  }
  dn_vec saved = {0};
  for (int i = 0; i < n; i++) {
    dn_node *u = ab->nodes.v[i];
    if (want[i] && alive_in(fb, u->primal) && u->primal->batched && dn_shape_eq(u->shape, u->primal->shape)) dn_vec_push(&saved, u);
  }
  if (!saved.n) return 0;
  int m = saved.n, k0 = s->scan.n_state, q0 = a->scan.n_seq;
  dn_node **inits = dn_alloc(sizeof(dn_node *) * (size_t)m), **gets = dn_alloc(sizeof(dn_node *) * (size_t)m);
  for (int i = 0; i < m; i++) {
    dn_node *u = saved.v[i], *p = u->primal;
    dn_vec_push(&fb->results, p);
    inits[i] = dn_ir_const(g, 0, p->shape, p->loc);
    inits[i]->batched = 1;
    gets[i] = dn_ir_scan_get(g, s, k0 + i, p->shape, p->loc);
    gets[i]->dtype = p->dtype;
    dn_vec_push(before, inits[i]);
    dn_vec_push(after, gets[i]);
    dn_node *leaf = dn_node_add(ab, DN_OP_SCAN_X, 0, NULL, u->shape, u->loc);
    leaf->param = q0 + i;
    leaf->batched = 1;
    leaf->dtype = u->dtype;
    leaf->name = u->name;
    dn_graph_replace_uses(ab, u, leaf);
  }
  dn_node_insert_inputs(s, s->scan.n_seq + k0, inits, m);
  s->scan.n_state += m;
  dn_node_insert_inputs(a, q0, gets, m);
  a->scan.n_seq += m;
  dn_graph_leaves_first(ab);
  return 1;
}

void dn_save_scan_values(dn_graph *g) {
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *a = g->nodes.v[i];
    if (a->op != DN_OP_SCAN || !a->scan.primal || !alive_in(g, a->scan.primal)) continue;
    int n0 = g->nodes.n;
    dn_vec before = {0}, after = {0};
    if (!save_for(g, a, &before, &after)) continue;
    dn_graph_place_around(g, a->scan.primal, n0, &before, &after);  /* the forward scan precedes a */
    i += before.n + after.n;
  }
}
