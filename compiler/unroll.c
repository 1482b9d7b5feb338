/* unroll.c - decides, for every top-level SCAN, between a time loop and unrolling.
 *
 * Requires: a checked graph (SCAN nodes as described in ir.h, possibly nested).
 *
 * Loops. A scan of more than DN_UNROLL_MAX_STEPS steps whose body draws no random numbers
 * and has no side effects stays a SCAN with scan.loop = 1 (tbptt = K is then applied by
 * autodiff, grad_SCAN): scans nested in its body are unrolled into the body, and the body's
 * PARAM leaves are lifted to SCAN_OUTER inputs (PARAM nodes of the outer graph), so that autodiff sees every value the
 * body reads as an input of the SCAN node and the adjoint of a scan is again a scan
 * (autodiff.c, grad_SCAN). The emitter prints one loop over the body (emit.c).
 *
 * Unrolling. Every other SCAN is replaced by one copy of its body per time step: step t
 * reads SLICE(seq, axis 1, t) reshaped to [B, ...], the previous state's node, or the outer
 * tensor; each state's stacked value [B, T, ...] is a CONCAT of the per-step values along
 * axis 1 in time order. Parameters inside the body become PARAM nodes of the outer graph
 * (parameters are graph-wide). BPTT then falls out of the chain rule on the copies.
 * DNNCC_UNROLL=1 in the environment unrolls every scan (to compare the two forms).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* The step slice [B, ...] of a sequence [B, T, ...] at time t. */
static dn_node *step_slice(dn_graph *g, dn_node *seq, int64_t t, dn_loc loc) {
  dn_node *s = dn_ir_slice(g, seq, 1, t, t + 1, loc);
  int64_t d[DN_MAX_RANK];
  d[0] = seq->shape.dim[0];
  for (int i = 2; i < seq->shape.rank; i++) d[i - 1] = seq->shape.dim[i];
  return dn_ir_reshape(g, s, dn_shape_make(seq->shape.rank - 1, d), loc);
}

/* Emits the body once for step t; states[k] holds the previous value and is updated. */
static void unroll_step(dn_graph *g, const dn_node *scan, int64_t t, dn_node **states) {
  dn_graph *body = scan->scan.body;
  for (int i = 0; i < body->nodes.n; i++) {
    dn_node *n = body->nodes.v[i];
    switch (n->op) {
    case DN_OP_SCAN_X: n->aux = step_slice(g, scan->in[n->param]->aux, t, n->loc); break;
    case DN_OP_SCAN_STATE: n->aux = states[n->param]; break;
    case DN_OP_SCAN_OUTER: n->aux = scan->in[scan->scan.n_seq + scan->scan.n_state + n->param]->aux; break;
    default: n->aux = dn_node_copy_mapped(g, n); break;
    }
  }
  for (int k = 0; k < scan->scan.n_state; k++) states[k] = ((dn_node *)body->results.v[k])->aux;
}

/* Unrolls one SCAN; its aux becomes an array of the stacked states (for SCAN_GET). With
 * tbptt = K > 0, the states entering every K-th step (in processing order) are detached:
 * gradients flow back at most to the start of their chunk of K steps. */
