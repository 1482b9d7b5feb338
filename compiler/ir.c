/* ir.c - graph IR: op table, node builders (the IR-level shape rules), FLOPs, dump, verifier. */
#include "ir.h"

#include <stdarg.h>
#include <string.h>

const dn_op_info dn_ops[DN_OP_COUNT] = {
#define OP(name, arity, flags, doc) {#name, arity, flags, doc},
#include "ops.def"
#undef OP
};

dn_graph *dn_graph_new(const char *model, int64_t batch, dn_mode mode) {
  dn_graph *g = dn_alloc(sizeof *g);
  g->model = model;
  g->batch = batch;
  g->mode = mode;
  return g;
}

dn_graph *dn_graph_new_body(dn_graph *parent) {
  dn_graph *g = dn_graph_new(parent->model, parent->batch, parent->mode);
  g->file = parent->file;
  g->parent = parent;
  g->params = parent->params;
  return g;
}

/* Appends a node; batched if any input is, f32 unless the caller says otherwise. */
dn_node *dn_node_add(dn_graph *g, dn_op op, int nin, dn_node **in, dn_shape shape, dn_loc loc) {
  dn_node *n = dn_alloc(sizeof *n);
  n->op = op;
  n->id = g->nodes.n;
  n->nin = nin;
  n->in = dn_alloc(sizeof(dn_node *) * (size_t)(nin > 0 ? nin : 1));
  for (int i = 0; i < nin; i++) {
    n->in[i] = in[i];
    n->batched |= in[i]->batched;
  }
  n->shape = shape;
  n->dtype = DN_F32;
  n->loc = loc;
  n->param = -1;
  dn_vec_push(&g->nodes, n);
  return n;
}

dn_node *dn_node_copy_mapped(dn_graph *g, const dn_node *n) {
  dn_node **in = dn_alloc(sizeof(dn_node *) * (size_t)(n->nin > 0 ? n->nin : 1));
  for (int i = 0; i < n->nin; i++) {
    in[i] = n->in[i]->aux;
    if (!in[i]) dn_die("copy: input %d of %%%d %s has no copy", i, n->id, dn_ops[n->op].name);
  }
  dn_node *c = dn_node_add(g, n->op, n->nin, in, n->shape, n->loc);
  dn_node **keep_in = c->in;
  int id = c->id;
  *c = *n;
  c->in = keep_in;
  c->id = id;
  c->aux = NULL;
  return c;
}

void dn_node_insert_inputs(dn_node *n, int at, dn_node **xs, int m) {
  dn_node **in = dn_alloc(sizeof(dn_node *) * (size_t)(n->nin + m));
  /* a node without inputs has in == NULL: memcpy from it is undefined even for 0 bytes */
  if (at > 0) memcpy(in, n->in, sizeof(dn_node *) * (size_t)at);
  if (m > 0) memcpy(in + at, xs, sizeof(dn_node *) * (size_t)m);
  if (n->nin > at) memcpy(in + at + m, n->in + at, sizeof(dn_node *) * (size_t)(n->nin - at));
  n->in = in;
  n->nin += m;
}

void dn_graph_replace_uses(dn_graph *g, dn_node *from, dn_node *to) {
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    for (int j = 0; j < n->nin; j++)
      if (n->in[j] == from) n->in[j] = to;
  }
  for (int i = 0; i < g->results.n; i++)
    if (g->results.v[i] == from) g->results.v[i] = to;
}

void dn_graph_leaves_first(dn_graph *g) {
  dn_vec v = {0};
  for (int pass = 0; pass < 2; pass++)
    for (int i = 0; i < g->nodes.n; i++) {
      dn_node *n = g->nodes.v[i];
      if ((n->nin == 0) == (pass == 0)) dn_vec_push(&v, n);
    }
  for (int i = 0; i < v.n; i++) ((dn_node *)v.v[i])->id = i;
  g->nodes = v;
}

