/* test_autodiff_eval.h - a naive reference interpreter of the IR for the autodiff and
 * simplify unit tests: evaluates every node of a graph in double precision, straight from
 * the op semantics of ops.def, so gradient graphs can be checked against central
 * differences without the emitter. Covers the ops the tests build (elementwise, reductions,
 * expand, layout, normalizers, GEMM, PICK/ONEHOT); any other op fails the test.
 */
#ifndef TEST_AUTODIFF_EVAL_H
#define TEST_AUTODIFF_EVAL_H

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir.h"

typedef struct te_env {
  double *param[16];  /* values of graph->params[i] */
  double *input[4];   /* values of graph->inputs[i] */
} te_env;

/* Multi-index of flat element i of shape s. */
static void te_unflat(dn_shape s, int64_t i, int64_t *idx) {
  for (int d = s.rank - 1; d >= 0; d--) idx[d] = i % s.dim[d], i /= s.dim[d];
}

/* Flat index in shape s of a multi-index of a broadcast-compatible (same rank) shape. */
static int64_t te_flat(dn_shape s, const int64_t *idx) {
  int64_t f = 0;
  for (int d = 0; d < s.rank; d++) f = f * s.dim[d] + (s.dim[d] == 1 ? 0 : idx[d]);
  return f;
}

static double te_unary(const dn_node *n, double x) {
  switch (n->op) {
  case DN_OP_NEG: return -x;
  case DN_OP_RELU: return x > 0 ? x : 0;
  case DN_OP_SIGMOID: return 1 / (1 + exp(-x));
  case DN_OP_TANH: return tanh(x);
  case DN_OP_SOFTPLUS: return x > 20 ? x : log(1 + exp(x));
  case DN_OP_ELU: return x > 0 ? x : n->alpha * (exp(x) - 1);
  case DN_OP_LEAKY_RELU: return x > 0 ? x : n->alpha * x;
  case DN_OP_HARDTANH: case DN_OP_CLAMP: return x < n->alpha ? n->alpha : x > n->beta ? n->beta : x;
  case DN_OP_STEP: return x > 0 ? 1 : 0;
  case DN_OP_SIGN: return x > 0 ? 1 : x < 0 ? -1 : 0;
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
  default: ck_abort_msg("te: unary %s", dn_ops[n->op].name); return 0;
  }
}

static double te_binary(const dn_node *n, double a, double b) {
  switch (n->op) {
  case DN_OP_ADD: return a + b;
  case DN_OP_SUB: return a - b;
  case DN_OP_MUL: return a * b;
  case DN_OP_DIV: return a / b;
  case DN_OP_POW: return pow(a, b);
  case DN_OP_MAX: return a > b ? a : b;
  case DN_OP_MIN: return a < b ? a : b;
  case DN_OP_GT: return a > b;
  case DN_OP_EQ: return a == b;
  case DN_OP_BCE_LOGITS: return (a > 0 ? a : 0) - a * b + log(1 + exp(-fabs(a)));
  default: ck_abort_msg("te: binary %s", dn_ops[n->op].name); return 0;
  }
}

/* Elementwise op with broadcasting (inputs of the output's rank or rank 0). */
static void te_ew(const dn_node *n, double **v, double *o) {
  int64_t idx[DN_MAX_RANK], cnt = dn_shape_count(n->shape);
  for (int64_t i = 0; i < cnt; i++) {
    te_unflat(n->shape, i, idx);
    double x[2] = {0, 0};  /* (GCC 12 -O3 warned of x[1] for unary ops) */
    for (int j = 0; j < n->nin && j < 2; j++) x[j] = v[n->in[j]->id][te_flat(n->in[j]->shape, idx)];
    o[i] = n->nin == 1 ? te_unary(n, x[0]) : te_binary(n, x[0], x[1]);
  }
}

/* REDUCE_SUM / REDUCE_MAX over the axes bit mask (kept with size 1). */
static void te_reduce(const dn_node *n, const double *x, double *o) {
  int64_t idx[DN_MAX_RANK], cnt = dn_shape_count(n->in[0]->shape);
  for (int64_t i = 0; i < dn_shape_count(n->shape); i++) o[i] = n->op == DN_OP_REDUCE_MAX ? -INFINITY : 0;
  for (int64_t i = 0; i < cnt; i++) {
    te_unflat(n->in[0]->shape, i, idx);
    int64_t j = te_flat(n->shape, idx);
    o[j] = n->op == DN_OP_REDUCE_MAX ? fmax(o[j], x[i]) : o[j] + x[i];
  }
}

/* SOFTMAX / LOG_SOFTMAX / LOGSUMEXP along n->axis. */
static void te_norm(const dn_node *n, const double *x, double *o) {
  dn_shape s = n->in[0]->shape, r = s;
  r.dim[n->axis] = 1;
  int64_t idx[DN_MAX_RANK], stride = 1;
  for (int d = s.rank - 1; d > n->axis; d--) stride *= s.dim[d];
  for (int64_t i = 0; i < dn_shape_count(r); i++) {
    te_unflat(r, i, idx);
    int64_t base = te_flat(s, idx);
    double lse = 0;
    for (int64_t k = 0; k < s.dim[n->axis]; k++) lse += exp(x[base + k * stride]);
    lse = log(lse);
    if (n->op == DN_OP_LOGSUMEXP) o[i] = lse;
    else
      for (int64_t k = 0; k < s.dim[n->axis]; k++) {
        double l = x[base + k * stride] - lse;
        o[base + k * stride] = n->op == DN_OP_LOG_SOFTMAX ? l : exp(l);
      }
  }
}