static void unroll_scan(dn_graph *g, dn_node *scan, int64_t tbptt) {
  int ns = scan->scan.n_state;
  int64_t steps = scan->scan.steps;
  dn_node **states = dn_alloc(sizeof(dn_node *) * (size_t)(ns + 1));
  dn_node ***per_step = dn_alloc(sizeof(dn_node **) * (size_t)(ns + 1));
  for (int k = 0; k < ns; k++) {
    states[k] = scan->in[scan->scan.n_seq + k]->aux;
    per_step[k] = dn_alloc(sizeof(dn_node *) * (size_t)steps);
  }
  for (int64_t s = 0; s < steps; s++) {
    int64_t t = scan->scan.reverse ? steps - 1 - s : s;
    if (tbptt > 0 && s > 0 && s % tbptt == 0)
      for (int k = 0; k < ns; k++) states[k] = dn_ir_stop_grad(g, states[k], scan->loc);
    unroll_step(g, scan, t, states);
    for (int k = 0; k < ns; k++) per_step[k][t] = states[k];
  }
  dn_node **stacked = dn_alloc(sizeof(dn_node *) * (size_t)(ns + 1));
  for (int k = 0; k < ns; k++) {
    dn_node **parts = dn_alloc(sizeof(dn_node *) * (size_t)steps);
    for (int64_t t = 0; t < steps; t++) {
      dn_node *v = per_step[k][t];
      int64_t d[DN_MAX_RANK];
      d[0] = v->shape.dim[0];
      d[1] = 1;
      for (int i = 1; i < v->shape.rank; i++) d[i + 1] = v->shape.dim[i];
      parts[t] = dn_ir_reshape(g, v, dn_shape_make(v->shape.rank + 1, d), scan->loc);
    }
    stacked[k] = steps == 1 ? parts[0] : dn_ir_concat(g, (int)steps, parts, 1, scan->loc);
  }
  scan->aux = stacked;
}

/* Rebuilds g's node list with every SCAN unrolled; returns whether any was found. */
static int unroll_once(dn_graph *g, int64_t tbptt) {
  dn_vec old = g->nodes;
  int found = 0;
  memset(&g->nodes, 0, sizeof g->nodes);
  for (int i = 0; i < old.n; i++) ((dn_node *)old.v[i])->aux = NULL;
  for (int i = 0; i < old.n; i++) {
    dn_node *n = old.v[i];
    if (n->op == DN_OP_SCAN && !n->scan.loop) {
      unroll_scan(g, n, tbptt);
      found = 1;
    } else if (n->op == DN_OP_SCAN_GET && !n->in[0]->scan.loop) {
      n->aux = ((dn_node **)n->in[0]->aux)[n->axis];
    } else {
      for (int j = 0; j < n->nin; j++) n->in[j] = n->in[j]->aux;
      n->id = g->nodes.n;
      dn_vec_push(&g->nodes, n);
      n->aux = n;
    }
  }
  /* Re-point the graph's references at the new nodes. */
  for (int i = 0; i < g->outputs.n; i++) {
    dn_output *o = g->outputs.v[i];
    o->node = o->node->aux;
  }
  for (int i = 0; i < g->inputs.n; i++) {
    dn_input *in = g->inputs.v[i];
    if (in->node) in->node = in->node->aux;
  }
  for (int i = 0; i < g->results.n; i++) g->results.v[i] = ((dn_node *)g->results.v[i])->aux;
  if (g->loss) g->loss = g->loss->aux;
  if (g->loss_mean) g->loss_mean = g->loss_mean->aux;
  for (int i = 0; i < g->nodes.n; i++) ((dn_node *)g->nodes.v[i])->aux = NULL;
  return found;
}

static int64_t unrolled_size(const dn_graph *g);

/* Nodes one SCAN unrolls to (its body per step, nested scans multiplied; a loop: its body
 * once), saturating. */
static int64_t scan_size(const dn_node *scan) {
  int64_t body = unrolled_size(scan->scan.body) + scan->scan.n_state;
  if (scan->scan.loop) return body;
  return body > (INT64_MAX / 2) / scan->scan.steps ? INT64_MAX / 2 : body * scan->scan.steps;
}

/* Nodes the graph has once every scan is unrolled, saturating at INT64_MAX / 2. */
static int64_t unrolled_size(const dn_graph *g) {
  int64_t total = 0;
  for (int i = 0; i < g->nodes.n; i++) {
    const dn_node *n = g->nodes.v[i];
    int64_t k = n->op == DN_OP_SCAN ? scan_size(n) : 1;
    total = total > INT64_MAX / 2 - k ? INT64_MAX / 2 : total + k;
  }
  return total;
}

