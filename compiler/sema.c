/* sema.c - the checker: from the syntax tree to the graph IR (SPEC 2).
 *
 * Requires: a parsed and structurally validated program (dsl/).
 * Produces: a dn_graph for one batch and one mode (inference or training): inputs,
 * parameters named by SPEC 2.6, nodes with full shapes, outputs, loss and the summary rows
 * of `dnncc check`. Defs are inlined at each call site (each call owns its parameters);
 * constants are folded; every shape rule is checked here with a located diagnostic before
 * an IR builder runs. This file holds scopes, names, statements and the operators; the
 * built-in calls are in sema_ops.c, scan blocks and recurrent layers in sema_scan.c, the
 * train block in sema_train.c.
 */
#include "sema.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- values ------------------------------------------------------------------ */

sv sv_none(void) {
  sv v = {0};
  return v;
}

sv sv_num(double x, int is_int) {
  sv v = {0};
  v.kind = SV_NUM;
  v.num = x;
  v.is_int = is_int;
  return v;
}

sv sv_tensor(dn_node *t) {
  sv v = {0};
  if (!t) return v;
  v.kind = SV_TENSOR;
  v.t = t;
  return v;
}

dn_shape dn_sema_sample(const dn_node *t) { return dn_sample_shape(t); }

const char *dn_sema_sstr(const dn_node *t) {
  if (t->dtype == DN_I32) {
    dn_shape s = dn_sample_shape(t);
    return s.rank ? dn_fmt("class(%lld)%s", (long long)t->classes, dn_shape_str(s)) : dn_fmt("class(%lld)", (long long)t->classes);
  }
  return dn_shape_str(dn_sample_shape(t));
}

/* Every dim >= 1, at most 7 per-sample axes, at most 2^31 elements. Returns 0 or 1. */
int dn_sema_check_shape(dn_loc loc, dn_shape s, const char *what) {
  if (s.rank > DN_MAX_RANK - 1) {
    dn_error(loc, "%s has %d axes; at most %d per-sample axes are supported", what, s.rank, DN_MAX_RANK - 1);
    return 1;
  }
  int64_t count = 1;
  for (int i = 0; i < s.rank; i++) {
    if (s.dim[i] < 1) {
      dn_error(loc, "%s has a dimension of size %lld in %s; every dimension must be at least 1", what,
               (long long)s.dim[i], dn_shape_str(s));
      return 1;
    }
    if (s.dim[i] > DN_SEMA_MAX_ELEMS || count > DN_SEMA_MAX_ELEMS / s.dim[i]) {
      dn_error(loc, "%s %s is too large: more than 2^31 elements per sample", what, dn_shape_str(s));
      return 1;
    }
    count *= s.dim[i];
  }
  return 0;
}

/* --- graphs and scan bodies ---------------------------------------------------- */

static int in_graph(const dn_graph *g, const dn_node *n) {
  return n->id >= 0 && n->id < g->nodes.n && g->nodes.v[n->id] == n;
}

/* Makes every scan body of the current chain see the root's parameter list. */
static void sync_params(sema *s) {
  for (scan_ctx *c = s->scan; c; c = c->up) c->body->params = s->root->params;
}

dn_node *dn_sema_param_node(sema *s, int index, dn_loc loc) {
  sync_params(s);
  return dn_ir_param(s->g, index, loc);
}

/* A copy of a leaf that needs no capture (parameter, constant) in graph g. */
static dn_node *copy_leaf(sema *s, dn_graph *g, dn_node *t) {
  if (t->op == DN_OP_PARAM) {
    sync_params(s);
    return dn_ir_param(g, t->param, t->loc);
  }
  return t->data ? dn_ir_const_data(g, t->data, t->shape, t->loc) : dn_ir_const(g, t->alpha, t->shape, t->loc);
}

/* Node t (of an enclosing graph) as seen from the body of scan c. */
static dn_node *import_into(sema *s, scan_ctx *c, dn_node *t) {
  dn_graph *g = c ? c->body : s->root;
  if (in_graph(g, t)) return t;
  if (!c) dn_die("sema: node %%%d belongs to no enclosing graph", t->id);
  for (int i = 0; i + 1 < c->imported.n; i += 2)
    if (c->imported.v[i] == t) return c->imported.v[i + 1];
  dn_node *copy;
  if (t->op == DN_OP_PARAM || t->op == DN_OP_CONST) {
    copy = copy_leaf(s, g, t);
  } else {
    dn_node *src = import_into(s, c->up, t);
    copy = dn_node_add(g, DN_OP_SCAN_OUTER, 0, NULL, src->shape, src->loc);
    copy->batched = src->batched;
    copy->dtype = src->dtype;
    copy->classes = src->classes;
    copy->name = src->name;
    copy->param = c->outer_src.n;
    dn_vec_push(&c->outer_src, src);
    dn_vec_push(&c->outer_leaf, copy);
  }
  dn_vec_push(&c->imported, t);
  dn_vec_push(&c->imported, copy);
  return copy;
}

dn_node *dn_sema_import(sema *s, dn_node *t) { return import_into(s, s->scan, t); }

/* --- parameters and names ------------------------------------------------------ */

int dn_sema_new_param(sema *s, const char *name, dn_shape shape, dn_init_kind init, int64_t fan_in, dn_loc loc) {
  if (dn_sema_check_shape(loc, shape, dn_fmt("parameter '%s'", name))) return -1;
  for (int i = 0; i < s->root->params.n; i++) {
    dn_param *q = s->root->params.v[i];
    if (strcmp(q->name, name) == 0) {
      dn_error(loc, "parameter name '%s' is already used", name);
      dn_note(q->loc, "'%s' was created here", name);
      return -1;
    }
  }
  dn_param *p = dn_alloc(sizeof *p);
  p->name = name;
  p->shape = shape;
  p->init = init;
  p->fan_in = fan_in;
  p->fan_out = shape.rank ? shape.dim[0] : 1;
  p->trainable = 1;
  p->loc = loc;
  dn_vec_push(&s->root->params, p);
  sync_params(s);
  return s->root->params.n - 1;
}

const char *dn_sema_unit_name(sema *s) {
  const char *b = s->nm.bind ? s->nm.bind : "unnamed";
  if (s->nm.units <= 1) return b;
  return dn_fmt("%s.%d", b, s->nm.next++);
}

/* --- scopes ---------------------------------------------------------------------- */

static scope *scope_new(scope *parent, int limit, const char *prefix) {
  scope *sc = dn_alloc(sizeof *sc);
  sc->parent = parent;
  sc->limit = limit;
  sc->prefix = prefix;
  return sc;
}

