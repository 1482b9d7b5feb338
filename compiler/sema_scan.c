/* sema_scan.c - scan blocks (SPEC 2.7) and the recurrent layers rnn, lstm, gru.
 *
 * Both build the SCAN node described at the top of ir.h: inputs = sequences [B, T, ...],
 * initial states [B, ...], then the outer tensors the body captures (SCAN_OUTER leaves are
 * made on demand by dn_sema_import); the body graph's results are the new state values in
 * state order; each state's stacked values over time [B, T, ...] are a SCAN_GET. Recurrent
 * layers compute the input projection of every step with one GEMM before the loop (PyTorch
 * layouts and gate orders: lstm i, f, g, o; gru r, z, n).
 */
#include "sema.h"

#include <string.h>

/* Enters a fresh scan body under the current graph; returns the saved context. */
static void body_enter(sema *s, scan_ctx *c, dn_graph **saved_g, scan_ctx **saved_scan) {
  memset(c, 0, sizeof *c);
  c->body = dn_graph_new_body(s->g);
  c->up = s->scan;
  *saved_g = s->g;
  *saved_scan = s->scan;
  s->g = c->body;
  s->scan = c;
}

/* A leaf of the body: SCAN_X or SCAN_STATE number `index`, full shape [B, sample...]. */
static dn_node *body_leaf(sema *s, dn_op op, int index, dn_shape sample, dn_dtype dt, int64_t classes, dn_loc loc) {
  int64_t d[DN_MAX_RANK];
  d[0] = s->g->batch;
  for (int i = 0; i < sample.rank; i++) d[i + 1] = sample.dim[i];
  dn_node *n = dn_node_add(s->g, op, 0, NULL, dn_shape_make(sample.rank + 1, d), loc);
  n->batched = 1;
  n->param = index;
  n->dtype = dt;
  n->classes = classes;
  return n;
}

/* Builds the SCAN node in the (restored) outer graph. */
static dn_node *scan_node(sema *s, scan_ctx *c, dn_node *seq, dn_node **inits, int n_state, int reverse, dn_loc loc) {
  int n = 1 + n_state + c->outer_src.n;
  dn_node **in = dn_alloc(sizeof(dn_node *) * (size_t)n);
  in[0] = seq;
  for (int k = 0; k < n_state; k++) in[1 + k] = inits[k];
  for (int i = 0; i < c->outer_src.n; i++) in[1 + n_state + i] = c->outer_src.v[i];
  dn_node *sc = dn_node_add(s->g, DN_OP_SCAN, n, in, dn_shape_make(0, NULL), loc);
  sc->batched = 1;
  sc->scan.body = c->body;
  sc->scan.n_seq = 1;
  sc->scan.n_state = n_state;
  sc->scan.n_outer = c->outer_src.n;
  sc->scan.steps = seq->shape.dim[1];
  sc->scan.reverse = reverse;
  c->body->params = s->root->params;
  return sc;
}

/* The stacked values [B, T, ...] of state k. */
static dn_node *scan_get(sema *s, dn_node *sc, int k, const char *name, dn_loc loc) {
  dn_node *res = sc->scan.body->results.v[k];
  int64_t d[DN_MAX_RANK];
  d[0] = s->g->batch;
  d[1] = sc->scan.steps;
  for (int i = 1; i < res->shape.rank; i++) d[i + 1] = res->shape.dim[i];
  dn_node *g = dn_node_add(s->g, DN_OP_SCAN_GET, 1, &sc, dn_shape_make(res->shape.rank + 1, d), loc);
  g->batched = 1;
  g->axis = k;
  g->name = name;
  return g;
}

/* --- scan blocks --------------------------------------------------------------------- */

/* The sequence of `scan x in SEQ`: SEQ, reverse(SEQ) or range(T); *reverse set. */
static dn_node *scan_sequence(sema *s, dn_ast *st, int *reverse) {
  dn_ast *e = st->a;
  *reverse = 0;
  sym *y = e->kind == DN_AST_CALL ? dn_sema_lookup(s, e->name) : NULL;
  if (e->kind == DN_AST_CALL && !y && strcmp(e->name, "reverse") == 0) {
    static const char *const names[] = {"seq", NULL};
    dn_ast *a[2];
    if (dn_sema_bind_args(e, names, 1, a)) return NULL;
    e = a[0];
    *reverse = 1;
  }
  dn_node *seq = dn_sema_any_tensor(s, e, "the sequence of a scan");
  if (!seq) return NULL;
  if (dn_sample_shape(seq).rank < 1) {
    dn_error(e->loc, "scan needs a sequence [T, ...] to iterate over, got %s", dn_sema_sstr(seq));
    return NULL;
  }
  return dn_sema_batched(s, seq, e->loc);
}

