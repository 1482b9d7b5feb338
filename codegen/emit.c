/* emit.c - from graphs to one C99 file (SPEC 4, the contract in codegen.h).
 *
 * Layout of the file: includes and the header's declarations, static helper functions
 * (kernels' and the RNG), static const data (embedded weights, constant tensors), one
 * static body function per entry point, then the API (emit_api.c). A body computes the
 * nodes its roots need, in node order:
 *   - leaves are pointers (inputs: the caller's arrays; parameters: the state, or const
 *     arrays with --weights); constants are literals inside loops, or materialized;
 *   - views (RESHAPE) alias their input;
 *   - elementwise nodes are fused (emit_ew.c): at -O1 and above a node whose only consumer
 *     is an elementwise node of the same shape is computed inside that consumer's loop;
 *   - every other op is printed by dn_cg_kernel (kernels.c);
 *   - results land in the caller's output arrays, the gradient slots, or arena buffers whose
 *     offsets come from the liveness plan (plan.c); outputs, gradients and ASSIGNs that
 *     could not be computed in place are copied at the end.
 * Needs: verified graphs without SCAN (unroll.c runs first); training graphs differentiated.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emit.h"
#include "optim.h"
#include "dnrt.h"

int dn_em_param_index(const dn_em *em, const dn_graph *g, int gparam) {
  const dn_param *p = g->params.v[gparam];
  for (int i = 0; i < em->params.n; i++)
    if (strcmp(((dn_param *)em->params.v[i])->name, p->name) == 0) return i;
  dn_die("parameter %s missing from the layout", p->name);
}

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

/* --- classification --------------------------------------------------------------- */

/* Marks what the roots need and counts consumers and pins. */
static void need_and_count(dn_em_body *b, char *need, dn_vec *users) {
  dn_graph *g = b->g;
  for (int k = 0; k < b->n_out; k++) need[((dn_output *)g->outputs.v[k])->node->id] = 1;
  for (int k = 0; b->scan && k < g->results.n; k++) need[((dn_node *)g->results.v[k])->id] = 1;
  if (b->want_loss && g->loss_mean) need[g->loss_mean->id] = 1;
  if (b->want_grads) {
    for (int i = 0; i < g->grads.n; i++)
      if (g->grads.v[i]) need[((dn_node *)g->grads.v[i])->id] = 1;
    for (int i = 0; i < g->nodes.n; i++)
      if (((dn_node *)g->nodes.v[i])->op == DN_OP_ASSIGN) need[i] = 1;
  }
  for (int i = g->nodes.n - 1; i >= 0; i--) {
    dn_node *n = g->nodes.v[i];
    if (!need[i]) continue;
    for (int j = 0; j < n->nin; j++) {
      need[n->in[j]->id] = 1;
      b->nodes[n->in[j]->id].uses++;
      dn_vec_push(&users[n->in[j]->id], n);
    }
  }
}

static void pin(dn_em_body *b, const dn_node *n) {
  b->nodes[n->id].uses++;
  b->nodes[n->id].pinned = 1;
}

static void pin_roots(dn_em_body *b) {
  dn_graph *g = b->g;
  for (int k = 0; k < b->n_out; k++) pin(b, ((dn_output *)g->outputs.v[k])->node);
  for (int k = 0; b->scan && k < g->results.n; k++) pin(b, g->results.v[k]);
  if (b->want_loss && g->loss_mean) pin(b, g->loss_mean);
  if (!b->want_grads) return;
  for (int i = 0; i < g->grads.n; i++)
    if (g->grads.v[i]) pin(b, g->grads.v[i]);
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if (n->op == DN_OP_ASSIGN) pin(b, n->in[1]);
  }
}

/* A constant (or view of one) whose consumers are all elementwise: a literal. */
static int all_ew_users(const dn_node *n, const dn_vec *users) {
  for (int i = 0; i < users[n->id].n; i++) {
    const dn_node *u = users[n->id].v[i];
    if (dn_ops[u->op].flags & DN_F_EW) continue;
    if (u->op == DN_OP_RESHAPE && all_ew_users(u, users)) continue;
    return 0;
  }
  return 1;
}

/* The one consumer's id, when n may be computed inside it. */
static int fusable_into(const dn_em *em, const dn_em_body *b, const dn_node *n, const dn_vec *users) {
  const dn_em_node *e = &b->nodes[n->id];
  if (em->o->opt_level < 1 || e->uses != 1 || e->pinned || users[n->id].n != 1 || n->dtype != DN_F32) return -1;
  const dn_node *u = users[n->id].v[0];
  if (!(dn_ops[u->op].flags & DN_F_EW) || !dn_shape_eq(u->shape, n->shape)) return -1;
  return u->id;
}

/* Output index of a root computed straight into the caller's array, or -1. */
static int out_slot(const dn_em_body *b, const dn_node *n, const char *claimed) {
  for (int k = 0; k < b->n_out; k++)
    if (((dn_output *)b->g->outputs.v[k])->node == n && !claimed[k]) return k;
  return -1;
}

/* Parameter index (em->params) whose gradient slot n can be computed into, or -1. */
static int grad_slot(const dn_em *em, const dn_em_body *b, const dn_node *n) {
  if (!b->want_grads) return -1;
  int found = -1;
  for (int i = 0; i < b->g->grads.n; i++)
    if (b->g->grads.v[i] == n) {
      if (found >= 0) return -1;
      found = i;
    }
  return found < 0 ? -1 : dn_em_param_index(em, b->g, found);
}

static int scan_prepare(dn_em *em, dn_em_body *b, dn_node *n, const dn_vec *users);

static int classify_node(dn_em *em, dn_em_body *b, dn_node *n, const dn_vec *users, char *claimed) {
  dn_em_node *e = &b->nodes[n->id];
  unsigned f = dn_ops[n->op].flags;
  switch (n->op) {
  case DN_OP_INPUT: e->kind = DN_EMK_INPUT; return 0;
  case DN_OP_PARAM: e->kind = DN_EMK_PARAM; return 0;
  case DN_OP_CONST: e->kind = n->data ? DN_EMK_CDATA : all_ew_users(n, users) ? DN_EMK_SCALAR : DN_EMK_ARENA; break;
  case DN_OP_RESHAPE: e->kind = b->nodes[n->in[0]->id].kind == DN_EMK_SCALAR ? DN_EMK_SCALAR : DN_EMK_VIEW; return 0;
  case DN_OP_ASSIGN: e->kind = DN_EMK_SKIP; return 0;
  case DN_OP_SCAN_X: case DN_OP_SCAN_STATE: case DN_OP_SCAN_OUTER: e->kind = DN_EMK_EXT; return 0;
  case DN_OP_SCAN_GET: case DN_OP_SCAN_LAST: e->kind = DN_EMK_VIEW; return 0;
  case DN_OP_SCAN:
    if (!n->scan.loop) dn_die("emit: scan %%%d was neither unrolled nor made a loop", n->id);
    e->kind = DN_EMK_ARENA;
    return scan_prepare(em, b, n, users);
  default:
    if ((f & (DN_F_EW | DN_F_RANDOM)) && (e->consumer = fusable_into(em, b, n, users)) >= 0) {
      e->kind = DN_EMK_INLINE;
      return 0;
    }
    e->kind = DN_EMK_ARENA;
  }
  if (e->kind != DN_EMK_ARENA) return 0;
  if (n->dtype == DN_F32 && (e->slot = out_slot(b, n, claimed)) >= 0) {
    claimed[e->slot] = 1;
    e->kind = DN_EMK_OUT;
  } else if (n->dtype == DN_F32 && (e->slot = grad_slot(em, b, n)) >= 0) {
    e->kind = DN_EMK_GRAD;
  }
  return 0;
}

/* Positions (group root for inline nodes), pins through views, last uses. */
static void liveness(dn_em_body *b, const char *need) {
  dn_graph *g = b->g;
  for (int i = g->nodes.n - 1; i >= 0; i--) {
    dn_em_node *e = &b->nodes[i];
    e->pos = e->kind == DN_EMK_INLINE ? b->nodes[e->consumer].pos : i;
    e->last = -1;
  }
  for (int i = g->nodes.n - 1; i >= 0; i--) {
    dn_node *n = g->nodes.v[i];
    if (need[i] && b->nodes[i].pinned && b->nodes[i].kind == DN_EMK_VIEW) b->nodes[n->in[0]->id].pinned = 1;
  }
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if (!need[i]) continue;
    int at = n->op == DN_OP_ASSIGN ? g->nodes.n : b->nodes[i].pos;
    for (int j = 0; j < n->nin; j++) {
      const dn_node *x = n->in[j];
      while (b->nodes[x->id].kind == DN_EMK_VIEW) x = x->in[0];
      if (at > b->nodes[x->id].last) b->nodes[x->id].last = at;
    }
  }
}