/* Finds `name` in sc and the visible part of its parents. */
static sym *scope_find(scope *sc, const char *name) {
  int limit = -1;
  for (; sc; limit = sc->limit, sc = sc->parent) {
    int n = limit < 0 || limit > sc->syms.n ? sc->syms.n : limit;
    for (int i = n - 1; i >= 0; i--) {
      sym *y = sc->syms.v[i];
      if (strcmp(y->name, name) == 0) return y;
    }
  }
  return NULL;
}

sym *dn_sema_lookup(sema *s, const char *name) { return scope_find(s->cur, name); }

/* Whether the current scope is (inside) a def body. */
static int in_def(const sema *s) {
  for (const scope *sc = s->cur; sc; sc = sc->parent)
    if (sc->is_def) return 1;
  return 0;
}

/* The symbol a new declaration of `name` would clash with. A def body is a fresh scope
 * whose locals may shadow global names; elsewhere every visible name counts. */
static sym *conflict(sema *s, const char *name) {
  if (!s->cur->is_def) return dn_sema_lookup(s, name);
  for (int i = 0; i < s->cur->syms.n; i++)
    if (strcmp(((sym *)s->cur->syms.v[i])->name, name) == 0) return s->cur->syms.v[i];
  return NULL;
}

sym *dn_sema_declare(sema *s, const char *name, sym_kind kind, dn_ast *decl, dn_loc loc) {
  sym *old = conflict(s, name);
  if (old) {
    dn_error(loc, "redefinition of '%s'%s", name, s->cur == s->global ? " (top-level names are assigned once)" : "");
    dn_note(old->loc, "'%s' was first defined here", name);
    return NULL;
  }
  sym *y = dn_alloc(sizeof *y);
  y->name = name;
  y->kind = kind;
  y->decl = decl;
  y->loc = loc;
  dn_vec_push(&s->cur->syms, y);
  return y;
}

/* The visible name nearest to `name` (values, or defs and built-ins when want_def). */
static const char *nearest_name(sema *s, const char *name, int want_def, int *best) {
  const char *pick = NULL;
  int limit = -1;
  for (scope *sc = s->cur; sc; limit = sc->limit, sc = sc->parent) {
    int n = limit < 0 || limit > sc->syms.n ? sc->syms.n : limit;
    for (int i = 0; i < n; i++) {
      sym *y = sc->syms.v[i];
      if ((y->kind == SYM_DEF) != (want_def != 0)) continue;
      int d = dn_edit_distance(name, y->name);
      if (d < *best) *best = d, pick = y->name;
    }
  }
  if (want_def) {
    int d = *best;
    const char *b = dn_sema_builtin_nearest(name, &d);
    if (b && d < *best) *best = d, pick = b;
  }
  return pick;
}

/* A top-level statement after the current point that declares `name`, or NULL. */
static dn_ast *later_decl(sema *s, const char *name) {
  for (int i = 0; s->prog && i < s->prog->body.n; i++) {
    dn_ast *st = s->prog->body.v[i];
    int declares = st->kind == DN_AST_DEF || st->kind == DN_AST_BIND || st->kind == DN_AST_INPUT ||
                   st->kind == DN_AST_PARAM || (st->kind == DN_AST_OUTPUT && st->a);
    if (declares && st->name && strcmp(st->name, name) == 0 && !scope_find(s->global, name)) return st;
  }
  return NULL;
}

void dn_sema_suggest(sema *s, const char *name, dn_loc loc, int want_def) {
  int best = 1 << 30;
  const char *pick = nearest_name(s, name, want_def, &best);
  int len = (int)strlen(name);
  int ok = pick && best < len && best <= (len < 4 ? 1 : len < 8 ? 2 : 3);
  const char *what = want_def ? "function" : "name";
  /* A def body sees only earlier defs: a later (or its own) def is recursion. */
  sym *later = want_def ? scope_find(s->global, name) : NULL;
  dn_ast *after = later_decl(s, name);
  if (later && later->kind == SYM_DEF && in_def(s)) {
    dn_error(loc, "unknown function '%s' here: a def can only call defs defined before it (no recursion)", name);
    dn_note(later->loc, "'%s' is defined here", name);
  } else if (after && s->cur == s->global) {
    dn_error(loc, "'%s' is used before its definition (definitions must come before their uses)", name);
    dn_note(after->name_loc, "'%s' is defined here", name);
  } else if (ok) {
    dn_error(loc, "unknown %s '%s'; did you mean '%s'?", what, name, pick);
  } else {
    dn_error(loc, "unknown %s '%s'", what, name);
  }
}

/* --- argument helpers -------------------------------------------------------------- */

int dn_sema_int(sema *s, dn_ast *e, const char *what, int64_t lo, int64_t hi, int64_t *out) {
  sv v = dn_sema_eval(s, e);
  if (v.kind == SV_NONE) return 1;
  if (v.kind != SV_NUM || !v.is_int) {
    dn_error(e->loc, "%s must be a compile-time integer, got %s", what,
             v.kind == SV_NUM ? dn_fmt("%g", v.num) : dn_fmt("a tensor %s", dn_sema_sstr(v.t)));
    return 1;
  }
  if (v.num < (double)lo || v.num > (double)hi) {
    dn_error(e->loc, "%s must be in [%lld, %lld], got %lld", what, (long long)lo, (long long)hi, (long long)v.num);
    return 1;
  }
  *out = (int64_t)v.num;
  return 0;
}

int dn_sema_number(sema *s, dn_ast *e, const char *what, double *out) {
  sv v = dn_sema_eval(s, e);
  if (v.kind == SV_NONE) return 1;
  if (v.kind != SV_NUM) {
    dn_error(e->loc, "%s must be a compile-time number, got a tensor %s", what, dn_sema_sstr(v.t));
    return 1;
  }
  *out = v.num;
  return 0;
}

/* A value as a float tensor (numbers become scalars); NULL after an error. */
dn_node *dn_sema_float_of(sema *s, sv v, dn_loc loc, const char *what) {
  if (v.kind == SV_NONE) return NULL;
  if (v.kind == SV_NUM) return dn_ir_scalar(s->g, v.num, loc);
  if (v.t->dtype == DN_I32) {
    dn_error(loc, "%s is a class tensor %s (int32 labels), not floats; use onehot(y, %lld) to get floats", what,
             dn_sema_sstr(v.t), (long long)v.t->classes);
    return NULL;
  }
  return v.t;
}