static void te_gemm(const dn_node *n, const double *a, const double *b, double *o) {
  dn_gemm g = n->gemm;
  memset(o, 0, sizeof(double) * (size_t)dn_shape_count(n->shape));
  for (int64_t p = 0; p < g.nb; p++)
    for (int64_t i = 0; i < g.m; i++)
      for (int64_t j = 0; j < g.n; j++)
        for (int64_t k = 0; k < g.k; k++) {
          double x = a[p * g.sa + (g.ta ? k * g.m + i : i * g.k + k)];
          double y = b[p * g.sb + (g.tb ? j * g.k + k : k * g.n + j)];
          o[p * g.sc + i * g.n + j] += x * y;
        }
}

/* TRANSPOSE, SLICE, UNSLICE, CONCAT. */
static void te_layout(const dn_node *n, double **v, double *o) {
  int64_t idx[DN_MAX_RANK], src[DN_MAX_RANK], cnt = dn_shape_count(n->shape);
  for (int64_t i = 0; i < cnt; i++) {
    te_unflat(n->shape, i, idx);
    memcpy(src, idx, sizeof idx);
    const dn_node *x = n->in[0];
    if (n->op == DN_OP_TRANSPOSE)
      for (int d = 0; d < n->shape.rank; d++) src[n->perm[d]] = idx[d];
    if (n->op == DN_OP_SLICE) src[n->axis] += n->start;
    if (n->op == DN_OP_UNSLICE) {
      src[n->axis] -= n->start;
      if (src[n->axis] < 0 || src[n->axis] >= x->shape.dim[n->axis]) {
        o[i] = 0;
        continue;
      }
    }
    for (int j = 0; n->op == DN_OP_CONCAT && src[n->axis] >= n->in[j]->shape.dim[n->axis]; j++)
      src[n->axis] -= n->in[j]->shape.dim[n->axis], x = n->in[j + 1];
    o[i] = v[x->id][te_flat(x->shape, src)];
  }
}

/* Evaluates every node; returns values indexed by node id (malloc'd, te_free). */
static double **te_eval(const dn_graph *g, const te_env *env) {
  double **v = calloc((size_t)g->nodes.n, sizeof *v);
  for (int i = 0; i < g->nodes.n; i++) {
    const dn_node *n = g->nodes.v[i];
    int64_t cnt = dn_shape_count(n->shape);
    double *o = v[i] = calloc((size_t)cnt + 1, sizeof(double));
    double *x = n->nin ? v[n->in[0]->id] : NULL;
    if (dn_ops[n->op].flags & DN_F_EW) te_ew(n, v, o);
    else switch (n->op) {
    case DN_OP_CONST: for (int64_t j = 0; j < cnt; j++) o[j] = n->data ? n->data[j] : n->alpha; break;
    case DN_OP_PARAM: memcpy(o, env->param[n->param], sizeof(double) * (size_t)cnt); break;
    case DN_OP_INPUT: memcpy(o, env->input[n->param], sizeof(double) * (size_t)cnt); break;
    case DN_OP_RESHAPE: memcpy(o, x, sizeof(double) * (size_t)cnt); break;
    case DN_OP_REDUCE_SUM: case DN_OP_REDUCE_MAX: te_reduce(n, x, o); break;
    case DN_OP_EXPAND: {
      int64_t idx[DN_MAX_RANK];
      for (int64_t j = 0; j < cnt; j++) te_unflat(n->shape, j, idx), o[j] = x[te_flat(n->in[0]->shape, idx)];
      break;
    }
    case DN_OP_SOFTMAX: case DN_OP_LOG_SOFTMAX: case DN_OP_LOGSUMEXP: te_norm(n, x, o); break;
    case DN_OP_GEMM: te_gemm(n, x, v[n->in[1]->id], o); break;
    case DN_OP_TRANSPOSE: case DN_OP_SLICE: case DN_OP_UNSLICE: case DN_OP_CONCAT: te_layout(n, v, o); break;
    case DN_OP_PICK:
      for (int64_t j = 0; j < cnt; j++) o[j] = x[j * n->classes + (int64_t)v[n->in[1]->id][j]];
      break;
    case DN_OP_ONEHOT:
      for (int64_t j = 0; j < cnt; j++) o[j] = (int64_t)x[j / n->classes] == j % n->classes;
      break;
    case DN_OP_ASSIGN: break;
    default: ck_abort_msg("te: op %s", dn_ops[n->op].name);
    }
  }
  return v;
}

static void te_free(const dn_graph *g, double **v) {
  for (int i = 0; i < g->nodes.n; i++) free(v[i]);
  free(v);
}

#endif