/* state NAME : [dims] = INIT: the initial value, evaluated outside the body, as [B, dims]. */
static dn_node *state_init(sema *s, dn_ast *st, dn_shape *shape) {
  if (dn_sema_dims(s, &st->a->args, shape, st->a->loc, dn_fmt("state '%s'", st->name))) return NULL;
  sv v = dn_sema_eval(s, st->b);
  if (v.kind == SV_NONE) return NULL;
  dn_node *t = dn_sema_float_of(s, v, st->b->loc, dn_fmt("the initial value of state '%s'", st->name));
  if (!t) return NULL;
  if (t->shape.rank != 0 && !dn_shape_eq(dn_sample_shape(t), *shape)) {
    dn_error(st->b->loc, "state '%s' is declared %s but its initial value has shape %s", st->name,
             dn_shape_str(*shape), dn_sema_sstr(t));
    return NULL;
  }
  if (t->shape.rank == 0) t = dn_ir_binary(s->g, DN_OP_ADD, dn_ir_const(s->g, 0, *shape, st->loc), t, st->loc);
  return dn_sema_batched(s, t, st->loc);
}

/* Declares a state in the body scope; its value is the previous step's SCAN_STATE leaf. */
static sym *state_decl(sema *s, dn_ast *st, int k, dn_shape shape) {
  sym *y = dn_sema_declare(s, st->name, SYM_STATE, st, st->name_loc);
  if (!y) return NULL;
  y->index = k;
  y->val = sv_tensor(body_leaf(s, DN_OP_SCAN_STATE, k, shape, DN_F32, 0, st->name_loc));
  return y;
}

/* Runs the body statements; states are declared in order. Returns the state symbols. */
static int scan_body(sema *s, dn_ast *st, scope *outer_scope, dn_graph *outer_g, scan_ctx *outer_scan, dn_vec *states,
                     dn_vec *inits) {
  for (int i = 0; i < st->body.n && !dn_error_limit_reached(); i++) {
    dn_ast *b = st->body.v[i];
    if (b->kind != DN_AST_STATE) {
      dn_sema_stmt(s, b);
      continue;
    }
    /* the initial value belongs to the enclosing graph and scope */
    dn_graph *g = s->g;
    scan_ctx *c = s->scan;
    scope *cur = s->cur;
    s->g = outer_g, s->scan = outer_scan, s->cur = outer_scope;
    dn_shape shape;
    dn_node *init = state_init(s, b, &shape);
    s->g = g, s->scan = c, s->cur = cur;
    if (!init) return 1;
    sym *y = state_decl(s, b, states->n, shape);
    if (!y) return 1;
    dn_vec_push(states, y);
    dn_vec_push(inits, init);
  }
  return 0;
}

/* scan NAME in SEQ { state ...; bindings } */
void dn_sema_scan(sema *s, dn_ast *st) {
  int reverse;
  int n0 = s->root->nodes.n, p0 = s->root->params.n;
  dn_node *seq = scan_sequence(s, st, &reverse);
  if (!seq) return;
  scope *outer_scope = s->cur;
  scan_ctx c;
  dn_graph *outer_g;
  scan_ctx *outer_scan;
  body_enter(s, &c, &outer_g, &outer_scan);
  scope *sc = dn_alloc(sizeof *sc);
  sc->parent = outer_scope;
  sc->limit = -1;
  sc->prefix = outer_scope->prefix;
  s->cur = sc;
  dn_shape xs = dn_sample_shape(seq);
  xs = dn_shape_make(xs.rank - 1, xs.dim + 1);
  sym *x = dn_sema_declare(s, st->name, SYM_VALUE, st, st->name_loc);
  if (x) x->val = sv_tensor(body_leaf(s, DN_OP_SCAN_X, 0, xs, seq->dtype, seq->classes, st->name_loc));
  dn_vec states = {0}, inits = {0};
  int bad = !x || scan_body(s, st, outer_scope, outer_g, outer_scan, &states, &inits);
  for (int k = 0; !bad && k < states.n; k++) {
    sym *y = states.v[k];
    if (!y->assigned) {
      dn_error(y->loc, "state '%s' is never assigned in the scan body; assign it once per step", y->name);
      bad = 1;
    }
    dn_vec_push(&c.body->results, y->val.t);
  }
  if (!bad && states.n == 0) {
    dn_error(st->loc, "this scan declares no state, so nothing of it is visible after the block");
    bad = 1;
  }
  s->g = outer_g, s->scan = outer_scan, s->cur = outer_scope;
  if (bad) return;
  dn_node *node = scan_node(s, &c, seq, (dn_node **)inits.v, states.n, reverse, st->loc);
  for (int k = 0; k < states.n; k++) {
    sym *y = states.v[k];
    dn_node *got = scan_get(s, node, k, y->name, y->loc);
    sym *z = dn_sema_declare(s, y->name, SYM_VALUE, y->decl, y->loc);
    if (!z) return;
    z->val = sv_tensor(got);
    dn_sema_summary(s, y->name, z->val, y->loc, k == 0 ? n0 : s->root->nodes.n, k == 0 ? p0 : s->root->params.n);
  }
}