void dn_graph_place_around(dn_graph *g, dn_node *a, int n0, const dn_vec *before, const dn_vec *after) {
  dn_vec v = {0};
  int n1 = g->nodes.n;
  for (int k = 0; k < n0; k++) {
    dn_node *n = g->nodes.v[k];
    for (int q = 0; n == a && q < before->n; q++) dn_vec_push(&v, before->v[q]);
    dn_vec_push(&v, n);
    for (int q = 0; n == a && q < after->n; q++) dn_vec_push(&v, after->v[q]);
  }
  if (v.n != n1) dn_die("place_around: %d nodes placed of %d", v.n, n1);
  for (int k = 0; k < v.n; k++) ((dn_node *)v.v[k])->id = k;
  g->nodes = v;
}

dn_shape dn_shape_make(int rank, const int64_t *dims) {
  dn_shape s = {0};
  if (rank < 0 || rank > DN_MAX_RANK) dn_die("rank %d out of range", rank);
  s.rank = rank;
  for (int i = 0; i < rank; i++) s.dim[i] = dims[i];
  return s;
}

dn_shape dn_shape_of(int rank, ...) {
  int64_t d[DN_MAX_RANK];
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank && i < DN_MAX_RANK; i++) d[i] = va_arg(ap, int64_t);
  va_end(ap);
  return dn_shape_make(rank, d);
}

int64_t dn_shape_count(dn_shape s) {
  int64_t c = 1;
  for (int i = 0; i < s.rank; i++) c *= s.dim[i];
  return c;
}

int dn_shape_eq(dn_shape a, dn_shape b) {
  if (a.rank != b.rank) return 0;
  for (int i = 0; i < a.rank; i++)
    if (a.dim[i] != b.dim[i]) return 0;
  return 1;
}

const char *dn_shape_str(dn_shape s) {
  char buf[256];
  int p = 0;
  buf[p++] = '[';
  for (int i = 0; i < s.rank; i++)
    p += snprintf(buf + p, sizeof buf - (size_t)p, i ? ", %lld" : "%lld", (long long)s.dim[i]);
  buf[p++] = ']';
  buf[p] = 0;
  return dn_strdup(buf);
}

dn_shape dn_sample_shape(const dn_node *n) {
  if (!n->batched) return n->shape;
  return dn_shape_make(n->shape.rank - 1, n->shape.dim + 1);
}

/* --- leaves ---------------------------------------------------------------- */

dn_node *dn_ir_input(dn_graph *g, int index, dn_loc loc) {
  dn_input *in = g->inputs.v[index];
  int64_t d[DN_MAX_RANK];
  d[0] = g->batch;
  for (int i = 0; i < in->sample.rank; i++) d[i + 1] = in->sample.dim[i];
  dn_node *n = dn_node_add(g, DN_OP_INPUT, 0, NULL, dn_shape_make(in->sample.rank + 1, d), loc);
  n->batched = 1;
  n->param = index;
  n->dtype = in->is_class ? DN_I32 : DN_F32;
  n->classes = in->classes;
  n->name = in->name;
  return n;
}

dn_node *dn_ir_param(dn_graph *g, int index, dn_loc loc) {
  dn_param *p = g->params.v[index];
  dn_node *n = dn_node_add(g, DN_OP_PARAM, 0, NULL, p->shape, loc);
  n->param = index;
  n->name = p->name;
  return n;
}

dn_node *dn_ir_const(dn_graph *g, double value, dn_shape shape, dn_loc loc) {
  dn_node *n = dn_node_add(g, DN_OP_CONST, 0, NULL, shape, loc);
  n->alpha = value;
  return n;
}

dn_node *dn_ir_const_data(dn_graph *g, const float *data, dn_shape shape, dn_loc loc) {
  dn_node *n = dn_ir_const(g, 0, shape, loc);
  n->data = data;
  return n;
}

dn_node *dn_ir_scalar(dn_graph *g, double value, dn_loc loc) {
  return dn_ir_const(g, value, dn_shape_make(0, NULL), loc);
}