static const char *state_ptr(const char *type, size_t off) { return dn_fmt("((%s *)(st + %zu))", type, off); }

/* The storage of a scan body's leaf n (DN_EMK_EXT) in body b. */
static const char *ext_expr(const dn_em_body *b, const dn_node *n, const char *t) {
  const dn_node *sc = b->scan;
  const dn_em_scan *L = b->outer->nodes[sc->id].scan;
  switch (n->op) {
  case DN_OP_SCAN_X: return state_ptr(t, L->base + L->x_off[n->param]);
  case DN_OP_SCAN_STATE: return state_ptr(t, L->base + L->cur_off[n->param]);
  default: {
    const dn_node *o = sc->in[sc->scan.n_seq + sc->scan.n_state + n->param];
    return dn_fmt("((%s *)%s)", t, b->outer->nodes[o->id].expr);
  }
  }
}

/* A view into a loop's buffer: SCAN_GET (stacked values) or SCAN_LAST (current value). */
static const char *scan_view_expr(const dn_em_body *b, const dn_node *n, const char *t) {
  const dn_em_scan *L = b->nodes[n->in[0]->id].scan;
  size_t off = n->op == DN_OP_SCAN_GET ? L->stack_off[n->axis] : L->cur_off[n->axis];
  if (off == SIZE_MAX) dn_die("emit: state %d of scan %%%d is not kept", n->axis, n->in[0]->id);
  return state_ptr(t, L->base + off);
}

/* C pointer expressions of every stored value, once the plan is known. */
static void exprs(dn_em *em, dn_em_body *b) {
  dn_graph *g = b->g;
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    dn_em_node *e = &b->nodes[i];
    const char *t = n->dtype == DN_I32 ? "int32_t" : em->real;
    if (e->kind == DN_EMK_VIEW && (n->op == DN_OP_SCAN_GET || n->op == DN_OP_SCAN_LAST)) {
      e->expr = scan_view_expr(b, n, t);
      continue;
    }
    switch (e->kind) {
    case DN_EMK_INPUT:
      if (!b->in_expr[n->param]) dn_die("input %s is not passed to this entry point", n->name);
      e->expr = b->in_expr[n->param];
      break;
    case DN_EMK_PARAM: {
      int p = dn_em_param_index(em, g, n->param);
      e->expr = em->embed ? dn_fmt("%s_w%d", em->P, p) : dn_fmt("((%s *)(%s + %zu))", em->real, em->pvar, em->param_off[p]);
      break;
    }
    case DN_EMK_CDATA: e->expr = dn_fmt("%s_c%d%s_%d", em->P, g->mode, b->tag, i); break;
    case DN_EMK_EXT: e->expr = ext_expr(b, n, t); break;
    case DN_EMK_VIEW: e->expr = dn_fmt("((%s *)%s)", t, b->nodes[n->in[0]->id].expr); break;
    case DN_EMK_ARENA:
      e->expr = state_ptr(t, b->base + b->plan.b[e->buf].off);
      if (n->op == DN_OP_SCAN) {
        e->scan->base = b->base + b->plan.b[e->buf].off;
        e->scan->body.base = e->scan->base + e->scan->body_off;
      }
      break;
    case DN_EMK_OUT: e->expr = dn_fmt("((%s *)out[%d])", em->real, e->slot); break;
    case DN_EMK_GRAD: e->expr = state_ptr(em->real, em->grad_off[e->slot]); break;
    default: e->expr = NULL;
    }
    if (n->op == DN_OP_SCAN && e->scan) exprs(em, &e->scan->body);
  }
}

/* Classifies every node of the body and plans its arena (expressions follow, once the
 * arena's base is known). Returns 0, or 1 after errors. */
static int classify_plan(dn_em *em, dn_em_body *b) {
  dn_graph *g = b->g;
  int nn = g->nodes.n;
  b->nodes = dn_alloc(sizeof(dn_em_node) * (size_t)(nn + 1));
  char *need = dn_alloc((size_t)nn + 1), *claimed = dn_alloc((size_t)b->n_out + 1);
  dn_vec *users = dn_alloc(sizeof(dn_vec) * (size_t)(nn + 1));
  need_and_count(b, need, users);
  pin_roots(b);
  int err = 0;
  for (int i = 0; i < nn; i++) {
    b->nodes[i].consumer = -1;
    if (need[i]) err |= classify_node(em, b, g->nodes.v[i], users, claimed);
  }
  if (err) return 1;
  liveness(b, need);
  b->inplace = em->o->opt_level >= 1;
  dn_em_plan_build(b, em->esize);
  return 0;
}

static int classify(dn_em *em, dn_em_body *b, size_t base) {
  if (classify_plan(em, b)) return 1;
  b->base = base;
  b->tag = "";
  exprs(em, b);
  return 0;
}

/* --- loops (SCAN) ---------------------------------------------------------------------- */

static size_t elsize(const dn_em *em, const dn_node *n) { return n->dtype == DN_I32 ? 4 : em->esize; }

/* The body leaf of kind op and index k when the body needs it, else NULL. */
static const dn_node *body_leaf(const dn_em_body *b, dn_op op, int k) {
  for (int i = 0; i < b->g->nodes.n; i++) {
    const dn_node *n = b->g->nodes.v[i];
    if (n->op == op && n->param == k && b->nodes[i].kind == DN_EMK_EXT) return n;
  }
  return NULL;
}

/* Classifies and plans a loop's body and lays out the loop's buffer (dn_em_scan). */
static int scan_prepare(dn_em *em, dn_em_body *b, dn_node *n, const dn_vec *users) {
  int ns = n->scan.n_seq, nk = n->scan.n_state;
  dn_em_scan *L = dn_alloc(sizeof *L);
  b->nodes[n->id].scan = L;
  L->stack_off = dn_alloc(sizeof(size_t) * (size_t)(nk + 1));
  L->cur_off = dn_alloc(sizeof(size_t) * (size_t)(nk + 1));
  L->next_off = dn_alloc(sizeof(size_t) * (size_t)(nk + 1));
  L->stack_only = dn_alloc((size_t)nk + 1);
  L->x_off = dn_alloc(sizeof(size_t) * (size_t)(ns + 1));
  dn_em_body *body = &L->body;
  body->g = n->scan.body;
  body->tag = dn_fmt("%s_s%d", b->tag, n->id);
  body->outer = b;
  body->scan = n;
  if (classify_plan(em, body)) return 1;
  size_t off = 0;
  for (int k = 0; k < nk; k++) {
    const dn_node *h0 = n->in[ns + k];
    size_t bytes = (size_t)dn_shape_count(h0->shape) * elsize(em, h0);
    L->stack_off[k] = SIZE_MAX;
    for (int u = 0; u < users[n->id].n; u++) {
      const dn_node *g = users[n->id].v[u];
      if (g->op != DN_OP_SCAN_GET || g->axis != k || L->stack_off[k] != SIZE_MAX) continue;
      if (!h0->batched) dn_die("emit: stacked values of the unbatched state %d of scan %%%d", k, n->id);
      L->stack_off[k] = off;
      off += round64(bytes * (size_t)n->scan.steps);
    }
    L->cur_off[k] = off;
    off += round64(bytes);
    const dn_node *r = body->g->results.v[k];
    while (body->nodes[r->id].kind == DN_EMK_VIEW) r = r->in[0];
    L->next_off[k] = SIZE_MAX;
    if (r->op == DN_OP_SCAN_STATE) {
      L->next_off[k] = off;
      off += round64(bytes);
    }
    /* the body never reads it and no SCAN_LAST does: the values scan_save.c adds */
    L->stack_only[k] = L->stack_off[k] != SIZE_MAX && L->next_off[k] == SIZE_MAX && !body_leaf(body, DN_OP_SCAN_STATE, k) &&
                       body->nodes[((const dn_node *)body->g->results.v[k])->id].kind == DN_EMK_ARENA;
    for (int u = 0; u < users[n->id].n; u++) {
      const dn_node *g = users[n->id].v[u];
      if (g->op == DN_OP_SCAN_LAST && g->axis == k) L->stack_only[k] = 0;
    }
  }
  for (int i = 0; i < ns; i++) {
    L->x_off[i] = SIZE_MAX;
    const dn_node *x = body_leaf(body, DN_OP_SCAN_X, i);
    if (!x) continue;
    L->x_off[i] = off;
    off += round64((size_t)dn_shape_count(x->shape) * elsize(em, x));
  }
  L->body_off = off;
  off += body->plan.total;
  b->nodes[n->id].bytes = off ? off : 64;
  if (em->o->dump_plan) dn_em_plan_dump(body, dn_fmt("scan %%%d step", n->id), 0, em->o->dump_plan);
  return 0;
}