dn_node *dn_sema_any_tensor(sema *s, dn_ast *e, const char *what) {
  sv v = dn_sema_eval(s, e);
  if (v.kind == SV_NONE) return NULL;
  if (v.kind == SV_NUM) {
    dn_error(e->loc, "%s must be a tensor, got the number %g", what, v.num);
    return NULL;
  }
  return v.t;
}

dn_node *dn_sema_tensor(sema *s, dn_ast *e, const char *what) {
  dn_node *t = dn_sema_any_tensor(s, e, what);
  return t ? dn_sema_float_of(s, sv_tensor(t), e->loc, what) : NULL;
}

/* --- shape helpers --------------------------------------------------------------- */

dn_node *dn_sema_batched(sema *s, dn_node *t, dn_loc loc) {
  if (t->batched) return t;
  int64_t d[DN_MAX_RANK];
  d[0] = 1;
  for (int i = 0; i < t->shape.rank; i++) d[i + 1] = t->shape.dim[i];
  dn_node *r = dn_ir_reshape(s->g, t, dn_shape_make(t->shape.rank + 1, d), loc);
  d[0] = s->g->batch;
  dn_node *e = dn_ir_expand(s->g, r, dn_shape_make(t->shape.rank + 1, d), loc);
  e->batched = 1; /* axis 0 is now the batch: every sample sees the same value */
  e->dtype = t->dtype;
  e->classes = t->classes;
  return e;
}

dn_node *dn_sema_align(sema *s, dn_node *t, int rank, int batched, dn_loc loc) {
  dn_shape ps = dn_sample_shape(t);
  if (t->shape.rank == 0) return t;
  int64_t d[DN_MAX_RANK];
  int n = 0;
  if (t->batched) d[n++] = t->shape.dim[0];
  else if (batched) d[n++] = 1;
  for (int i = ps.rank; i < rank; i++) d[n++] = 1;
  for (int i = 0; i < ps.rank; i++) d[n++] = ps.dim[i];
  return dn_ir_reshape(s->g, t, dn_shape_make(n, d), loc);
}

dn_node *dn_sema_broadcast(sema *s, dn_op op, dn_node *a, dn_node *b, dn_loc loc, const char *opname) {
  if (a->shape.rank == 0 || b->shape.rank == 0) return dn_ir_binary(s->g, op, a, b, loc);
  dn_shape pa = dn_sample_shape(a), pb = dn_sample_shape(b);
  int r = pa.rank > pb.rank ? pa.rank : pb.rank;
  for (int i = 1; i <= r; i++) {
    int64_t x = i <= pa.rank ? pa.dim[pa.rank - i] : 1, y = i <= pb.rank ? pb.dim[pb.rank - i] : 1;
    if (x != y && x != 1 && y != 1) {
      dn_error(loc, "%s cannot broadcast %s with %s: sizes must be equal or 1 in each axis, aligned from the last (NumPy broadcasting)",
               opname, dn_shape_str(pa), dn_shape_str(pb));
      return NULL;
    }
  }
  int batched = a->batched || b->batched;
  a = dn_sema_align(s, a, r, batched, loc);
  b = dn_sema_align(s, b, r, batched, loc);
  return dn_ir_binary(s->g, op, a, b, loc);
}

dn_node *dn_sema_scale(sema *s, dn_node *t, double k, dn_loc loc) {
  if (k == 1) return t;
  return dn_ir_binary(s->g, DN_OP_MUL, t, dn_ir_scalar(s->g, k, loc), loc);
}

dn_node *dn_sema_reshape_sample(sema *s, dn_node *t, dn_shape sample, dn_loc loc) {
  if (!t->batched) return dn_ir_reshape(s->g, t, sample, loc);
  int64_t d[DN_MAX_RANK];
  d[0] = t->shape.dim[0];
  for (int i = 0; i < sample.rank; i++) d[i + 1] = sample.dim[i];
  return dn_ir_reshape(s->g, t, dn_shape_make(sample.rank + 1, d), loc);
}

dn_node *dn_sema_reduce(sema *s, dn_op op, dn_node *t, uint32_t sample_axes, dn_loc loc) {
  dn_shape ps = dn_sample_shape(t), keep = {0};
  for (int i = 0; i < ps.rank; i++)
    if (!(sample_axes & (1u << i))) keep.dim[keep.rank++] = ps.dim[i];
  if (!sample_axes) return t;
  dn_node *r = dn_ir_reduce(s->g, op, t, t->batched ? sample_axes << 1 : sample_axes, loc);
  r->batched = t->batched;
  return dn_sema_reshape_sample(s, r, keep, loc);
}

dn_node *dn_sema_sample_mean(sema *s, dn_node *t, dn_loc loc) {
  dn_shape ps = dn_sample_shape(t);
  if (ps.rank == 0) return t;
  dn_node *r = dn_sema_reduce(s, DN_OP_REDUCE_SUM, t, (1u << ps.rank) - 1, loc);
  return dn_sema_scale(s, r, 1.0 / (double)dn_shape_count(ps), loc);
}

/* --- constants ------------------------------------------------------------------- */

/* Folds `a op b` on numbers with integer overflow and division checks. */
static sv fold(dn_loc loc, int op, sv a, sv b) {
  int ints = a.is_int && b.is_int;
  double r;
  switch (op) {
  case '+': r = a.num + b.num; break;
  case '-': r = a.num - b.num; break;
  case '*': r = a.num * b.num; break;
  case '/':
    if (b.num == 0) {
      dn_error(loc, "division by zero in a constant expression");
      return sv_none();
    }
    r = a.num / b.num;
    ints = ints && fmod(a.num, b.num) == 0;
    break;
  case '^':
    r = pow(a.num, b.num);
    ints = ints && b.num >= 0;
    break;
  default:
    dn_error(loc, "'%c' needs tensor operands, got two numbers", op);
    return sv_none();
  }
  if (!isfinite(r) || (ints && fabs(r) > DN_SEMA_MAX_INT)) {
    dn_error(loc, "constant expression overflows (%g %c %g)", a.num, op, b.num);
    return sv_none();
  }
  return sv_num(r, ints);
}

/* --- operators ------------------------------------------------------------------ */

static const char *op_name(int op) {
  switch (op) {
  case '+': return "'+'";
  case '-': return "'-'";
  case '*': return "'*'";
  case '/': return "'/'";
  case '^': return "'^'";
  default: return "'@'";
  }
}