dn_node *dn_ir_rand(dn_graph *g, double lo, double hi, dn_shape shape, int batched, dn_loc loc) {
  dn_node *n = dn_node_add(g, DN_OP_RAND_UNIFORM, 0, NULL, shape, loc);
  n->alpha = lo;
  n->beta = hi;
  n->batched = batched;
  return n;
}

/* --- elementwise ----------------------------------------------------------- */

dn_node *dn_ir_scan_get(dn_graph *g, dn_node *sc, int k, dn_shape step, dn_loc loc) {
  int64_t d[DN_MAX_RANK];
  d[0] = step.dim[0];
  d[1] = sc->scan.steps;
  for (int i = 1; i < step.rank; i++) d[i + 1] = step.dim[i];
  dn_node *n = dn_node_add(g, DN_OP_SCAN_GET, 1, &sc, dn_shape_make(step.rank + 1, d), loc);
  n->axis = k;
  n->batched = 1;
  return n;
}

dn_node *dn_ir_stop_grad(dn_graph *g, dn_node *x, dn_loc loc) {
  dn_node *n = dn_node_add(g, DN_OP_STOP_GRAD, 1, &x, x->shape, loc);
  n->dtype = x->dtype;
  return n;
}

dn_node *dn_ir_unary(dn_graph *g, dn_op op, dn_node *x, dn_loc loc) {
  if (!(dn_ops[op].flags & DN_F_EW) || dn_ops[op].arity != 1) dn_die("%s is not unary elementwise", dn_ops[op].name);
  return dn_node_add(g, op, 1, &x, x->shape, loc);
}

dn_node *dn_ir_binary(dn_graph *g, dn_op op, dn_node *a, dn_node *b, dn_loc loc) {
  if (!(dn_ops[op].flags & DN_F_EW) || dn_ops[op].arity != 2) dn_die("%s is not binary elementwise", dn_ops[op].name);
  dn_shape s;
  if (a->shape.rank == 0) s = b->shape;
  else if (b->shape.rank == 0) s = a->shape;
  else {
    if (a->shape.rank != b->shape.rank)
      dn_die("%s: ranks differ: %s vs %s", dn_ops[op].name, dn_shape_str(a->shape), dn_shape_str(b->shape));
    s = a->shape;
    for (int i = 0; i < s.rank; i++) {
      int64_t x = a->shape.dim[i], y = b->shape.dim[i];
      if (x != y && x != 1 && y != 1)
        dn_die("%s: cannot broadcast %s with %s", dn_ops[op].name, dn_shape_str(a->shape), dn_shape_str(b->shape));
      s.dim[i] = x == 1 ? y : x;
    }
  }
  dn_node *in[2] = {a, b};
  return dn_node_add(g, op, 2, in, s, loc);
}

/* --- products, windows ----------------------------------------------------- */

dn_node *dn_ir_gemm(dn_graph *g, dn_node *a, dn_node *b, dn_gemm gm, dn_shape out, int batched, dn_loc loc) {
  int64_t need = (gm.sc || gm.nb == 1 ? gm.nb : 1) * gm.m * gm.n;
  if (dn_shape_count(out) != need) dn_die("gemm: output %s does not hold %lld elements", dn_shape_str(out), (long long)need);
  dn_node *in[2] = {a, b};
  dn_node *n = dn_node_add(g, DN_OP_GEMM, 2, in, out, loc);
  n->gemm = gm;
  n->batched = batched;
  return n;
}

dn_node *dn_ir_conv(dn_graph *g, dn_op op, dn_node *a, dn_node *b, dn_window w, dn_shape out, dn_loc loc) {
  dn_node *in[2] = {a, b};
  dn_node *n = dn_node_add(g, op, 2, in, out, loc);
  n->win = w;
  n->batched = op == DN_OP_CONV2D_BWD_W ? 0 : a->batched;
  return n;
}