/* The top-level SCAN of g that unrolls to the most nodes (for the location of the size
 * error); NULL when there is none. */
static const dn_node *largest_scan(const dn_graph *g) {
  const dn_node *best = NULL;
  for (int i = 0; i < g->nodes.n; i++) {
    const dn_node *n = g->nodes.v[i];
    if (n->op == DN_OP_SCAN && (!best || scan_size(n) > scan_size(best))) best = n;
  }
  return best;
}

/* No random draws or side effects in b or the bodies nested in it. */
static int pure_body(const dn_graph *b) {
  for (int i = 0; i < b->nodes.n; i++) {
    const dn_node *n = b->nodes.v[i];
    if (dn_ops[n->op].flags & (DN_F_RANDOM | DN_F_SIDE)) return 0;
    if (n->op == DN_OP_SCAN && !pure_body(n->scan.body)) return 0;
  }
  return 1;
}

/* Can this scan run as a loop? Every step must compute the same function of its inputs
 * (random draws are keyed by node, so a loop would repeat them). */
static int loopable(const dn_node *scan) {
  const char *env = getenv("DNNCC_UNROLL");
  if ((env && strcmp(env, "1") == 0) || scan->scan.steps <= DN_UNROLL_MAX_STEPS) return 0;
  return pure_body(scan->scan.body);
}

/* Turns the body's PARAM leaves into SCAN_OUTER leaves fed by new PARAM nodes of g (appended
 * to g's node list, so the caller adds the SCAN node after them). */
static void lift_params(dn_graph *g, dn_node *scan) {
  dn_graph *b = scan->scan.body;
  dn_vec extra = {0};
  for (int i = 0; i < b->nodes.n; i++) {
    dn_node *n = b->nodes.v[i];
    if (n->op != DN_OP_PARAM) continue;
    dn_node *p = dn_ir_param(g, n->param, n->loc);
    n->op = DN_OP_SCAN_OUTER;
    n->param = scan->scan.n_outer + extra.n;
    dn_vec_push(&extra, p);
  }
  dn_node_insert_inputs(scan, scan->nin, (dn_node **)extra.v, extra.n);
  scan->scan.n_outer += extra.n;
}

/* Unrolls the scans nested in the bodies of the loops and lifts the loops' parameters.
 * Rebuilds g's node list (the lifted PARAMs precede their SCAN). */
static void prepare_loops(dn_graph *g, int64_t tbptt) {
  dn_vec old = g->nodes;
  memset(&g->nodes, 0, sizeof g->nodes);
  for (int i = 0; i < old.n; i++) {
    dn_node *n = old.v[i];
    if (n->op == DN_OP_SCAN && n->scan.loop) {
      while (unroll_once(n->scan.body, tbptt)) {
      }
      lift_params(g, n);
    }
    n->id = g->nodes.n;
    dn_vec_push(&g->nodes, n);
  }
}

int dn_unroll_scans(dn_graph *g, int64_t tbptt) {
  for (int i = 0; i < g->nodes.n; i++) {  /* which top-level scans become loops */
    dn_node *n = g->nodes.v[i];
    if (n->op == DN_OP_SCAN) n->scan.loop = loopable(n);
  }
  int64_t size = unrolled_size(g);  /* before anything is unrolled */
  const dn_node *scan = largest_scan(g);
  if (scan && size > DN_MAX_UNROLLED) {
    dn_error(scan->loc, "the model unrolls to %lld operations (this recurrence is the largest), more than dnncc supports (%d): "
             "a scan nested in another, or of at most %d steps, or with dropout in its body, is compiled one copy of its body per step; use fewer steps",
             (long long)size, DN_MAX_UNROLLED, DN_UNROLL_MAX_STEPS);
    return 1;
  }
  prepare_loops(g, tbptt);
  while (unroll_once(g, tbptt)) {
  }
  return 0;
}