/* a @ b for per-sample [m,k]/[k] @ [k,n]/[k], batching folded into the product. */
static dn_node *matmul(sema *s, dn_node *a, dn_node *b, dn_loc loc) {
  dn_shape pa = dn_sample_shape(a), pb = dn_sample_shape(b);
  if (pa.rank < 1 || pa.rank > 2 || pb.rank < 1 || pb.rank > 2) {
    dn_error(loc, "'@' expects [m, k] or [k] operands, got %s @ %s", dn_shape_str(pa), dn_shape_str(pb));
    return NULL;
  }
  int64_t m = pa.rank == 2 ? pa.dim[0] : 1, k = pa.dim[pa.rank - 1], kb = pb.dim[0], n = pb.rank == 2 ? pb.dim[1] : 1;
  if (k != kb) {
    dn_error(loc, "'@' inner dimensions differ: %s @ %s (the rule is [m, k] @ [k, n])", dn_shape_str(pa), dn_shape_str(pb));
    return NULL;
  }
  dn_shape out = {0};
  int64_t B = s->g->batch;
  int batched = a->batched || b->batched;
  if (batched) out.dim[out.rank++] = B;
  if (pa.rank == 2) out.dim[out.rank++] = m;
  if (pb.rank == 2) out.dim[out.rank++] = n;
  if (dn_sema_check_shape(loc, dn_shape_make(out.rank - batched, out.dim + batched), "the product")) return NULL;
  dn_gemm gm = {.m = m, .n = n, .k = k, .nb = 1};
  if (a->batched && !b->batched) {
    gm.m = B * m;
    return dn_ir_gemm(s->g, a, b, gm, out, 1, loc);
  }
  if (!a->batched && b->batched && pb.rank == 1) {
    dn_gemm t = {.m = B, .n = m, .k = k, .tb = 1, .nb = 1};
    return dn_ir_gemm(s->g, b, a, t, out, 1, loc);
  }
  if (batched) {
    gm.nb = B;
    gm.sa = a->batched ? m * k : 0;
    gm.sb = k * n;
    gm.sc = m * n;
  }
  return dn_ir_gemm(s->g, a, b, gm, out, batched, loc);
}

static sv eval_binop(sema *s, dn_ast *e) {
  sv a = dn_sema_eval(s, e->a), b = dn_sema_eval(s, e->b);
  if (a.kind == SV_NONE || b.kind == SV_NONE) return sv_none();
  if (a.kind == SV_NUM && b.kind == SV_NUM) return fold(e->loc, e->op, a, b);
  const char *opn = op_name(e->op);
  dn_node *x = dn_sema_float_of(s, a, e->a->loc, dn_fmt("the left operand of %s", opn));
  dn_node *y = dn_sema_float_of(s, b, e->b->loc, dn_fmt("the right operand of %s", opn));
  if (!x || !y) return sv_none();
  switch (e->op) {
  case '+': return sv_tensor(dn_sema_broadcast(s, DN_OP_ADD, x, y, e->loc, opn));
  case '-': return sv_tensor(dn_sema_broadcast(s, DN_OP_SUB, x, y, e->loc, opn));
  case '*': return sv_tensor(dn_sema_broadcast(s, DN_OP_MUL, x, y, e->loc, opn));
  case '/': return sv_tensor(dn_sema_broadcast(s, DN_OP_DIV, x, y, e->loc, opn));
  case '^':
    if (b.kind == SV_NUM) {
      dn_node *p = dn_ir_unary(s->g, DN_OP_POWC, x, e->loc);
      p->alpha = b.num;
      return sv_tensor(p);
    }
    return sv_tensor(dn_sema_broadcast(s, DN_OP_POW, x, y, e->loc, opn));
  case '@':
    if (a.kind == SV_NUM || b.kind == SV_NUM) {
      dn_error(e->loc, "'@' needs two tensors; use '*' to scale by a number");
      return sv_none();
    }
    return sv_tensor(matmul(s, x, y, e->loc));
  default: dn_die("unknown operator '%c'", e->op);
  }
}

static sv eval_neg(sema *s, dn_ast *e) {
  sv a = dn_sema_eval(s, e->a);
  if (a.kind == SV_NUM) return sv_num(-a.num, a.is_int);
  dn_node *x = dn_sema_float_of(s, a, e->a->loc, "the operand of unary '-'");
  return x ? sv_tensor(dn_ir_unary(s->g, DN_OP_NEG, x, e->loc)) : sv_none();
}

/* --- names ---------------------------------------------------------------------- */

static sv eval_name(sema *s, dn_ast *e) {
  sym *y = dn_sema_lookup(s, e->name);
  if (!y) {
    dn_sema_suggest(s, e->name, e->loc, 0);
    return sv_none();
  }
  switch (y->kind) {
  case SYM_DEF:
    dn_error(e->loc, "'%s' is a def; call it as %s(...)", e->name, e->name);
    return sv_none();
  case SYM_INPUT: {
    dn_input *in = s->root->inputs.v[y->index];
    if (!in->node) in->node = dn_ir_input(s->root, y->index, in->loc);
    return sv_tensor(dn_sema_import(s, in->node));
  }
  default:
    if (y->val.kind == SV_TENSOR) return sv_tensor(dn_sema_import(s, y->val.t));
    return y->val;
  }
}

/* --- indexing --------------------------------------------------------------------- */

/* Normalizes a Python index/bound `v` for an axis of size `dim`. */
static int64_t py_bound(int64_t v, int64_t dim) {
  if (v < 0) v += dim;
  return v < 0 ? 0 : v > dim ? dim : v;
}

/* x[i], x[a:b], x[:, a:b], ...: items apply to the leading per-sample axes in order. */
static sv eval_index(sema *s, dn_ast *e) {
  dn_node *x = dn_sema_any_tensor(s, e->a, "the indexed value");
  if (!x) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (e->args.n > ps.rank) {
    dn_error(e->loc, "too many indices: %d for a tensor %s", e->args.n, dn_shape_str(ps));
    return sv_none();
  }
  int off = x->batched, drop = 0;
  dn_shape keep = {0};
  for (int i = 0; i < e->args.n; i++) {
    dn_ast *it = e->args.v[i];
    int64_t dim = ps.dim[i], lo = 0, hi = dim;
    if (it->kind == DN_AST_SLICE) {
      if (it->a && dn_sema_int(s, it->a, "a slice bound", -DN_SEMA_MAX_ELEMS, DN_SEMA_MAX_ELEMS, &lo)) return sv_none();
      if (it->b && dn_sema_int(s, it->b, "a slice bound", -DN_SEMA_MAX_ELEMS, DN_SEMA_MAX_ELEMS, &hi)) return sv_none();
      lo = py_bound(lo, dim);
      hi = py_bound(hi, dim);
      if (lo >= hi) {
        dn_error(it->loc, "empty slice [%lld:%lld] of axis %d (size %lld)", (long long)lo, (long long)hi, i, (long long)dim);
        return sv_none();
      }
      keep.dim[keep.rank++] = hi - lo;
    } else {
      int64_t k;
      if (dn_sema_int(s, it, "an index", -DN_SEMA_MAX_ELEMS, DN_SEMA_MAX_ELEMS, &k)) return sv_none();
      if (k < -dim || k >= dim) {
        dn_error(it->loc, "index %lld is out of range for axis %d of size %lld (shape %s)", (long long)k, i,
                 (long long)dim, dn_shape_str(ps));
        return sv_none();
      }
      lo = k < 0 ? k + dim : k;
      hi = lo + 1;
      drop = 1;
    }
    if (lo != 0 || hi != dim) x = dn_ir_slice(s->g, x, i + off, lo, hi, e->loc);
  }
  for (int i = e->args.n; i < ps.rank; i++) keep.dim[keep.rank++] = ps.dim[i];
  if (drop) x = dn_sema_reshape_sample(s, x, keep, e->loc);
  return sv_tensor(x);
}