dn_node *dn_ir_pool(dn_graph *g, dn_op op, int nin, dn_node **in, dn_window w, dn_shape out, dn_loc loc) {
  dn_node *n = dn_node_add(g, op, nin, in, out, loc);
  n->win = w;
  return n;
}

/* --- reductions, normalizers ------------------------------------------------- */

dn_node *dn_ir_reduce(dn_graph *g, dn_op op, dn_node *x, uint32_t axes, dn_loc loc) {
  dn_shape s = x->shape;
  for (int i = 0; i < s.rank; i++)
    if (axes & (1u << i)) s.dim[i] = 1;
  dn_node *n = dn_node_add(g, op, 1, &x, s, loc);
  n->axes = axes;
  n->batched = x->batched && !(axes & 1u);
  return n;
}

dn_node *dn_ir_expand(dn_graph *g, dn_node *x, dn_shape out, dn_loc loc) {
  if (out.rank != x->shape.rank) dn_die("expand: rank %d to %d", x->shape.rank, out.rank);
  for (int i = 0; i < out.rank; i++)
    if (x->shape.dim[i] != 1 && x->shape.dim[i] != out.dim[i]) dn_die("expand: %s to %s", dn_shape_str(x->shape), dn_shape_str(out));
  dn_node *n = dn_node_add(g, DN_OP_EXPAND, 1, &x, out, loc);
  return n;
}

dn_node *dn_ir_axis_op(dn_graph *g, dn_op op, dn_node *x, int axis, dn_loc loc) {
  dn_shape s = x->shape;
  if (axis < 0 || axis >= s.rank) dn_die("%s: axis %d of %s", dn_ops[op].name, axis, dn_shape_str(s));
  if (op == DN_OP_LOGSUMEXP) s.dim[axis] = 1;
  dn_node *n = dn_node_add(g, op, 1, &x, s, loc);
  n->axis = axis;
  return n;
}

/* --- class indices --------------------------------------------------------- */

dn_node *dn_ir_pick(dn_graph *g, dn_node *x, dn_node *y, dn_loc loc) {
  dn_node *in[2] = {x, y};
  dn_node *n = dn_node_add(g, DN_OP_PICK, 2, in, y->shape, loc);
  n->classes = x->shape.dim[x->shape.rank - 1];
  return n;
}

dn_node *dn_ir_onehot(dn_graph *g, dn_node *y, int64_t classes, dn_loc loc) {
  dn_shape s = y->shape;
  if (s.rank >= DN_MAX_RANK) dn_die("onehot: rank too large");
  s.dim[s.rank++] = classes;
  dn_node *n = dn_node_add(g, DN_OP_ONEHOT, 1, &y, s, loc);
  n->classes = classes;
  return n;
}

dn_node *dn_ir_embed(dn_graph *g, dn_node *w, dn_node *y, dn_loc loc) {
  dn_shape s = y->shape;
  if (s.rank >= DN_MAX_RANK) dn_die("embed: rank too large");
  s.dim[s.rank++] = w->shape.dim[1];
  dn_node *in[2] = {w, y};
  dn_node *n = dn_node_add(g, DN_OP_EMBED, 2, in, s, loc);
  n->classes = w->shape.dim[0];
  return n;
}

dn_node *dn_ir_embed_bwd(dn_graph *g, dn_node *dy, dn_node *y, dn_shape wshape, dn_loc loc) {
  dn_node *in[2] = {dy, y};
  dn_node *n = dn_node_add(g, DN_OP_EMBED_BWD, 2, in, wshape, loc);
  n->batched = 0;
  n->classes = wshape.dim[0];
  return n;
}

/* --- layout ---------------------------------------------------------------- */