/* --- body emission -------------------------------------------------------------- */

static void line_directive(dn_em *em, dn_buf *c, const dn_node *n) {
  if (em->o->line_directives && n->loc.file && n->loc.line > 0) dn_buf_printf(c, "#line %d \"%s\"\n", n->loc.line, n->loc.file);
}

/* Fills count elements of dst (a pointer expression) from a value expression of dn_i. */
static void fill_loop(dn_buf *c, const char *dst, int64_t count, const char *value) {
  dn_buf_printf(c, "{ long dn_i; for (dn_i = 0; dn_i < %lld; ++dn_i) (%s)[dn_i] = %s; }\n", (long long)count, dst, value);
}

/* Element dn_i of a stored value or literal, as type `real`. */
static const char *elem(const dn_em *em, const dn_em_body *b, const dn_node *x) {
  const dn_em_node *e = &b->nodes[x->id];
  if (e->kind == DN_EMK_SCALAR) {
    while (x->op != DN_OP_CONST) x = x->in[0];
    return dn_em_lit(em, x->alpha);
  }
  return dn_fmt("(%s)(%s)[dn_i]", em->real, e->expr);
}

static void const_data(dn_em *em, dn_em_body *b, dn_buf *c);
static int emit_node(dn_em *em, dn_em_body *b, dn_buf *c, dn_node *n);

/* Copies one step between a [B, ...] step value and step t of a [B, T, ...] sequence, per
 * bytes per sample (to_seq: into the sequence). */
static void step_copy(dn_buf *c, const char *step, const char *seq, int64_t B, int64_t T, size_t per, const char *t,
                      int to_seq) {
  const char *s = dn_fmt("(char *)(%s) + (size_t)dn_b * %zu", step, per);
  const char *q = dn_fmt("(char *)(%s) + ((size_t)dn_b * %lld + (size_t)%s) * %zu", seq, (long long)T, t, per);
  dn_buf_printf(c, "{ long dn_b; for (dn_b = 0; dn_b < %lld; ++dn_b) memcpy(%s, %s, %zu); }\n", (long long)B,
                to_seq ? q : s, to_seq ? s : q, per);
}

/* A loop over the steps of SCAN n: initial states, then per step the sequences' slices,
 * the body, and the new states (kept stacked where a SCAN_GET reads them). */
static int emit_scan(dn_em *em, dn_em_body *b, dn_buf *c, dn_node *n) {
  dn_em_scan *L = b->nodes[n->id].scan;
  dn_em_body *body = &L->body;
  int ns = n->scan.n_seq, nk = n->scan.n_state;
  int64_t T = n->scan.steps;
  const_data(em, body, em->data);
  dn_buf_printf(c, "/* %%%d = scan over %lld steps%s */\n{\n", n->id, (long long)T, n->scan.reverse ? ", last to first" : "");
  for (int k = 0; k < nk; k++) {
    const dn_node *h0 = n->in[ns + k];
    if (!L->stack_only[k]) fill_loop(c, state_ptr(em->real, L->base + L->cur_off[k]), dn_shape_count(h0->shape), elem(em, b, h0));
  }
  const char *t = dn_fmt("dn_t%d", n->id);
  dn_buf_printf(c, "long dn_s%d;\nfor (dn_s%d = 0; dn_s%d < %lld; ++dn_s%d) {\n", n->id, n->id, n->id, (long long)T, n->id);
  if (n->scan.reverse) dn_buf_printf(c, "const long %s = %lld - dn_s%d;\n", t, (long long)(T - 1), n->id);
  else dn_buf_printf(c, "const long %s = dn_s%d;\n", t, n->id);
  for (int i = 0; i < ns; i++) {
    if (L->x_off[i] == SIZE_MAX) continue;
    const dn_node *x = n->in[i];
    int64_t B = x->shape.dim[0];
    size_t per = (size_t)(dn_shape_count(x->shape) / (B * T)) * elsize(em, x);
    step_copy(c, dn_fmt("st + %zu", L->base + L->x_off[i]), b->nodes[x->id].expr, B, T, per, t, 0);
  }
  /* A step's kernels run on one thread: forking and joining a team for every kernel of
   * every step cost more than they gained (LSTM bench, 2 threads: 19.0 ms a training step
   * with OpenMP inside the loops, vs 14.2 ms on one thread); the batched products before
   * and after the loops keep their threads. */
  int threads = em->ctx.threads, err = 0;
  em->ctx.threads = 1;
  em->serial++;
  for (int i = 0; i < body->g->nodes.n && !err; i++) err = emit_node(em, body, c, body->g->nodes.v[i]);
  em->serial--;
  em->ctx.threads = threads;
  if (err) return 1;
  for (int pass = 0; pass < 2; pass++)  /* results aliasing a state go through staging first */
    for (int k = 0; k < nk; k++) {
      const dn_node *r = body->g->results.v[k];
      size_t dst = L->next_off[k] != SIZE_MAX ? L->next_off[k] : L->cur_off[k];
      if ((pass == 0) != (L->next_off[k] != SIZE_MAX) || L->stack_only[k]) continue;
      fill_loop(c, state_ptr(em->real, L->base + dst), dn_shape_count(r->shape), elem(em, body, r));
    }
  for (int k = 0; k < nk; k++) {
    const dn_node *h0 = n->in[ns + k];
    size_t bytes = (size_t)dn_shape_count(h0->shape) * elsize(em, h0);
    if (L->next_off[k] != SIZE_MAX)
      dn_buf_printf(c, "memcpy(st + %zu, st + %zu, %zu);\n", L->base + L->cur_off[k], L->base + L->next_off[k], bytes);
    if (L->stack_off[k] != SIZE_MAX) {
      int64_t B = h0->shape.dim[0];
      const char *from = L->stack_only[k] ? body->nodes[((dn_node *)body->g->results.v[k])->id].expr
                                          : dn_fmt("st + %zu", L->base + L->cur_off[k]);
      step_copy(c, from, dn_fmt("st + %zu", L->base + L->stack_off[k]), B, T, bytes / (size_t)B, t, 1);
    }
  }
  dn_buf_printf(c, "}\n}\n\n");
  return 0;
}

/* The first node of the body after n that reads it as one of its first two inputs (the
 * only reader, for the epilogues below, which ask for one), or NULL. */
static dn_node *first_reader(const dn_em_body *b, const dn_node *n) {
  const dn_graph *g = b->g;
  for (int i = n->id + 1; i < g->nodes.n; i++) {
    dn_node *x = g->nodes.v[i];
    if (b->nodes[i].kind != DN_EMK_SKIP && x->nin >= 1 && (x->in[0] == n || (x->nin == 2 && x->in[1] == n))) return x;
  }
  return NULL;
}

/* A convolution's epilogue (-O1 and above): the consumer of a CONV2D n that its kernel can
 * compute as it stores, relu(n + bias), n + bias or relu(n), with bias a per-channel tensor
 * [1, F, 1, ...] that has storage, n read by nothing else, and the root computed over n's
 * own buffer (in place) or into the caller's output or gradient array, so writing it at
 * n's position clobbers nothing live. Sets *bias (or NULL) and *relu; returns the root or
 * NULL. */