/* --- defs -------------------------------------------------------------------------- */

static int expr_has_unit(sema *s, dn_ast *e, int limit);

/* The def named `name` among the first `limit` global symbols, or NULL. */
static sym *global_def(sema *s, const char *name, int limit) {
  int n = limit < 0 || limit > s->global->syms.n ? s->global->syms.n : limit;
  for (int i = n - 1; i >= 0; i--) {
    sym *y = s->global->syms.v[i];
    if (strcmp(y->name, name) == 0) return y->kind == SYM_DEF ? y : NULL;
  }
  return NULL;
}

/* Whether a statement list creates parameters (directly or through calls). */
static int body_has_unit(sema *s, const dn_vec *body, int limit) {
  for (int i = 0; i < body->n; i++) {
    dn_ast *st = body->v[i];
    if (st->kind == DN_AST_PARAM) return 1;
    if (st->kind == DN_AST_SCAN && (expr_has_unit(s, st->a, limit) || body_has_unit(s, &st->body, limit))) return 1;
    if ((st->kind == DN_AST_BIND || st->kind == DN_AST_RETURN || st->kind == DN_AST_STATE) &&
        (expr_has_unit(s, st->a, limit) || (st->kind == DN_AST_STATE && expr_has_unit(s, st->b, limit))))
      return 1;
  }
  return 0;
}

static int def_has_params(sema *s, sym *d) {
  dn_ast *def = d->decl;
  return def->a ? expr_has_unit(s, def->a, d->visible) : body_has_unit(s, &def->body, d->visible);
}

/* Whether a call creates parameters: a layer, or a def whose body does. */
static int call_is_unit(sema *s, dn_ast *call, int limit) {
  sym *y = limit == -2 ? dn_sema_lookup(s, call->name) : global_def(s, call->name, limit);
  if (y && y->kind == SYM_DEF) return def_has_params(s, y);
  if (y) return 0;
  return dn_sema_is_layer(call->name);
}

/* Counts the unit calls an expression makes directly (limit -2: current scope). */
static int count_units(sema *s, dn_ast *e, int limit) {
  if (!e) return 0;
  int n = 0;
  if (e->kind == DN_AST_CALL && call_is_unit(s, e, limit)) n++;
  n += count_units(s, e->a, limit) + count_units(s, e->b, limit);
  for (int i = 0; i < e->args.n; i++) n += count_units(s, e->args.v[i], limit);
  return n;
}

static int expr_has_unit(sema *s, dn_ast *e, int limit) { return count_units(s, e, limit) > 0; }

/* Binds a def's arguments (positional, or keyword by parameter name). */
static int def_args(sema *s, dn_ast *call, dn_ast *def, sv *vals) {
  int np = def->params.n, npos = 0;
  dn_ast **given = dn_alloc(sizeof(dn_ast *) * (size_t)(np + 1));
  for (int i = 0; i < call->args.n; i++) {
    dn_ast *a = call->args.v[i];
    int slot = -1;
    if (a->kind != DN_AST_KWARG) {
      slot = npos++;
      if (slot >= np) {
        dn_error(a->loc, "def '%s' takes %d argument%s, got %d", def->name, np, np == 1 ? "" : "s", call->args.n);
        return 1;
      }
    } else {
      for (int j = 0; j < np; j++)
        if (strcmp(((dn_ast *)def->params.v[j])->name, a->name) == 0) slot = j;
      if (slot < 0 || given[slot]) {
        dn_error(a->loc, slot < 0 ? "def '%s' has no parameter '%s'" : "argument '%s' of def '%s' given twice",
                 slot < 0 ? def->name : a->name, slot < 0 ? a->name : def->name);
        return 1;
      }
    }
    given[slot] = a->kind == DN_AST_KWARG ? a->a : a;
  }
  for (int j = 0; j < np; j++)
    if (!given[j]) {
      dn_error(call->loc, "def '%s' takes %d argument%s, missing '%s'", def->name, np, np == 1 ? "" : "s",
               ((dn_ast *)def->params.v[j])->name);
      return 1;
    }
  int bad = 0;
  for (int j = 0; j < np; j++) {
    vals[j] = dn_sema_eval(s, given[j]);
    bad |= vals[j].kind == SV_NONE;
  }
  return bad;
}

/* Inlines a def at a call site: its body in a fresh scope named after the unit. */
static sv inline_def(sema *s, dn_ast *call, sym *d) {
  dn_ast *def = d->decl;
  sv *vals = dn_alloc(sizeof(sv) * (size_t)(def->params.n + 1));
  if (def_args(s, call, def, vals)) return sv_none();
  if (s->depth > 200) {
    dn_error(call->loc, "defs nested too deeply (more than 200 levels)");
    return sv_none();
  }
  const char *unit = def_has_params(s, d) ? dn_sema_unit_name(s) : dn_fmt("%s", def->name);
  scope *sc = scope_new(s->global, d->visible, dn_fmt("%s.", unit));
  sc->is_def = 1;
  scope *saved = s->cur;
  namer nm = s->nm;
  s->cur = sc;
  s->depth++;
  for (int j = 0; j < def->params.n; j++) {
    dn_ast *p = def->params.v[j];
    sym *y = dn_alloc(sizeof *y);
    y->name = p->name;
    y->kind = SYM_VALUE;
    y->val = vals[j];
    y->loc = p->loc;
    dn_vec_push(&sc->syms, y);
  }
  sv out = sv_none();
  if (def->a) {
    dn_sema_binding(s, def, "out", def->a, &out);
  } else {
    for (int i = 0; i < def->body.n && !dn_error_limit_reached(); i++) {
      dn_ast *st = def->body.v[i];
      if (st->kind == DN_AST_RETURN) dn_sema_binding(s, st, "out", st->a, &out);
      else dn_sema_stmt(s, st);
    }
  }
  s->depth--;
  s->cur = saved;
  s->nm = nm;
  return out;
}