dn_node *dn_ir_reshape(dn_graph *g, dn_node *x, dn_shape out, dn_loc loc) {
  if (dn_shape_count(out) != dn_shape_count(x->shape))
    dn_die("reshape %s to %s changes the element count", dn_shape_str(x->shape), dn_shape_str(out));
  if (dn_shape_eq(out, x->shape)) return x;
  dn_node *n = dn_node_add(g, DN_OP_RESHAPE, 1, &x, out, loc);
  n->dtype = x->dtype;
  n->classes = x->classes;
  return n;
}

dn_node *dn_ir_transpose(dn_graph *g, dn_node *x, const int *perm, dn_loc loc) {
  dn_shape s = x->shape;
  for (int i = 0; i < s.rank; i++) s.dim[i] = x->shape.dim[perm[i]];
  dn_node *n = dn_node_add(g, DN_OP_TRANSPOSE, 1, &x, s, loc);
  memcpy(n->perm, perm, sizeof(int) * (size_t)s.rank);
  n->dtype = x->dtype;
  return n;
}

dn_node *dn_ir_slice(dn_graph *g, dn_node *x, int axis, int64_t start, int64_t stop, dn_loc loc) {
  if (axis < 0 || axis >= x->shape.rank || start < 0 || stop > x->shape.dim[axis] || start >= stop)
    dn_die("slice [%lld:%lld] on axis %d of %s", (long long)start, (long long)stop, axis, dn_shape_str(x->shape));
  dn_shape s = x->shape;
  s.dim[axis] = stop - start;
  dn_node *n = dn_node_add(g, DN_OP_SLICE, 1, &x, s, loc);
  n->axis = axis;
  n->start = start;
  n->stop = stop;
  n->dtype = x->dtype;
  n->classes = x->classes;
  return n;
}

dn_node *dn_ir_unslice(dn_graph *g, dn_node *x, int axis, int64_t start, dn_shape out, dn_loc loc) {
  dn_node *n = dn_node_add(g, DN_OP_UNSLICE, 1, &x, out, loc);
  n->axis = axis;
  n->start = start;
  n->stop = start + x->shape.dim[axis];
  return n;
}

dn_node *dn_ir_concat(dn_graph *g, int count, dn_node **xs, int axis, dn_loc loc) {
  dn_shape s = xs[0]->shape;
  s.dim[axis] = 0;
  for (int i = 0; i < count; i++) s.dim[axis] += xs[i]->shape.dim[axis];
  dn_node *n = dn_node_add(g, DN_OP_CONCAT, count, xs, s, loc);
  n->axis = axis;
  return n;
}

dn_node *dn_ir_assign(dn_graph *g, dn_node *param, dn_node *value, dn_loc loc) {
  dn_node *in[2] = {param, value};
  dn_node *n = dn_node_add(g, DN_OP_ASSIGN, 2, in, dn_shape_make(0, NULL), loc);
  n->batched = 0;
  return n;
}

/* --- FLOPs ------------------------------------------------------------------ */

int64_t dn_node_flops(const dn_node *n) {
  int64_t out = dn_shape_count(n->shape);
  const dn_window *w = &n->win;
  switch (n->op) {
  case DN_OP_GEMM: return 2 * n->gemm.nb * n->gemm.m * n->gemm.n * n->gemm.k;
  case DN_OP_CONV2D:
    return 2 * out * (n->in[0]->shape.dim[n->in[0]->shape.rank - 3] / (w->groups ? w->groups : 1)) * w->kh * w->kw;
  case DN_OP_CONV2D_BWD_DATA:
  case DN_OP_CONV2D_BWD_W: {
    const dn_node *dy = n->in[0];
    int64_t c = n->op == DN_OP_CONV2D_BWD_DATA ? n->in[1]->shape.dim[1] : n->shape.dim[1];
    return 2 * dn_shape_count(dy->shape) * c * w->kh * w->kw;
  }
  case DN_OP_MAXPOOL2D:
  case DN_OP_SUMPOOL2D: return out * w->kh * w->kw;
  case DN_OP_REDUCE_SUM:
  case DN_OP_REDUCE_MAX: return dn_shape_count(n->in[0]->shape);
  case DN_OP_SOFTMAX:
  case DN_OP_LOG_SOFTMAX:
  case DN_OP_LOGSUMEXP: return 4 * dn_shape_count(n->in[0]->shape);
  case DN_OP_SCAN: {
    int64_t f = 0;
    dn_graph *b = n->scan.body;
    for (int i = 0; b && i < b->nodes.n; i++) f += dn_node_flops(b->nodes.v[i]);
    return f * n->scan.steps;
  }
  default: return (dn_ops[n->op].flags & DN_F_EW) ? out : 0;
  }
}