static dn_node *conv_epilogue(const dn_em *em, const dn_em_body *b, const dn_node *n, const dn_node **bias, int *relu) {
  const dn_graph *g = b->g;
  const dn_em_node *e = &b->nodes[n->id];
  *bias = NULL, *relu = 0;
  if (n->op != DN_OP_CONV2D || em->o->opt_level < 1 || e->kind != DN_EMK_ARENA || e->uses != 1 || e->pinned ||
      n->dtype != DN_F32)
    return NULL;
  dn_node *u = first_reader(b, n);
  if (!u || u->dtype != DN_F32 || !dn_shape_eq(u->shape, n->shape)) return NULL;
  if (u->op == DN_OP_ADD) {
    const dn_node *bb = u->in[0] == n ? u->in[1] : u->in[0];
    const dn_em_node *be = &b->nodes[bb->id];
    int64_t f = n->shape.dim[1];
    if (bb == n || bb->dtype != DN_F32 || bb->shape.rank != n->shape.rank || dn_shape_count(bb->shape) != f ||
        bb->shape.dim[1] != f || !be->expr || be->kind == DN_EMK_INLINE || be->kind == DN_EMK_SCALAR)
      return NULL;
    *bias = bb;
    if (b->nodes[u->id].kind == DN_EMK_INLINE) {  /* inside its consumer's loop: relu(n + bias)? */
      dn_node *r = g->nodes.v[b->nodes[u->id].consumer];
      if (r->op != DN_OP_RELU || r->in[0] != u) return NULL;
      u = r, *relu = 1;
    }
  } else if (u->op == DN_OP_RELU) {
    *relu = 1;
  } else {
    return NULL;
  }
  const dn_em_node *ue = &b->nodes[u->id];
  if (ue->kind == DN_EMK_ARENA) return ue->buf == e->buf ? u : NULL;
  return ue->kind == DN_EMK_OUT || ue->kind == DN_EMK_GRAD ? u : NULL;
}

/* Where a stored value lives while a body runs, for gemm_epilogue's tests: its kind, and
 * its arena bytes or output / gradient slot (a view's is its base's: all of it). */
typedef struct dn_em_where {
  dn_em_kind kind;
  int slot;
  size_t lo, hi;
} dn_em_where;

static dn_em_where where(const dn_em_body *b, const dn_node *x) {
  while (b->nodes[x->id].kind == DN_EMK_VIEW) x = x->in[0];
  const dn_em_node *e = &b->nodes[x->id];
  dn_em_where w = {e->kind, e->slot, 0, 0};
  if (e->kind == DN_EMK_ARENA) w.lo = b->plan.b[e->buf].off, w.hi = w.lo + b->plan.b[e->buf].bytes;
  return w;
}

/* Do x and y share memory (1), or is it the same storage (2)? Inputs, parameters and
 * constants are never written while a body runs (ASSIGNs come after it): 0. */
static int shares(dn_em_where x, dn_em_where y) {
  if (x.kind != y.kind) return 0;
  if (x.kind == DN_EMK_ARENA) return x.lo == y.lo && x.hi == y.hi ? 2 : x.lo < y.hi && y.lo < x.hi;
  if (x.kind == DN_EMK_OUT || x.kind == DN_EMK_GRAD) return x.slot == y.slot ? 2 : 0;
  return 0;
}

/* A GEMM's epilogue (-O1 and above): the ReLU backward after a data gradient, u = n * STEP(h)
 * (either order) with STEP(h) computed in u's loop and h stored, n read by nothing else, for
 * a product dn_cg_gemm_mask_ok accepts (a classifier's dy @ W). The product is then
 * computed at u's position, into u's storage (usually in place over h, which the weight
 * gradient in between has just read: the product's 64 KB of output no longer come from
 * memory), so nothing between n and u may write over n's operands, and u's storage must
 * not overlap them (and be h's, n's own, or apart from both). Returns u and sets *h, or
 * NULL. */
static dn_node *gemm_epilogue(const dn_em *em, const dn_em_body *b, const dn_node *n, const dn_node **h) {
  const dn_graph *g = b->g;
  const dn_em_node *e = &b->nodes[n->id];
  if (n->op != DN_OP_GEMM || em->o->opt_level < 1 || b->scan || e->kind != DN_EMK_ARENA || e->uses != 1 || e->pinned ||
      n->dtype != DN_F32 || !dn_cg_gemm_mask_ok(&em->ctx, n))
    return NULL;
  dn_node *u = first_reader(b, n);
  if (!u || u->op != DN_OP_MUL || u->dtype != DN_F32 || !dn_shape_eq(u->shape, n->shape)) return NULL;
  const dn_em_node *ue = &b->nodes[u->id];
  if (ue->kind != DN_EMK_ARENA && ue->kind != DN_EMK_OUT && ue->kind != DN_EMK_GRAD) return NULL;
  const dn_node *s = u->in[0] == n ? u->in[1] : u->in[0];
  if (s == n || s->op != DN_OP_STEP || b->nodes[s->id].kind != DN_EMK_INLINE || b->nodes[s->id].consumer != u->id ||
      !dn_shape_eq(s->shape, n->shape))
    return NULL;
  const dn_node *m = s->in[0];
  const dn_em_node *me = &b->nodes[m->id];
  if (m->dtype != DN_F32 || !dn_shape_eq(m->shape, n->shape) || !me->expr || me->kind == DN_EMK_INLINE ||
      me->kind == DN_EMK_SCALAR)
    return NULL;
  dn_em_where wu = where(b, u), wa = where(b, n->in[0]), wb = where(b, n->in[1]);
  if (shares(wu, wa) || shares(wu, wb) || shares(wu, where(b, m)) == 1 || shares(wu, where(b, n)) == 1) return NULL;
  for (int i = n->id + 1; i < u->id; i++) {  /* nothing in between writes over A or B */
    const dn_node *x = g->nodes.v[i];
    const dn_em_node *xe = &b->nodes[i];
    if (xe->kind != DN_EMK_ARENA && xe->kind != DN_EMK_OUT && xe->kind != DN_EMK_GRAD) continue;
    if (x->op == DN_OP_SCAN || x->op == DN_OP_CONV2D) return NULL;  /* they may write more than their own storage */
    dn_em_where wx = where(b, x);
    if (shares(wx, wa) || shares(wx, wb)) return NULL;
  }
  *h = m;
  return u;
}

/* Prints node n's kernel (dn_cg_kernel) writing `out`. */
static int emit_kernel(dn_em *em, dn_em_body *b, dn_buf *c, dn_node *n, const char *out) {
  const char **in = dn_alloc(sizeof(char *) * (size_t)(n->nin + 1));
  for (int i = 0; i < n->nin; i++) {
    const dn_em_node *xe = &b->nodes[n->in[i]->id];
    if (!xe->expr) dn_die("node %%%d: input %%%d has no storage", n->id, n->in[i]->id);
    in[i] = n->in[i]->dtype == DN_I32 ? dn_fmt("((const int32_t *)%s)", xe->expr) : dn_fmt("((const %s *)%s)", em->real, xe->expr);
  }
  const float **cin = NULL;  /* the inputs' values where they are embedded parameters */
  for (int i = 0; i < n->nin && em->embed; i++) {
    const dn_node *x = n->in[i];
    while (b->nodes[x->id].kind == DN_EMK_VIEW && x->op == DN_OP_RESHAPE) x = x->in[0];  /* not a scan's slice */
    if (b->nodes[x->id].kind != DN_EMK_PARAM) continue;
    if (!cin) cin = dn_alloc(sizeof *cin * (size_t)n->nin);
    cin[i] = em->wdata[dn_em_param_index(em, b->g, x->param)];
  }
  em->ctx.in_const = cin, em->ctx.data = em->data;
  int64_t flops = dn_cg_flops(n);
  if (flops) dn_buf_printf(c, "/* %%%d = %s %s, %lld flop */\n", n->id, dn_ops[n->op].name, dn_shape_str(n->shape), (long long)flops);
  else dn_buf_printf(c, "/* %%%d = %s %s */\n", n->id, dn_ops[n->op].name, dn_shape_str(n->shape));
  int bad = dn_cg_kernel(c, &em->ctx, n, out, in);
  em->ctx.in_const = NULL;
  if (bad) {
    dn_error(n->loc, "no C kernel for operation '%s' yet", dn_ops[n->op].name);
    return 1;
  }
  dn_buf_printf(c, "\n");
  return 0;
}