static sv eval_call(sema *s, dn_ast *e) {
  sym *y = dn_sema_lookup(s, e->name);
  if (y && y->kind == SYM_DEF) return inline_def(s, e, y);
  if (dn_sema_is_builtin(e->name)) return dn_sema_builtin(s, e);
  if (y) {
    dn_error(e->loc, "'%s' is not a function", e->name);
    dn_note(y->loc, "'%s' is defined here", e->name);
    return sv_none();
  }
  dn_sema_suggest(s, e->name, e->loc, 1);
  return sv_none();
}

/* --- expressions --------------------------------------------------------------------- */

static sv eval_raw(sema *s, dn_ast *e) {
  switch (e->kind) {
  case DN_AST_NUM: return sv_num(e->num, e->is_int);
  case DN_AST_NAME: return eval_name(s, e);
  case DN_AST_BINOP: return eval_binop(s, e);
  case DN_AST_NEG: return eval_neg(s, e);
  case DN_AST_CALL: return eval_call(s, e);
  case DN_AST_INDEX: return eval_index(s, e);
  case DN_AST_SAME:
  case DN_AST_VALID: dn_error(e->loc, "'%s' is only allowed as a pad= value", e->kind == DN_AST_SAME ? "same" : "valid"); break;
  case DN_AST_BOOL: dn_error(e->loc, "'%s' is only allowed as a keyword argument's value", e->num != 0 ? "true" : "false"); break;
  case DN_AST_LIST: dn_error(e->loc, "a list [...] is only allowed as an argument (a shape, a kernel size, ...)"); break;
  case DN_AST_SLICE: dn_error(e->loc, "a slice a:b is only allowed inside x[...]"); break;
  default: dn_error(e->loc, "a %s is not an expression", dn_ast_kind_name(e->kind)); break;
  }
  return sv_none();
}

sv dn_sema_eval(sema *s, dn_ast *e) {
  if (!e || dn_error_limit_reached()) return sv_none();
  sv v = eval_raw(s, e);
  if (v.kind == SV_TENSOR && e->kind != DN_AST_NAME && dn_sema_check_shape(e->loc, dn_sample_shape(v.t), "the result"))
    return sv_none();
  return v;
}

/* --- statements ------------------------------------------------------------------------ */

/* Per-sample FLOPs of root nodes [n0, n1). */
static int64_t flops_between(sema *s, int n0, int n1) {
  int64_t f = 0;
  for (int i = n0; i < n1; i++) {
    dn_node *n = s->root->nodes.v[i];
    int64_t x = dn_node_flops(n);
    f += n->batched && s->root->batch > 0 ? x / s->root->batch : x;
  }
  return f;
}

/* Adds a summary row for a top-level value. */
void dn_sema_summary(sema *s, const char *name, sv v, dn_loc loc, int n0, int p0) {
  if (s->cur != s->global || v.kind != SV_TENSOR) return;
  dn_binding *b = dn_alloc(sizeof *b);
  b->name = name;
  b->sample = dn_sample_shape(v.t);
  b->is_class = v.t->dtype == DN_I32;
  for (int i = p0; i < s->root->params.n; i++) b->n_params += dn_shape_count(((dn_param *)s->root->params.v[i])->shape);
  b->flops = flops_between(s, n0, s->root->nodes.n);
  b->loc = loc;
  dn_vec_push(&s->root->bindings, b);
}

void dn_sema_binding(sema *s, dn_ast *st, const char *name, dn_ast *expr, sv *out) {
  namer saved = s->nm;
  s->nm.bind = dn_fmt("%s%s", s->cur->prefix, name);
  s->nm.units = count_units(s, expr, -2);
  s->nm.next = 0;
  int n0 = s->root->nodes.n, p0 = s->root->params.n;
  *out = dn_sema_eval(s, expr);
  s->nm = saved;
  dn_sema_summary(s, name, *out, st->name_loc, n0, p0);
}

/* Evaluates a shape [d1, ...] of compile-time integers. Returns 0 or 1. */
int dn_sema_dims(sema *s, const dn_vec *dims, dn_shape *out, dn_loc loc, const char *what) {
  memset(out, 0, sizeof *out);
  if (dims->n > DN_MAX_RANK - 1) {
    dn_error(loc, "%s has %d axes; at most %d per-sample axes are supported", what, dims->n, DN_MAX_RANK - 1);
    return 1;
  }
  for (int i = 0; i < dims->n; i++) {
    int64_t d;
    if (dn_sema_int(s, dims->v[i], "a dimension", INT64_MIN / 2, INT64_MAX / 2, &d)) return 1;
    if (d < 1) {
      dn_error(((dn_ast *)dims->v[i])->loc, "%s: every dimension must be at least 1, got %lld", what, (long long)d);
      return 1;
    }
    out->dim[out->rank++] = d;
  }
  return dn_sema_check_shape(loc, *out, what);
}

/* input NAME : [dims] | class(K)[dims] */
static void stmt_input(sema *s, dn_ast *st) {
  dn_input *in = dn_alloc(sizeof *in);
  dn_ast *ty = st->a;
  in->name = st->name;
  in->loc = st->name_loc;
  int bad = 0;
  if (ty->kind == DN_AST_CLASS_TYPE) {
    in->is_class = 1;
    bad = dn_sema_int(s, ty->a, "the number of classes", 1, 1 << 30, &in->classes);
  }
  bad = bad || dn_sema_dims(s, &ty->args, &in->sample, ty->loc, dn_fmt("input '%s'", st->name));
  sym *y = dn_sema_declare(s, st->name, bad ? SYM_VALUE : SYM_INPUT, st, st->name_loc);
  if (bad) return; /* declared as a poison value: later uses stay quiet */
  if (!y) return;
  y->index = s->root->inputs.n;
  dn_vec_push(&s->root->inputs, in);
}