/* --- text form ------------------------------------------------------------- */

void dn_ir_dump_node(const dn_node *n, FILE *out) {
  fprintf(out, "%%%d = %s(", n->id, dn_ops[n->op].name);
  for (int i = 0; i < n->nin; i++) fprintf(out, i ? ", %%%d" : "%%%d", n->in[i]->id);
  fprintf(out, ") %s%s%s", n->dtype == DN_I32 ? "i32" : "f32", dn_shape_str(n->shape), n->batched ? " batched" : "");
  if (n->name) fprintf(out, " name=%s", n->name);
  switch (n->op) {
  case DN_OP_CONST:
    if (n->data) fprintf(out, " data");
    else fprintf(out, " value=%g", n->alpha);
    break;
  case DN_OP_ELU: case DN_OP_LEAKY_RELU: case DN_OP_POWC: fprintf(out, " alpha=%g", n->alpha); break;
  case DN_OP_HARDTANH: case DN_OP_CLAMP: case DN_OP_INRANGE: case DN_OP_RAND_UNIFORM:
    fprintf(out, " lo=%g hi=%g", n->alpha, n->beta);
    break;
  case DN_OP_GEMM:
    fprintf(out, " m=%lld n=%lld k=%lld ta=%d tb=%d nb=%lld sa=%lld sb=%lld sc=%lld", (long long)n->gemm.m,
            (long long)n->gemm.n, (long long)n->gemm.k, n->gemm.ta, n->gemm.tb, (long long)n->gemm.nb,
            (long long)n->gemm.sa, (long long)n->gemm.sb, (long long)n->gemm.sc);
    break;
  case DN_OP_CONV2D: case DN_OP_CONV2D_BWD_DATA: case DN_OP_CONV2D_BWD_W: case DN_OP_MAXPOOL2D:
  case DN_OP_MAXPOOL2D_BWD: case DN_OP_SUMPOOL2D: case DN_OP_SUMPOOL2D_BWD:
    fprintf(out, " k=%dx%d s=%dx%d p=%dx%d d=%dx%d g=%d", n->win.kh, n->win.kw, n->win.sh, n->win.sw, n->win.ph,
            n->win.pw, n->win.dh, n->win.dw, n->win.groups);
    if (n->op == DN_OP_MAXPOOL2D_BWD && n->axis) fprintf(out, " relu");
    break;
  case DN_OP_REDUCE_SUM: case DN_OP_REDUCE_MAX: fprintf(out, " axes=0x%x", n->axes); break;
  case DN_OP_SOFTMAX: case DN_OP_LOG_SOFTMAX: case DN_OP_LOGSUMEXP: case DN_OP_CONCAT: case DN_OP_SCAN_GET: case DN_OP_SCAN_LAST:
    fprintf(out, " axis=%d", n->axis);
    break;
  case DN_OP_SLICE: case DN_OP_UNSLICE:
    fprintf(out, " axis=%d start=%lld stop=%lld", n->axis, (long long)n->start, (long long)n->stop);
    break;
  case DN_OP_TRANSPOSE:
    fprintf(out, " perm=");
    for (int i = 0; i < n->shape.rank; i++) fprintf(out, i ? ",%d" : "%d", n->perm[i]);
    break;
  case DN_OP_ONEHOT: case DN_OP_PICK: case DN_OP_EMBED: case DN_OP_EMBED_BWD:
    fprintf(out, " classes=%lld", (long long)n->classes);
    break;
  case DN_OP_INPUT: case DN_OP_PARAM: case DN_OP_SCAN_X: case DN_OP_SCAN_STATE: case DN_OP_SCAN_OUTER:
    fprintf(out, " #%d", n->param);
    break;
  case DN_OP_SCAN:
    fprintf(out, " seq=%d state=%d outer=%d steps=%lld%s", n->scan.n_seq, n->scan.n_state, n->scan.n_outer,
            (long long)n->scan.steps, n->scan.reverse ? " reverse" : "");
    if (n->scan.loop) fprintf(out, " loop");
    break;
  default: break;
  }
  if (n->loc.file) fprintf(out, "  @%s:%d:%d", n->loc.file, n->loc.line, n->loc.col);
  fputc('\n', out);
}