static int emit_node(dn_em *em, dn_em_body *b, dn_buf *c, dn_node *n) {
  dn_em_node *e = &b->nodes[n->id];
  if (e->kind != DN_EMK_ARENA && e->kind != DN_EMK_OUT && e->kind != DN_EMK_GRAD) return 0;
  if (e->fused >= 2) {  /* a GEMM's mask epilogue: the product here, into this node's storage */
    dn_node *p = b->g->nodes.v[e->fused - 2];
    const dn_node *h = NULL;
    if (gemm_epilogue(em, b, p, &h) != n) dn_die("node %%%d: its GEMM's epilogue no longer applies", n->id);
    line_directive(em, c, p);
    em->ctx.epi_mask = dn_fmt("((const %s *)%s)", em->real, b->nodes[h->id].expr);
    em->ctx.epi_tmp = b->nodes[p->id].expr;
    dn_buf_printf(c, "/* %%%d = %s %s: %%%d * (%%%d > 0), the product %%%d computed here with the mask applied as it stores */\n",
                  n->id, dn_ops[n->op].name, dn_shape_str(n->shape), p->id, h->id, p->id);
    int bad = emit_kernel(em, b, c, p, e->expr);
    em->ctx.epi_mask = em->ctx.epi_tmp = NULL;
    return bad;
  }
  if (e->fused) {
    dn_buf_printf(c, "/* %%%d = %s %s: computed by the convolution's epilogue above */\n", n->id, dn_ops[n->op].name,
                  dn_shape_str(n->shape));
    return 0;
  }
  const dn_node *h;
  dn_node *u = gemm_epilogue(em, b, n, &h);
  if (u) {  /* printed at u's position: its kernel's slot taken now (dn_cg_gemm_mask_ok holds there) */
    dn_cg_gemm_mask_reserve(&em->ctx, n);
    b->nodes[u->id].fused = n->id + 2;
    dn_buf_printf(c, "/* %%%d = %s %s: computed with %%%d below (its mask epilogue) */\n", n->id, dn_ops[n->op].name,
                  dn_shape_str(n->shape), u->id);
    return 0;
  }
  line_directive(em, c, n);
  if (n->op == DN_OP_SCAN) return emit_scan(em, b, c, n);
  if (n->op == DN_OP_CONST) {
    fill_loop(c, e->expr, dn_shape_count(n->shape), dn_em_lit(em, n->alpha));
    return 0;
  }
  if (dn_ops[n->op].flags & (DN_F_EW | DN_F_RANDOM)) {
    dn_em_ew(em, b, c, n, e->expr);
    return 0;
  }
  const dn_node *bias;
  int relu;
  dn_node *epi = conv_epilogue(em, b, n, &bias, &relu);
  const char *out = e->expr;
  if (epi) {  /* the kernel computes epi instead, into epi's storage */
    b->nodes[epi->id].fused = 1;
    out = b->nodes[epi->id].expr;
    em->ctx.epi_bias = bias ? dn_fmt("((const %s *)%s)", em->real, b->nodes[bias->id].expr) : NULL;
    em->ctx.epi_relu = relu;
    const char *what = bias ? dn_fmt("%s%%%d + %%%d%s", relu ? "relu(" : "", n->id, bias->id, relu ? ")" : "")
                            : dn_fmt("relu(%%%d)", n->id);
    dn_buf_printf(c, "/* with %%%d = %s fused into its stores */\n", epi->id, what);
  }
  int bad = emit_kernel(em, b, c, n, out);
  em->ctx.epi_bias = NULL, em->ctx.epi_relu = 0;
  return bad;
}

/* Copies the outputs, gradients and ASSIGN values not computed in place. */
static void epilogue(dn_em *em, dn_em_body *b, dn_buf *c) {
  dn_graph *g = b->g;
  for (int k = 0; k < b->n_out; k++) {
    dn_node *x = ((dn_output *)g->outputs.v[k])->node;
    dn_em_node *e = &b->nodes[x->id];
    if (e->kind == DN_EMK_OUT && e->slot == k) continue;
    fill_loop(c, dn_fmt("((%s *)out[%d])", em->real, k), dn_shape_count(x->shape), elem(em, b, x));
  }
  for (int i = 0; b->want_grads && i < g->params.n; i++) {
    dn_param *p = g->params.v[i];
    int pi = dn_em_param_index(em, g, i);
    if (!p->trainable) continue;
    dn_node *x = i < g->grads.n ? g->grads.v[i] : NULL;
    const char *dst = state_ptr(em->real, em->grad_off[pi]);
    if (!x) fill_loop(c, dst, dn_shape_count(p->shape), dn_em_lit(em, 0));
    else if (!(b->nodes[x->id].kind == DN_EMK_GRAD && b->nodes[x->id].slot == pi))
      fill_loop(c, dst, dn_shape_count(p->shape), elem(em, b, x));
  }
  for (int i = 0; b->want_grads && i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if (n->op != DN_OP_ASSIGN) continue;
    line_directive(em, c, n);
    fill_loop(c, b->nodes[n->in[0]->id].expr, dn_shape_count(n->in[0]->shape), elem(em, b, n->in[1]));
  }
}

/* Static const arrays of CONST nodes with data. */
static void const_data(dn_em *em, dn_em_body *b, dn_buf *c) {
  for (int i = 0; i < b->g->nodes.n; i++) {
    dn_node *n = b->g->nodes.v[i];
    if (b->nodes[i].kind != DN_EMK_CDATA) continue;
    const char *name = b->nodes[i].expr;
    if (strstr(c->s ? c->s : "", dn_fmt(" %s[", name))) continue;
    int64_t cnt = dn_shape_count(n->shape);
    dn_buf_printf(c, "static const %s %s[%lld] = {", em->real, name, (long long)cnt);
    for (int64_t j = 0; j < cnt; j++) dn_buf_printf(c, "%s%s", j ? (j % 8 ? ", " : ",\n  ") : "\n  ", dn_em_lit(em, n->data[j]));
    dn_buf_printf(c, "\n};\n");
  }
}

/* Prints `static double NAME(char *st, void *const *in[, void *const *out])` computing the
 * body, its arena at st + base; a per-thread body (em->pvar "ps") is NAME(char *ps, char
 * *st, long dn_part, void *const *in): the state, its block and which part it is. */
static int emit_body(dn_em *em, dn_em_body *b, const char *fname, int with_out, size_t base, dn_buf *data) {
  em->data = data;
  int part = strcmp(em->pvar, "st") != 0;  /* a per-thread body sizes its own block */
  if (classify(em, b, base)) return 1;
  if (!part && b->plan.total > em->arena_bytes) em->arena_bytes = b->plan.total;
  if (em->o->dump_plan) dn_em_plan_dump(b, fname, base, em->o->dump_plan);
  const_data(em, b, data);
  dn_buf *c = &em->fns;
  dn_buf_printf(c, "static double %s(%schar *st, %svoid *const *in%s) {\n", fname, part ? "char *ps, " : "",
                part ? "long dn_part, " : "", with_out ? ", void *const *out" : "");
  dn_buf_printf(c, "(void)st; (void)in;%s%s\n", with_out ? " (void)out;" : "", part ? " (void)ps; (void)dn_part;" : "");
  for (int i = 0; i < b->g->nodes.n; i++)
    if (emit_node(em, b, c, b->g->nodes.v[i])) return 1;
  epilogue(em, b, c);
  dn_node *l = b->want_loss ? b->g->loss_mean : NULL;
  if (l) dn_buf_printf(c, "{ const long dn_i = 0; return (double)%s; }\n}\n\n", elem(em, b, l));
  else dn_buf_printf(c, "return 0;\n}\n\n");
  return 0;
}

/* Input pointer expressions: inference inputs only, or every input, in declaration order. */
static const char **input_exprs(dn_em *em, dn_graph *g, int all) {
  const char **e = dn_alloc(sizeof(char *) * (size_t)(g->inputs.n + 1));
  int k = 0;
  for (int i = 0; i < g->inputs.n; i++) {
    dn_input *in = g->inputs.v[i];
    if (!all && !in->for_inference) continue;
    e[i] = dn_fmt("((const %s *)in[%d])", in->is_class ? "int32_t" : em->real, k++);
  }
  return e;
}

/* --- layout ------------------------------------------------------------------------ */

static void add_params(dn_em *em, dn_graph *g) {
  for (int i = 0; g && i < g->params.n; i++) {
    dn_param *p = g->params.v[i];
    int found = 0;
    for (int j = 0; j < em->params.n; j++) found |= strcmp(((dn_param *)em->params.v[j])->name, p->name) == 0;
    if (!found) dn_vec_push(&em->params, p);
  }
}

/* Parameters, gradients, optimizer state, step counter + seed; the arena starts after. */
static void layout(dn_em *em, dn_graph *train) {
  int np = em->params.n;
  size_t off = 0;
  em->param_off = dn_alloc(sizeof(size_t) * (size_t)(np + 1));
  em->grad_off = dn_alloc(sizeof(size_t) * (size_t)(np + 1));
  em->opt_off[0] = dn_alloc(sizeof(size_t) * (size_t)(np + 1));
  em->opt_off[1] = dn_alloc(sizeof(size_t) * (size_t)(np + 1));
  em->nstate = train ? dn_cg_optim_nstate(&train->train) : 0;
  for (int i = 0; i < np && !em->embed; i++) {
    em->param_off[i] = off;
    off += round64((size_t)dn_shape_count(((dn_param *)em->params.v[i])->shape) * em->esize);
  }
  for (int pass = 0; train && pass < 1 + em->nstate; pass++)
    for (int i = 0; i < np; i++) {
      dn_param *p = em->params.v[i];
      if (!p->trainable) continue;
      if (pass == 0) em->grad_off[i] = off;
      else em->opt_off[pass - 1][i] = off;
      off += round64((size_t)dn_shape_count(p->shape) * em->esize);
    }
  em->step_off = off;
  em->arena_off = off + 64;
}