/* init= of an explicit param: zeros ones normal(std) uniform(lo, hi) xavier he orthogonal. */
static int param_init(sema *s, dn_ast *e, dn_param *p) {
  static const char *const names[] = {"zeros", "ones", "normal", "uniform", "xavier", "he", "orthogonal", NULL};
  static const dn_init_kind kinds[] = {DN_INIT_ZEROS, DN_INIT_ONES, DN_INIT_NORMAL, DN_INIT_UNIFORM,
                                       DN_INIT_XAVIER, DN_INIT_HE, DN_INIT_ORTHOGONAL};
  if (e->kind != DN_AST_NAME && e->kind != DN_AST_CALL) {
    dn_error(e->loc, "init= expects zeros, ones, normal(std), uniform(lo, hi), xavier, he or orthogonal");
    return 1;
  }
  int k = -1, best = 1 << 30;
  const char *near = NULL;
  for (int i = 0; names[i]; i++) {
    if (strcmp(names[i], e->name) == 0) k = i;
    int d = dn_edit_distance(names[i], e->name);
    if (d < best) best = d, near = names[i];
  }
  if (k < 0) {
    if (best <= 2) dn_error(e->loc, "unknown initializer '%s'; did you mean '%s'?", e->name, near);
    else dn_error(e->loc, "unknown initializer '%s' (zeros, ones, normal, uniform, xavier, he, orthogonal)", e->name);
    return 1;
  }
  p->init = kinds[k];
  int want = k == 2 ? 1 : k == 3 ? 2 : 0, got = e->kind == DN_AST_CALL ? e->args.n : 0;
  if (got > want || (k == 3 && got != 2)) {
    dn_error(e->loc, "init '%s' takes %d argument%s, got %d", names[k], want, want == 1 ? "" : "s", got);
    return 1;
  }
  p->init_a = k == 2 ? 1.0 : 0;
  if (got >= 1 && dn_sema_number(s, e->args.v[0], "an init argument", &p->init_a)) return 1;
  if (got >= 2 && dn_sema_number(s, e->args.v[1], "an init argument", &p->init_b)) return 1;
  if (k == 3 && !(p->init_a < p->init_b)) {
    dn_error(e->loc, "uniform(lo, hi) needs lo < hi, got %g and %g", p->init_a, p->init_b);
    return 1;
  }
  if ((k == 4 || k == 5 || k == 6) && p->shape.rank < 2) {
    dn_error(e->loc, "init '%s' needs a parameter with at least 2 axes, got %s", names[k], dn_shape_str(p->shape));
    return 1;
  }
  return 0;
}

/* param NAME : [dims] [init = INIT] */
static void stmt_param(sema *s, dn_ast *st) {
  dn_shape sh;
  if (conflict(s, st->name)) {
    dn_sema_declare(s, st->name, SYM_VALUE, st, st->name_loc); /* reports the redefinition */
    return;
  }
  sym *y = dn_sema_declare(s, st->name, SYM_VALUE, st, st->name_loc); /* poison until built */
  if (dn_sema_dims(s, &st->a->args, &sh, st->a->loc, dn_fmt("parameter '%s'", st->name))) return;
  int idx = dn_sema_new_param(s, dn_fmt("%s%s", s->cur->prefix, st->name), sh,
                              sh.rank >= 2 ? DN_INIT_XAVIER : DN_INIT_ZEROS, 1, st->name_loc);
  if (idx < 0) return;
  dn_param *p = s->root->params.v[idx];
  int64_t rf = 1;
  for (int i = 2; i < sh.rank; i++) rf *= sh.dim[i];
  p->fan_in = sh.rank >= 2 ? sh.dim[1] * rf : sh.dim[0];
  p->fan_out = sh.rank >= 1 ? sh.dim[0] * rf : 1;
  if (st->b && param_init(s, st->b, p)) return;
  y->val = sv_tensor(dn_sema_param_node(s, idx, st->name_loc));
  if (s->cur == s->global) dn_sema_summary(s, st->name, y->val, st->name_loc, s->root->nodes.n, idx);
}

/* Assigning a scan state of the innermost scan block: checks and records the value. */
static void assign_state(sema *s, dn_ast *st, sym *y) {
  if (y->assigned) {
    dn_error(st->name_loc, "state '%s' is assigned twice in one step", st->name);
    dn_note(y->loc, "'%s' is declared here", st->name);
    return;
  }
  y->assigned = 1;
  sv v;
  dn_sema_binding(s, st, st->name, st->a, &v);
  dn_node *t = dn_sema_float_of(s, v, st->a->loc, dn_fmt("the new value of state '%s'", st->name));
  if (!t) return;
  dn_node *prev = y->val.t;
  dn_shape want = dn_sample_shape(prev);
  if (t->shape.rank == 0 || !dn_shape_eq(dn_sample_shape(t), want)) {
    if (t->shape.rank != 0) {
      dn_error(st->a->loc, "state '%s' is declared %s but assigned a value of shape %s; a state keeps its shape",
               st->name, dn_shape_str(want), dn_sema_sstr(t));
      return;
    }
    t = dn_ir_binary(s->g, DN_OP_ADD, dn_ir_const(s->g, 0, want, st->loc), t, st->loc);
  }
  y->val = sv_tensor(dn_sema_batched(s, t, st->loc));
}

/* NAME = EXPR: a constant, a binding, or (in a scan block) a state assignment. */
static void stmt_bind(sema *s, dn_ast *st) {
  sym *old = dn_sema_lookup(s, st->name);
  if (old && old->kind == SYM_STATE && s->scan && scope_find(s->cur, st->name) == old) {
    int own = 0;
    for (int i = 0; i < s->cur->syms.n; i++) own |= s->cur->syms.v[i] == old;
    if (own) {
      assign_state(s, st, old);
      return;
    }
  }
  if (conflict(s, st->name)) {
    dn_sema_declare(s, st->name, SYM_VALUE, st, st->name_loc); /* reports the redefinition */
    return;
  }
  sv v;
  dn_sema_binding(s, st, st->name, st->a, &v);
  sym *y = dn_sema_declare(s, st->name, SYM_VALUE, st, st->name_loc);
  if (y) y->val = v;
}