static void dump_graph(const dn_graph *g, FILE *out, int indent) {
  for (int i = 0; i < g->nodes.n; i++) {
    const dn_node *n = g->nodes.v[i];
    fprintf(out, "%*s", indent, "");
    dn_ir_dump_node(n, out);
    if (n->op == DN_OP_SCAN && n->scan.body) {
      fprintf(out, "%*s{\n", indent + 2, "");
      dump_graph(n->scan.body, out, indent + 4);
      fprintf(out, "%*sresults", indent + 4, "");
      for (int r = 0; r < n->scan.body->results.n; r++)
        fprintf(out, " %%%d", ((dn_node *)n->scan.body->results.v[r])->id);
      fprintf(out, "\n%*s}\n", indent + 2, "");
    }
  }
}

void dn_ir_dump(const dn_graph *g, FILE *out) {
  fprintf(out, "# model %s, batch %lld, %s graph\n", g->model, (long long)g->batch,
          g->mode == DN_MODE_TRAIN ? "training" : "inference");
  for (int i = 0; i < g->params.n; i++) {
    const dn_param *p = g->params.v[i];
    fprintf(out, "# param #%d %s %s%s\n", i, p->name, dn_shape_str(p->shape), p->trainable ? "" : " (state)");
  }
  dump_graph(g, out, 0);
  for (int i = 0; i < g->outputs.n; i++) {
    const dn_output *o = g->outputs.v[i];
    fprintf(out, "output %s = %%%d\n", o->name, o->node->id);
  }
  if (g->loss) fprintf(out, "loss = %%%d\n", g->loss->id);
  if (g->loss_mean) fprintf(out, "loss_mean = %%%d\n", g->loss_mean->id);
  for (int i = 0; i < g->grads.n; i++)
    if (g->grads.v[i])
      fprintf(out, "grad %s = %%%d\n", ((dn_param *)g->params.v[i])->name, ((dn_node *)g->grads.v[i])->id);
}

/* --- verifier ---------------------------------------------------------------- */

void dn_ir_verify(const dn_graph *g) {
  for (int i = 0; i < g->nodes.n; i++) {
    const dn_node *n = g->nodes.v[i];
    if (n->id != i) dn_die("node %d has id %d", i, n->id);
    if (dn_ops[n->op].arity >= 0 && n->nin != dn_ops[n->op].arity)
      dn_die("%%%d %s has %d inputs, wants %d", i, dn_ops[n->op].name, n->nin, dn_ops[n->op].arity);
    for (int j = 0; j < n->nin; j++)
      if (n->in[j]->id >= i || g->nodes.v[n->in[j]->id] != n->in[j])
        dn_die("%%%d %s: input %d is not an earlier node of this graph", i, dn_ops[n->op].name, j);
    for (int d = 0; d < n->shape.rank; d++)
      if (n->shape.dim[d] < 1) dn_die("%%%d %s: bad shape %s", i, dn_ops[n->op].name, dn_shape_str(n->shape));
    if (n->op == DN_OP_SCAN && n->scan.body) dn_ir_verify(n->scan.body);
  }
}