/* Matches --weights tensors to parameters (every one present, exact shape, F32). */
static int embed_weights(dn_em *em) {
  const dn_emit_opts *o = em->o;
  em->wdata = dn_alloc(sizeof(float *) * (size_t)(em->params.n + 1));
  int err = 0;
  for (int i = 0; i < em->params.n; i++) {
    dn_param *p = em->params.v[i];
    const struct dnrt_tensor *t = NULL;
    for (int j = 0; j < o->n_weights && !t; j++)
      if (o->weights[j].name && strcmp(o->weights[j].name, p->name) == 0) t = &o->weights[j];
    if (!t) {
      dn_error(p->loc, "parameter '%s' is missing from the weights file", p->name);
      err = 1;
      continue;
    }
    int same = t->rank == p->shape.rank && t->dtype == DNRT_F32;
    for (int k = 0; same && k < t->rank; k++) same = t->shape[k] == p->shape.dim[k];
    if (!same) {
      dn_shape got = {0};
      got.rank = t->rank < DN_MAX_RANK ? t->rank : DN_MAX_RANK;
      for (int k = 0; k < got.rank; k++) got.dim[k] = t->shape[k];
      dn_error(p->loc, "weights tensor '%s' has shape %s, the parameter is %s", p->name, dn_shape_str(got), dn_shape_str(p->shape));
      err = 1;
    }
    em->wdata[i] = t->data;
  }
  for (int j = 0; j < o->n_weights; j++) {
    int found = 0;
    for (int i = 0; i < em->params.n; i++) found |= o->weights[j].name && strcmp(o->weights[j].name, ((dn_param *)em->params.v[i])->name) == 0;
    if (!found) {
      dn_error((dn_loc){0}, "weights file has a tensor '%s' that the model does not have", o->weights[j].name ? o->weights[j].name : "?");
      err = 1;
    }
  }
  return err;
}

static void embedded_arrays(dn_em *em, dn_buf *c) {
  for (int i = 0; i < em->params.n; i++) {
    dn_param *p = em->params.v[i];
    int64_t cnt = dn_shape_count(p->shape);
    dn_buf_printf(c, "static const %s %s_w%d[%lld] = { /* %s */", em->real, em->P, i, (long long)cnt, p->name);
    dn_cg_array_elems(c, em->real, em->wdata[i], cnt);
    dn_buf_printf(c, "\n};\n");
  }
}

/* --- the file ------------------------------------------------------------------------ */

/* The optimizer update of P_train_step_v. */
/* The gradients' block: every trainable parameter's, contiguous from grad_base (layout). */
static void grad_block(const dn_em *em, size_t *base, size_t *bytes) {
  size_t lo = SIZE_MAX, hi = 0;
  for (int i = 0; i < em->params.n; i++) {
    dn_param *p = em->params.v[i];
    if (!p->trainable) continue;
    if (em->grad_off[i] < lo) lo = em->grad_off[i];
    size_t e = em->grad_off[i] + round64((size_t)dn_shape_count(p->shape) * em->esize);
    if (e > hi) hi = e;
  }
  *base = lo == SIZE_MAX ? 0 : lo;
  *bytes = hi > *base ? hi - *base : 0;
}

/* The optimizer slots of the trainable parameters' elements [lo, hi) of the gradients'
 * block (element indices from gbase): whole parameters, or the pieces a slice cuts out of
 * them (part_step). Returns their count. */
static int param_slots(const dn_em *em, size_t gbase, size_t lo, size_t hi, dn_cg_slot *slots) {
  int n = 0;
  for (int i = 0; i < em->params.n; i++) {
    dn_param *p = em->params.v[i];
    if (!p->trainable) continue;
    size_t first = (em->grad_off[i] - gbase) / em->esize, count = (size_t)dn_shape_count(p->shape);
    size_t a = first > lo ? first : lo, b = first + count < hi ? first + count : hi;
    if (a >= b) continue;
    size_t d = (a - first) * em->esize;
    slots[n++] = (dn_cg_slot){p->name, (int64_t)(b - a), em->param_off[i] + d, em->grad_off[i] + d,
                              {em->opt_off[0][i] + d, em->opt_off[1][i] + d}};
  }
  return n;
}

static void update(dn_em *em, dn_graph *train, dn_buf *c) {
  size_t gbase, gbytes;
  grad_block(em, &gbase, &gbytes);
  dn_cg_slot *slots = dn_alloc(sizeof *slots * (size_t)(em->params.n + 1));
  int n = param_slots(em, gbase, 0, gbytes / em->esize, slots);
  dn_cg_emit_update(c, &train->train, slots, n, em->real, "st", "dn_step");
}

/* --- bodies split by samples over the threads ------------------------------------------ */

/* What part_enter changes in em to print a per-thread body, for part_leave to restore. */
typedef struct dn_part_saved {
  int threads;
  const char *scratch;
  size_t scratch_bytes;
} dn_part_saved;

/* Prints the next bodies per thread: parameters from ps, serial kernels, kernel scratch at
 * the macro `P_<scratch>` in the thread's block (st). */
static dn_part_saved part_enter(dn_em *em, const char *scratch) {
  dn_part_saved s = {em->ctx.threads, em->ctx.scratch, em->ctx.scratch_bytes};
  em->pvar = "ps";
  em->ctx.threads = 1;
  em->ctx.scratch = dn_fmt("(st + %s_%s)", em->P, scratch);
  em->ctx.scratch_bytes = 0;
  return s;
}

/* Undoes part_enter (the rest of ctx, the helpers needed, serves all bodies); returns the
 * kernel scratch the per-thread bodies need. */
static size_t part_leave(dn_em *em, dn_part_saved s) {
  size_t used = em->ctx.scratch_bytes;
  em->pvar = "st";
  em->ctx.threads = s.threads;
  em->ctx.scratch = s.scratch;
  em->ctx.scratch_bytes = s.scratch_bytes;
  return used;
}

/* One thread's block of `bytes` (rounded): the threads' blocks lie over the arena, which
 * grows to hold them all. */
static size_t part_block(dn_em *em, size_t bytes) {
  size_t block = round64(bytes), all = block * (size_t)em->o->threads;
  if (all > em->arena_bytes) em->arena_bytes = all;
  return block;
}

/* Prints dn_in[k] = in[k] advanced dn_q parts of g->batch samples, for every input of g
 * (all) or its inference inputs. */
static void part_inputs(const dn_em *em, dn_buf *c, const dn_graph *g, int all) {
  for (int i = 0, k = 0; i < g->inputs.n; i++) {
    dn_input *in = g->inputs.v[i];
    if (!all && !in->for_inference) continue;
    size_t bytes = (size_t)dn_shape_count(in->sample) * (size_t)(in->is_class ? 4 : em->esize) * (size_t)g->batch;
    dn_buf_printf(c, "    dn_in[%d] = (char *)in[%d] + dn_q * %zu;\n", k, k, bytes);
    k++;
  }
}

/* --- the training step split by samples over the threads ------------------------------- */

/* With --threads T and a training graph that splits by samples (pipeline.h), the training
 * step runs T copies of the training body for batch B / T at once, one per thread, each on
 * its part of the batch with its own gradients, arena and kernel scratch (a block of
 * em->part_bytes; the blocks lie over the arena, which no body keeps across calls), with
 * serial kernels; then the gradients' mean goes to the state's gradients and the update
 * follows (part_step). One parallel region per step instead of one per large kernel, no
 * small kernel on one thread while the others wait, and each thread's activations stay in
 * its own cache (docs/performance.md). Prints P_body_grad_part(ps, st, dn_part, in): ps
 * the state (parameters, step, seed), st the thread's block, dn_part its part (random ops
 * draw the serial step's numbers: emit_ew.c). */