/* --- recurrent layers --------------------------------------------------------------------- */

typedef struct rnn_spec {
  int kind;        /* 0 rnn, 1 lstm, 2 gru */
  int gates;       /* G: 1, 4, 3 */
  int relu;        /* rnn activation=relu */
  int64_t H;       /* hidden size */
} rnn_spec;

/* Columns [k*H, (k+1)*H) of a [B, G*H] step tensor. */
static dn_node *gate(sema *s, dn_node *z, int k, int64_t H, dn_loc l) {
  if (z->shape.dim[1] == H) return z;
  return dn_ir_slice(s->g, z, 1, k * H, (k + 1) * H, l);
}

static dn_node *ew(sema *s, dn_op op, dn_node *a, dn_node *b, dn_loc l) { return dn_ir_binary(s->g, op, a, b, l); }
static dn_node *un(sema *s, dn_op op, dn_node *a, dn_loc l) { return dn_ir_unary(s->g, op, a, l); }

/* One step: new states from the projected input xt [B, GH] and states st[] ([B, H]). */
static void rnn_step(sema *s, const rnn_spec *r, dn_node *xt, dn_node *gh, dn_node **st, dn_node **out, dn_loc l) {
  int64_t H = r->H;
  if (r->kind == 0) {
    out[0] = un(s, r->relu ? DN_OP_RELU : DN_OP_TANH, ew(s, DN_OP_ADD, xt, gh, l), l);
  } else if (r->kind == 1) {
    dn_node *z = ew(s, DN_OP_ADD, xt, gh, l);
    dn_node *i = un(s, DN_OP_SIGMOID, gate(s, z, 0, H, l), l), *f = un(s, DN_OP_SIGMOID, gate(s, z, 1, H, l), l);
    dn_node *g = un(s, DN_OP_TANH, gate(s, z, 2, H, l), l), *o = un(s, DN_OP_SIGMOID, gate(s, z, 3, H, l), l);
    out[1] = ew(s, DN_OP_ADD, ew(s, DN_OP_MUL, f, st[1], l), ew(s, DN_OP_MUL, i, g, l), l);
    out[0] = ew(s, DN_OP_MUL, o, un(s, DN_OP_TANH, out[1], l), l);
  } else {
    dn_node *rr = un(s, DN_OP_SIGMOID, ew(s, DN_OP_ADD, gate(s, xt, 0, H, l), gate(s, gh, 0, H, l), l), l);
    dn_node *zz = un(s, DN_OP_SIGMOID, ew(s, DN_OP_ADD, gate(s, xt, 1, H, l), gate(s, gh, 1, H, l), l), l);
    dn_node *n = un(s, DN_OP_TANH, ew(s, DN_OP_ADD, gate(s, xt, 2, H, l), ew(s, DN_OP_MUL, rr, gate(s, gh, 2, H, l), l), l), l);
    out[0] = ew(s, DN_OP_ADD, n, ew(s, DN_OP_MUL, zz, ew(s, DN_OP_SUB, st[0], n, l), l), l);
  }
}

/* Reads activation= (rnn only) and reverse=. */
static int rnn_options(dn_ast **a, int kind, rnn_spec *r, int *reverse) {
  dn_ast *act = kind == 0 ? a[2] : NULL, *rev = kind == 0 ? a[3] : a[2];
  *reverse = 0;
  if (act && (act->kind != DN_AST_NAME || (strcmp(act->name, "tanh") && strcmp(act->name, "relu")))) {
    dn_error(act->loc, "rnn activation must be tanh or relu");
    return 1;
  }
  r->relu = act && strcmp(act->name, "relu") == 0;
  if (rev && rev->kind != DN_AST_BOOL) {
    dn_error(rev->loc, "reverse expects true or false");
    return 1;
  }
  *reverse = rev && rev->num != 0;
  return 0;
}