/* output NAME [= EXPR] */
static void stmt_output(sema *s, dn_ast *st) {
  sv v;
  if (st->a) {
    stmt_bind(s, st);
    sym *y = dn_sema_lookup(s, st->name);
    if (!y || y->decl != st) return;
    v = y->val;
  } else {
    sym *y = dn_sema_lookup(s, st->name);
    if (!y) {
      dn_sema_suggest(s, st->name, st->name_loc, 0);
      return;
    }
    dn_ast fake = *st;
    fake.kind = DN_AST_NAME;
    fake.loc = st->name_loc;
    v = dn_sema_eval(s, &fake);
  }
  if (v.kind == SV_NONE) return;
  if (v.kind != SV_TENSOR) {
    dn_error(st->name_loc, "output '%s' must be a tensor, not the constant %g", st->name, v.num);
    return;
  }
  for (int i = 0; i < s->root->outputs.n; i++) {
    dn_output *o = s->root->outputs.v[i];
    if (strcmp(o->name, st->name) == 0) {
      dn_error(st->name_loc, "'%s' is already an output", st->name);
      dn_note(o->loc, "first marked here");
      return;
    }
  }
  dn_output *o = dn_alloc(sizeof *o);
  o->name = st->name;
  /* outputs are per-sample values: one that only reads parameters is broadcast to [B, ...] */
  o->node = s->scan ? v.t : dn_sema_batched(s, v.t, st->name_loc);
  o->loc = st->name_loc;
  dn_vec_push(&s->root->outputs, o);
}

/* loss = EXPR: a per-sample scalar; its batch mean is what training minimizes. */
static void stmt_loss(sema *s, dn_ast *st) {
  if (s->root->loss) {
    dn_error(st->loc, "the model has two 'loss = ...' statements");
    return;
  }
  sv v;
  dn_sema_binding(s, st, "loss", st->a, &v);
  dn_node *t = dn_sema_float_of(s, v, st->a->loc, "the loss");
  if (!t) return;
  if (dn_sample_shape(t).rank != 0) {
    dn_error(st->a->loc, "loss must be a per-sample scalar, got shape %s; reduce it with sum(...) or mean(...)",
             dn_shape_str(dn_sample_shape(t)));
    return;
  }
  t = dn_sema_batched(s, t, st->loc);
  s->root->loss = t;
  dn_node *sum = dn_ir_reduce(s->g, DN_OP_REDUCE_SUM, t, 1u, st->loc);
  sum = dn_ir_reshape(s->g, sum, dn_shape_make(0, NULL), st->loc);
  s->root->loss_mean = dn_sema_scale(s, sum, 1.0 / (double)s->root->batch, st->loc);
}

/* def F(params) = EXPR | def F(params) { ... return EXPR } */
static void stmt_def(sema *s, dn_ast *st) {
  if (dn_sema_is_builtin(st->name)) {
    dn_error(st->name_loc, "'%s' is a built-in function and cannot be redefined", st->name);
    return;
  }
  for (int i = 0; i < st->params.n; i++)
    for (int j = 0; j < i; j++)
      if (strcmp(((dn_ast *)st->params.v[i])->name, ((dn_ast *)st->params.v[j])->name) == 0) {
        dn_error(((dn_ast *)st->params.v[i])->loc, "duplicate parameter '%s' in def '%s'",
                 ((dn_ast *)st->params.v[i])->name, st->name);
        return;
      }
  int visible = s->global->syms.n;
  sym *y = dn_sema_declare(s, st->name, SYM_DEF, st, st->name_loc);
  if (y) y->visible = visible;
}

static void stmt_model(sema *s, dn_ast *st) {
  if (s->model_stmt) {
    dn_error(st->loc, "the model is named twice");
    dn_note(s->model_stmt->loc, "first named here");
    return;
  }
  s->model_stmt = st;
  s->root->model = st->name;
}

void dn_sema_stmt(sema *s, dn_ast *st) {
  switch (st->kind) {
  case DN_AST_MODEL: stmt_model(s, st); break;
  case DN_AST_INPUT: stmt_input(s, st); break;
  case DN_AST_PARAM: stmt_param(s, st); break;
  case DN_AST_BIND: stmt_bind(s, st); break;
  case DN_AST_OUTPUT: stmt_output(s, st); break;
  case DN_AST_LOSS: stmt_loss(s, st); break;
  case DN_AST_DEF: stmt_def(s, st); break;
  case DN_AST_SCAN: dn_sema_scan(s, st); break;
  case DN_AST_TRAIN: break;
  case DN_AST_STATE: dn_error(st->loc, "'state' is only allowed inside a scan block"); break;
  case DN_AST_RETURN: dn_error(st->loc, "'return' is only allowed at the end of a def body"); break;
  default: dn_error(st->loc, "a %s is not a statement", dn_ast_kind_name(st->kind)); break;
  }
}

/* --- the program ------------------------------------------------------------------------ */

/* The file's base name without its extension (the default model name). */
static const char *base_name(const char *file) {
  const char *b = strrchr(file, '/');
  b = b ? b + 1 : file;
  const char *dot = strrchr(b, '.');
  return dot && dot != b ? dn_strndup(b, (size_t)(dot - b)) : dn_strdup(b);
}

/* Marks the inputs the outputs depend on (for_inference). */
static void mark_inference_inputs(dn_graph *g) {
  char *live = dn_alloc((size_t)g->nodes.n + 1);
  for (int i = 0; i < g->outputs.n; i++) live[((dn_output *)g->outputs.v[i])->node->id] = 1;
  for (int i = g->nodes.n - 1; i >= 0; i--) {
    dn_node *n = g->nodes.v[i];
    if (!live[i]) continue;
    for (int j = 0; j < n->nin; j++) live[n->in[j]->id] = 1;
    if (n->op == DN_OP_INPUT) ((dn_input *)g->inputs.v[n->param])->for_inference = 1;
  }
}

/* Points every scan body (nested too) at the final parameter list. */
static void sync_bodies(dn_graph *g, dn_graph *root) {
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if (n->op == DN_OP_SCAN && n->scan.body) {
      n->scan.body->params = root->params;
      sync_bodies(n->scan.body, root);
    }
  }
}

dn_graph *dn_sema(dn_ast *prog, const char *file, int64_t batch, dn_mode mode) {
  int errors = dn_error_count();
  sema st = {0}, *s = &st;
  s->file = file;
  s->root = s->g = dn_graph_new(base_name(file), batch, mode);
  s->root->file = file;
  s->global = s->cur = scope_new(NULL, -1, "");
  s->prog = prog;
  if (dn_sema_train_cfg(prog, &s->root->train)) return NULL;
  for (int i = 0; i < prog->body.n && !dn_error_limit_reached(); i++) dn_sema_stmt(s, prog->body.v[i]);
  if (dn_error_count() == errors && s->root->outputs.n == 0)
    dn_error((dn_loc){file, 1, 1}, "the model has no output; mark one with 'output NAME' or 'output NAME = EXPR'");
  if (dn_error_count() != errors) return NULL;
  mark_inference_inputs(s->root);
  sync_bodies(s->root, s->root);
  return s->root;
}