static int part_body(dn_em *em, dn_graph *part, dn_buf *data) {
  size_t gbase, gbytes;
  grad_block(em, &gbase, &gbytes);
  size_t *grad_off = em->grad_off, *tgrad = dn_alloc(sizeof(size_t) * (size_t)(em->params.n + 1));
  for (int i = 0; i < em->params.n; i++) tgrad[i] = grad_off[i] >= gbase ? grad_off[i] - gbase : 0;
  dn_part_saved saved = part_enter(em, "PART_SCRATCH_OFF");
  em->grad_off = tgrad;
  dn_em_body pb = {.g = part, .in_expr = input_exprs(em, part, 1), .want_loss = 1, .want_grads = 1};
  int err = emit_body(em, &pb, dn_fmt("%s_body_grad_part", em->P), 0, round64(gbytes), data);
  em->grad_off = grad_off;
  size_t part_scratch = part_leave(em, saved);
  if (err) return 1;
  em->part_scratch_off = round64(round64(gbytes) + pb.plan.total);
  em->part_bytes = part_block(em, em->part_scratch_off + part_scratch);
  return 0;
}

/* The gradient mean of elements [lo, hi) of the gradients' block over the threads' copies. */
static void part_mean(dn_em *em, dn_buf *c, size_t gbase, size_t lo, size_t hi) {
  int T = em->o->threads;
  const char *R = em->real;
  dn_buf_printf(c, "    {\n      %s *restrict dn_g = (%s *)(st + %zu);\n", R, R, gbase);
  for (int t = 0; t < T; t++)
    dn_buf_printf(c, "      const %s *restrict dn_g%d = (const %s *)(st + %zu);\n", R, t, R, em->arena_off + (size_t)t * em->part_bytes);
  dn_buf_printf(c, "      for (dn_k = %zu; dn_k < %zu; ++dn_k) dn_g[dn_k] = (dn_g0[dn_k]", lo, hi);
  for (int t = 1; t < T; t++) dn_buf_printf(c, " + dn_g%d[dn_k]", t);
  dn_buf_printf(c, ") * %s;\n    }\n", dn_em_lit(em, 1.0 / T));
}

/* The part of P_train_step_v (P_grad_v: with_update 0) that runs part_body's copies,
 * averages their gradients and, without clip_norm (a norm over all gradients), updates the
 * parameters: thread t takes the t-th slice of the gradients' block (64-byte aligned) for
 * both. Returns 1 when it printed the update. */
static int part_step(dn_em *em, dn_graph *train, dn_buf *c, int with_update) {
  int T = em->o->threads;
  size_t gbase, gbytes;
  grad_block(em, &gbase, &gbytes);
  size_t ng = gbytes / em->esize, per = 64 / em->esize;
  int update_here = with_update && train->train.clip_norm <= 0;
  dn_buf_printf(c, "  double dn_loss = 0, dn_lp[%d];\n  long dn_q, dn_k;\n", T);
  dn_buf_printf(c, "  /* %d parts of %lld samples, one per thread (%s_body_grad_part), then the mean of their\n"
                   "   * gradients%s: one parallel region per step */\n",
                T, (long long)(train->batch / T), em->P, update_here ? " and the update, each thread a slice" : "");
  dn_buf_printf(c, "#pragma omp parallel num_threads(%d)\n  {\n#pragma omp for schedule(static)\n", T);
  dn_buf_printf(c, "  for (dn_q = 0; dn_q < %d; ++dn_q) {\n    void *dn_in[%d];\n", T, train->inputs.n + 1);
  part_inputs(em, c, em->o->train_part, 1);
  dn_buf_printf(c, "    dn_lp[dn_q] = %s_body_grad_part(st, st + %zu + dn_q * %zu, dn_q, dn_in);\n  }\n", em->P, em->arena_off,
                em->part_bytes);
  dn_buf_printf(c, "#pragma omp for schedule(static)\n  for (dn_q = 0; dn_q < %d; ++dn_q) {\n    switch (dn_q) {\n", T);
  dn_cg_slot *slots = dn_alloc(sizeof *slots * (size_t)(em->params.n + 1));
  for (int t = 0; t < T; t++) {
    size_t lo = (ng * (size_t)t / (size_t)T + per - 1) / per * per, hi = (ng * (size_t)(t + 1) / (size_t)T + per - 1) / per * per;
    if (hi > ng) hi = ng;
    dn_buf_printf(c, "    case %d:\n", t);
    if (lo < hi) part_mean(em, c, gbase, lo, hi);
    int n = update_here ? param_slots(em, gbase, lo, hi, slots) : 0;
    if (n) {
      dn_buf_printf(c, "    {\n");
      dn_cg_emit_update(c, &train->train, slots, n, em->real, "st", "dn_step");
      dn_buf_printf(c, "    }\n");
    }
    dn_buf_printf(c, "    break;\n");
  }
  dn_buf_printf(c, "    }\n  }\n  }\n");
  dn_buf_printf(c, "  for (dn_q = 0; dn_q < %d; ++dn_q) dn_loss += dn_lp[dn_q];\n  dn_loss /= %d;\n", T, T);
  return update_here;
}

/* --- inference split by samples over the threads --------------------------------------- */

/* With --threads T and an inference graph that splits by samples (pipeline.h), P_forward_v
 * and P_evaluate_v run T copies of their body for batch B / T at once, one per thread, each
 * on its part of the inputs and outputs with its own arena and kernel scratch (a block of
 * em->ipart_bytes; the blocks lie over the arena, as the training step's do) and serial
 * kernels (the reasons are part_body's). Prints P_body_forward_part(ps, st, dn_part, in, out)
 * and, with a loss, P_body_evaluate_part. */
static int infer_part_bodies(dn_em *em, dn_graph *part, dn_buf *data) {
  dn_part_saved saved = part_enter(em, "IPART_SCRATCH_OFF");
  dn_em_body fw = {.g = part, .in_expr = input_exprs(em, part, 0), .n_out = part->outputs.n};
  int err = emit_body(em, &fw, dn_fmt("%s_body_forward_part", em->P), 1, 0, data);
  size_t arena = fw.plan.total;
  if (!err && part->loss_mean) {
    dn_em_body ev = {.g = part, .in_expr = input_exprs(em, part, 1), .n_out = part->outputs.n, .want_loss = 1};
    err = emit_body(em, &ev, dn_fmt("%s_body_evaluate_part", em->P), 1, 0, data);
    if (ev.plan.total > arena) arena = ev.plan.total;
  }
  size_t part_scratch = part_leave(em, saved);
  if (err) return 1;
  em->ipart_scratch_off = round64(arena);
  em->ipart_bytes = part_block(em, em->ipart_scratch_off + part_scratch);
  return 0;
}

/* The body of P_forward_v (evaluate 0) or P_evaluate_v over infer_part_bodies' copies: the
 * thread of part q passes pointers q parts into every input and output. */
static void infer_part_call(dn_em *em, dn_graph *part, dn_buf *c, const char *st, int evaluate) {
  int T = em->o->threads;
  dn_buf_printf(c, "  char *st = %s;\n  long dn_q;\n", st);
  if (evaluate) dn_buf_printf(c, "  double dn_loss = 0, dn_lp[%d];\n", T);
  dn_buf_printf(c, "  /* %d parts of %lld samples, one per thread (%s_body_%s_part) */\n", T, (long long)part->batch, em->P,
                evaluate ? "evaluate" : "forward");
  dn_buf_printf(c, "#pragma omp parallel for schedule(static) num_threads(%d)\n", T);
  dn_buf_printf(c, "  for (dn_q = 0; dn_q < %d; ++dn_q) {\n    void *dn_in[%d], *dn_out[%d];\n", T, part->inputs.n + 1,
                part->outputs.n + 1);
  part_inputs(em, c, part, evaluate);
  for (int i = 0; i < part->outputs.n; i++) {
    dn_node *x = ((dn_output *)part->outputs.v[i])->node;
    dn_buf_printf(c, "    dn_out[%d] = (char *)out[%d] + dn_q * %zu;\n", i, i, (size_t)dn_shape_count(x->shape) * em->esize);
  }
  dn_buf_printf(c, "    %s%s_body_%s_part(st, st + %zu + dn_q * %zu, dn_q, dn_in, dn_out);\n  }\n",
                evaluate ? "dn_lp[dn_q] = " : "(void)", em->P, evaluate ? "evaluate" : "forward", em->arena_off,
                em->ipart_bytes);
  if (evaluate)
    dn_buf_printf(c, "  for (dn_q = 0; dn_q < %d; ++dn_q) dn_loss += dn_lp[dn_q];\n  return dn_loss / %d;\n", T, T);
}