/* The four parameters in PyTorch order; NULL entries after an error. */
static int rnn_params(sema *s, const char *unit, const rnn_spec *r, int64_t I, int *idx, dn_loc l) {
  static const char *const names[4] = {"weight_ih", "weight_hh", "bias_ih", "bias_hh"};
  int64_t GH = r->gates * r->H;
  dn_shape shapes[4] = {dn_shape_of(2, GH, I), dn_shape_of(2, GH, r->H), dn_shape_of(1, GH), dn_shape_of(1, GH)};
  for (int i = 0; i < 4; i++) {
    idx[i] = dn_sema_new_param(s, dn_fmt("%s.%s", unit, names[i]), shapes[i], DN_INIT_DEFAULT, r->H, l);
    if (idx[i] < 0) return 1;
  }
  return 0;
}

sv dn_sema_recurrent(sema *s, dn_ast *call, dn_ast **a, int kind) {
  dn_node *x = dn_sema_tensor(s, a[0], dn_fmt("the input of %s", call->name));
  rnn_spec r = {kind, kind == 0 ? 1 : kind == 1 ? 4 : 3, 0, 0};
  int reverse, idx[4];
  if (!x || dn_sema_int(s, a[1], "hidden", 1, 1 << 20, &r.H) || rnn_options(a, kind, &r, &reverse)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (ps.rank != 2) {
    dn_error(a[0]->loc, "%s expects a [T, I] input (time, features), got %s", call->name, dn_shape_str(ps));
    return sv_none();
  }
  int64_t T = ps.dim[0], I = ps.dim[1], GH = r.gates * r.H, B = s->g->batch;
  dn_loc l = call->loc;
  if (rnn_params(s, dn_sema_unit_name(s), &r, I, idx, l)) return sv_none();
  x = dn_sema_batched(s, x, l);
  dn_gemm gm = {.m = B * T, .n = GH, .k = I, .tb = 1, .nb = 1};
  dn_node *xp = dn_ir_gemm(s->g, x, dn_sema_param_node(s, idx[0], l), gm, dn_shape_of(3, B, T, GH), 1, l);
  dn_node *bih = dn_ir_reshape(s->g, dn_sema_param_node(s, idx[2], l), dn_shape_of(3, (int64_t)1, (int64_t)1, GH), l);
  xp = dn_ir_binary(s->g, DN_OP_ADD, xp, bih, l);
  int ns = kind == 1 ? 2 : 1;
  dn_node *inits[2], *st[2], *out[2];
  for (int k = 0; k < ns; k++) inits[k] = dn_sema_batched(s, dn_ir_const(s->g, 0, dn_shape_of(1, r.H), l), l);
  scan_ctx c;
  dn_graph *outer_g;
  scan_ctx *outer_scan;
  body_enter(s, &c, &outer_g, &outer_scan);
  dn_node *xt = body_leaf(s, DN_OP_SCAN_X, 0, dn_shape_of(1, GH), DN_F32, 0, l);
  for (int k = 0; k < ns; k++) st[k] = body_leaf(s, DN_OP_SCAN_STATE, k, dn_shape_of(1, r.H), DN_F32, 0, l);
  dn_gemm gh_m = {.m = B, .n = GH, .k = r.H, .tb = 1, .nb = 1};
  dn_node *gh = dn_ir_gemm(s->g, st[0], dn_sema_param_node(s, idx[1], l), gh_m, dn_shape_of(2, B, GH), 1, l);
  dn_node *bhh = dn_ir_reshape(s->g, dn_sema_param_node(s, idx[3], l), dn_shape_of(2, (int64_t)1, GH), l);
  gh = dn_ir_binary(s->g, DN_OP_ADD, gh, bhh, l);
  rnn_step(s, &r, xt, gh, st, out, l);
  for (int k = 0; k < ns; k++) dn_vec_push(&c.body->results, out[k]);
  s->g = outer_g, s->scan = outer_scan;
  dn_node *node = scan_node(s, &c, xp, inits, ns, reverse, l);
  return sv_tensor(scan_get(s, node, 0, NULL, l));
}