static int entry_points(dn_em *em, dn_graph *infer, dn_graph *train, dn_buf *data) {
  const char *P = em->P;
  dn_graph *ipart = em->o->threads > 1 ? em->o->infer_part : NULL;
  if (ipart) {
    if (infer_part_bodies(em, ipart, data)) return 1;
  } else {
    dn_em_body fw = {.g = infer, .in_expr = input_exprs(em, infer, 0), .n_out = infer->outputs.n};
    if (emit_body(em, &fw, dn_fmt("%s_body_forward", P), 1, em->arena_off, data)) return 1;
    if (infer->loss_mean) {
      dn_em_body ev = {.g = infer, .in_expr = input_exprs(em, infer, 1), .n_out = infer->outputs.n, .want_loss = 1};
      if (emit_body(em, &ev, dn_fmt("%s_body_evaluate", P), 1, em->arena_off, data)) return 1;
    }
  }
  if (train && em->o->train_part && em->o->threads > 1) {  /* P_grad_v runs the copies too */
    if (part_body(em, em->o->train_part, data)) return 1;
  } else if (train) {
    dn_em_body gr = {.g = train, .in_expr = input_exprs(em, train, 1), .want_loss = 1, .want_grads = 1};
    if (emit_body(em, &gr, dn_fmt("%s_body_grad", P), 0, em->arena_off, data)) return 1;
  }
  const char *st = em->embed ? dn_fmt("state ? (char *)state : (char *)%s_workspace.b", P) : "(char *)state";
  dn_buf *c = &em->fns;
  if (ipart) {
    dn_buf_printf(c, "void %s_forward_v(void *state, void *const *in, void *const *out) {\n", P);
    infer_part_call(em, ipart, c, st, 0);
    dn_buf_printf(c, "}\n\n");
    if (infer->loss_mean) {
      dn_buf_printf(c, "double %s_evaluate_v(void *state, void *const *in, void *const *out) {\n", P);
      infer_part_call(em, ipart, c, st, 1);
      dn_buf_printf(c, "}\n\n");
    }
  } else {
    dn_buf_printf(c, "void %s_forward_v(void *state, void *const *in, void *const *out) {\n  (void)%s_body_forward(%s, in, out);\n}\n\n", P, P, st);
    if (infer->loss_mean)
      dn_buf_printf(c, "double %s_evaluate_v(void *state, void *const *in, void *const *out) {\n  return %s_body_evaluate(%s, in, out);\n}\n\n", P, P, st);
  }
  if (!train) return 0;
  if (em->part_bytes) {
    dn_buf_printf(c, "double %s_grad_v(void *state, void *const *in) {\n  char *st = (char *)state;\n", P);
    part_step(em, train, c, 0);
    dn_buf_printf(c, "  return dn_loss;\n}\n\n");
  } else {
    dn_buf_printf(c, "double %s_grad_v(void *state, void *const *in) {\n  return %s_body_grad((char *)state, in);\n}\n\n", P, P);
  }
  dn_buf_printf(c, "double %s_train_step_v(void *state, void *const *in) {\n  char *st = (char *)state;\n", P);
  dn_buf_printf(c, "  int64_t dn_step = ++*(int64_t *)(st + %zu);\n", em->step_off);
  if (!em->part_bytes) dn_buf_printf(c, "  double dn_loss = %s_body_grad(st, in);\n", P);
  if (!em->part_bytes || !part_step(em, train, c, 1)) update(em, train, c);
  dn_buf_printf(c, "  (void)dn_step;\n  return dn_loss;\n}\n\n");
  return 0;
}

static void setup(dn_em *em, dn_graph *infer, dn_graph *train, const dn_emit_opts *o) {
  memset(em, 0, sizeof *em);
  em->o = o;
  em->P = o->prefix ? o->prefix : infer->model;
  em->real = o->use_double ? "double" : "float";
  em->esize = o->use_double ? 8 : 4;
  em->embed = o->weights != NULL;
  em->pvar = "st";
  /* DNNCC_THREAD_ALL=1 threads the kernels whatever their size (kernels.h): for tests of the
   * threaded code on small models (tests/scripts/test_threads.sh) */
  const char *all = getenv("DNNCC_THREAD_ALL");
  em->ctx = (dn_cg_ctx){.real = em->real, .prefix = em->P, .blas = o->blas && !o->use_double, .threads = o->threads,
                        .opt_level = o->opt_level, .scratch = dn_fmt("(st + %s_SCRATCH_OFF)", em->P),
                        .par_small = all && strcmp(all, "1") == 0};
  add_params(em, train);
  add_params(em, infer);
}

int dn_emit_c(dn_graph *infer, dn_graph *train, const dn_emit_opts *o, dn_buf *c, dn_buf *h) {
  dn_em em;
  setup(&em, infer, train, o);
  if (em.embed && train) {
    dn_error((dn_loc){0}, "--weights embeds constant weights; it cannot be combined with --train");
    return 1;
  }
  if (em.embed && embed_weights(&em)) return 1;
  layout(&em, train);
  dn_buf data = {0};
  if (entry_points(&em, infer, train, &data)) {
    dn_buf_free(&data);
    dn_buf_free(&em.fns);
    return 1;
  }
  dn_buf top = {0};
  dn_em_api(&em, infer, train, &top);  /* header text in top: declarations */
  if (o->header_name) {
    dn_buf_append(h, top.s, top.n);
    dn_buf_printf(c, "/* %s.c - generated by dnncc from %s. Do not edit. */\n#include \"%s\"\n", em.P, infer->file ? infer->file : "?", o->header_name);
  } else {
    dn_buf_append(c, top.s, top.n);
  }
  dn_buf_printf(c, "#include <math.h>\n#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n\n");
  dn_cg_helpers(c, &em.ctx);
  if (!em.ctx.need && em.fns.s && strstr(em.fns.s, "DN_IVDEP")) dn_cg_ivdep(c);  /* elementwise nests (emit_ew.c) */
  if (em.fns.s && strstr(em.fns.s, "_rand01(")) dn_em_ew_helpers(&em, c);
  if (em.fns.s && (strstr(em.fns.s, "_expf(") || strstr(em.fns.s, "_tanhf(")))
    dn_em_math_helpers(&em, c, strstr(em.fns.s, "_tanhf(") != NULL);
  if (em.embed) embedded_arrays(&em, c);
  if (data.n) dn_buf_append(c, data.s, data.n);
  if (em.embed) dn_buf_printf(c, "static union { double d; unsigned char b[%zu]; } %s_workspace;\n\n", dn_em_state_bytes(&em), em.P);
  dn_buf_printf(c, "/* Kernels' scratch (packed weights, partial sums): %zu bytes at the end of the state. */\n#define %s_SCRATCH_OFF %zu\n\n",
                em.ctx.scratch_bytes, em.P, dn_em_scratch_off(&em));
  if (em.part_bytes)
    dn_buf_printf(c, "/* The per-thread training body's scratch, in each thread's block. */\n#define %s_PART_SCRATCH_OFF %zu\n\n", em.P,
                  em.part_scratch_off);
  if (em.ipart_bytes)
    dn_buf_printf(c, "/* The per-thread inference bodies' scratch, in each thread's block. */\n#define %s_IPART_SCRATCH_OFF %zu\n\n", em.P,
                  em.ipart_scratch_off);
  if (o->dump_plan && em.ipart_bytes)
    fprintf(o->dump_plan, "inference split by samples: %d blocks of %zu bytes (the arena above, scratch at %zu) "
                          "from offset %zu, over the arena\n", o->threads, em.ipart_bytes, em.ipart_scratch_off, em.arena_off);
  if (o->dump_plan && em.part_bytes)
    fprintf(o->dump_plan, "training step split by samples: %d blocks of %zu bytes (gradients, the arena above, scratch at %zu) "
                          "from offset %zu, over the arena\n", o->threads, em.part_bytes, em.part_scratch_off, em.arena_off);
  if (o->dump_plan) fprintf(o->dump_plan, "kernel scratch %zu bytes at offset %zu; P_STATE_BYTES %zu\n", em.ctx.scratch_bytes,
                            dn_em_scratch_off(&em), dn_em_state_bytes(&em));
  dn_buf_append(c, em.fns.s, em.fns.n);
  dn_em_api_defs(&em, infer, train, c);
  if (o->emit_main) dn_em_main(&em, infer, c);
  dn_buf_free(&top);
  dn_buf_free(&data);
  dn_buf_free(&em.fns);
  return 0;
}
