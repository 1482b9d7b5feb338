/* test_autodiff.c - reverse-mode autodiff (compiler/autodiff.c) on hand-built IR graphs.
 *
 * Numeric tests: each builds a small training graph whose loss_mean is sum(f(params) * R)
 * for a random constant R, differentiates it, evaluates the gradient nodes with the reference
 * interpreter (test_autodiff_eval.h) and compares every gradient element with a central
 * difference of loss_mean, before and after dn_simplify. Structure tests: the accumulate-or-
 * set helper, pruning of parameter-free subgraphs, the missing-rule error, broadcasting
 * reductions, zero gradients for unreachable parameters, state parameters.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "test_autodiff_eval.h"

static const dn_loc L = {"t.dnn", 1, 1};
static uint64_t t_rng = 12345;

static double t_uniform(double lo, double hi) {
  t_rng = t_rng * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (double)(t_rng >> 11) / 9007199254740992.0;
}

/* A value in +-[0.2, 1.2] (away from kinks at 0), or positive only. */
static double t_value(int positive) {
  double v = t_uniform(0.2, 1.2);
  return positive || t_uniform(0, 1) < 0.5 ? v : -v;
}

typedef struct t_model {
  dn_graph *g;
  te_env env;
} t_model;

static t_model *t_new(void) {
  t_model *m = dn_alloc(sizeof *m); /* arena: freed with the graph */
  m->g = dn_graph_new("t", 2, DN_MODE_TRAIN);
  m->g->file = "t.dnn";
  return m;
}

/* A parameter of the given shape with random values (positive when asked). */
static dn_node *t_param(t_model *m, dn_shape s, int trainable, int positive) {
  dn_param *p = dn_alloc(sizeof *p);
  p->name = dn_fmt("p%d", m->g->params.n);
  p->shape = s;
  p->trainable = trainable;
  int i = m->g->params.n;
  dn_vec_push(&m->g->params, p);
  m->env.param[i] = dn_alloc(sizeof(double) * (size_t)dn_shape_count(s));
  for (int64_t j = 0; j < dn_shape_count(s); j++) m->env.param[i][j] = t_value(positive);
  return dn_ir_param(m->g, i, L);
}

/* A batched input (per-sample shape s); class inputs hold labels in [0, K). */
static dn_node *t_input(t_model *m, dn_shape s, int64_t classes) {
  dn_input *in = dn_alloc(sizeof *in);
  in->name = dn_fmt("x%d", m->g->inputs.n);
  in->sample = s;
  in->is_class = classes > 0;
  in->classes = classes;
  int i = m->g->inputs.n;
  dn_vec_push(&m->g->inputs, in);
  dn_node *n = dn_ir_input(m->g, i, L);
  in->node = n;
  int64_t cnt = dn_shape_count(n->shape);
  m->env.input[i] = dn_alloc(sizeof(double) * (size_t)cnt);
  for (int64_t j = 0; j < cnt; j++)
    m->env.input[i][j] = classes ? (double)(int64_t)t_uniform(0, (double)classes) : t_value(0);
  return n;
}

/* loss_mean = sum(y * R), R a random constant of y's shape. */
static void t_loss(t_model *m, dn_node *y) {
  int64_t cnt = dn_shape_count(y->shape);
  float *r = dn_alloc(sizeof(float) * (size_t)cnt);
  for (int64_t j = 0; j < cnt; j++) r[j] = (float)t_uniform(-1, 1);
  dn_node *z = dn_ir_binary(m->g, DN_OP_MUL, y, dn_ir_const_data(m->g, r, y->shape, L), L);
  dn_node *s = y->shape.rank ? dn_ir_reduce(m->g, DN_OP_REDUCE_SUM, z, (1u << y->shape.rank) - 1, L) : z;
  m->g->loss_mean = dn_ir_reshape(m->g, s, dn_shape_make(0, NULL), L);
}

static double t_loss_value(t_model *m) {
  double **v = te_eval(m->g, &m->env);
  double l = v[m->g->loss_mean->id][0];
  te_free(m->g, v);
  return l;
}

/* Compares every analytic gradient element with a central difference. */
static void t_compare(t_model *m, const char *what) {
  double **v = te_eval(m->g, &m->env);
  for (int i = 0; i < m->g->params.n; i++) {
    dn_param *p = m->g->params.v[i];
    dn_node *gn = m->g->grads.v[i];
    if (!p->trainable) {
      ck_assert_msg(!gn, "%s: state parameter %s has a gradient", what, p->name);
      continue;
    }
    ck_assert_msg(gn && dn_shape_eq(gn->shape, p->shape), "%s: gradient of %s missing or misshaped", what, p->name);
    for (int64_t j = 0; j < dn_shape_count(p->shape); j++) {
      double keep = m->env.param[i][j], h = 1e-6;
      m->env.param[i][j] = keep + h;
      double up = t_loss_value(m);
      m->env.param[i][j] = keep - h;
      double down = t_loss_value(m);
      m->env.param[i][j] = keep;
      double num = (up - down) / (2 * h), ana = v[gn->id][j];
      double err = fabs(num - ana) / fmax(1.0, fmax(fabs(num), fabs(ana)));
      ck_assert_msg(err < 1e-6, "%s: d/d%s[%lld]: analytic %.9g, numeric %.9g", what, p->name, (long long)j, ana, num);
    }
  }
  te_free(m->g, v);
}

/* Differentiates, checks numerically, simplifies, checks again. */
static void t_check(t_model *m, const char *what) {
  ck_assert_int_eq(dn_autodiff(m->g), 0);
  dn_ir_verify(m->g);
  t_compare(m, what);
  dn_simplify(m->g, 2);
  dn_ir_verify(m->g);
  t_compare(m, what);
}

static dn_shape S2(int64_t a, int64_t b) { return dn_shape_of(2, a, b); }

/* --- elementwise ------------------------------------------------------------------------ */

static const dn_op t_unary[] = {DN_OP_NEG, DN_OP_RELU, DN_OP_SIGMOID, DN_OP_TANH, DN_OP_SOFTPLUS, DN_OP_ELU,
                                DN_OP_LEAKY_RELU, DN_OP_HARDTANH, DN_OP_CLAMP, DN_OP_EXP, DN_OP_LOG, DN_OP_SQRT,
                                DN_OP_ABS, DN_OP_SQUARE, DN_OP_SIN, DN_OP_COS, DN_OP_RECIP, DN_OP_POWC};
#define N_UNARY ((int)(sizeof t_unary / sizeof t_unary[0]))

START_TEST(test_unary) {
  dn_op op = t_unary[_i];
  t_model *m = t_new();
  int positive = op == DN_OP_LOG || op == DN_OP_SQRT || op == DN_OP_POWC;
  dn_node *x = t_param(m, S2(3, 4), 1, positive);
  dn_node *y = dn_ir_unary(m->g, op, x, L);
  y->alpha = op == DN_OP_POWC ? 2.5 : op == DN_OP_HARDTANH || op == DN_OP_CLAMP ? -0.5 : 0.3;
  y->beta = 0.5;
  t_loss(m, y);
  t_check(m, dn_ops[op].name);
}
END_TEST

static const dn_op t_binary[] = {DN_OP_ADD, DN_OP_SUB, DN_OP_MUL, DN_OP_DIV, DN_OP_POW, DN_OP_MAX, DN_OP_MIN,
                                 DN_OP_BCE_LOGITS};
#define N_BINARY ((int)(sizeof t_binary / sizeof t_binary[0]))

/* a [3,4] with b [1,4] (broadcast rows), b rank 0, and b [3,1] broadcast the other way. */
START_TEST(test_binary) {
  for (int form = 0; form < 3; form++) {
    dn_op op = t_binary[_i];
    t_model *m = t_new();
    dn_node *a = t_param(m, S2(3, 4), 1, op == DN_OP_POW);
    dn_shape bs = form == 0 ? S2(1, 4) : form == 1 ? dn_shape_make(0, NULL) : S2(3, 1);
    dn_node *b = t_param(m, bs, 1, op == DN_OP_DIV || op == DN_OP_POW);
    t_loss(m, dn_ir_binary(m->g, op, form == 2 ? b : a, form == 2 ? a : b, L));
    t_check(m, dn_fmt("%s form %d", dn_ops[op].name, form));
  }
}
END_TEST

/* max/min with exactly tied operands: the gradient splits in half (numerically too). */
START_TEST(test_max_min_ties) {
  for (int k = 0; k < 2; k++) {
    t_model *m = t_new();
    dn_node *a = t_param(m, dn_shape_of(1, (int64_t)5), 1, 0);
    dn_node *b = t_param(m, dn_shape_of(1, (int64_t)5), 1, 0);
    memcpy(m->env.param[1], m->env.param[0], sizeof(double) * 5);
    t_loss(m, dn_ir_binary(m->g, k ? DN_OP_MIN : DN_OP_MAX, a, b, L));
    t_check(m, "max/min ties");
  }
}
END_TEST

/* --- products --------------------------------------------------------------------------- */

/* Every transposition of a [2,3] @ [3,4] product. */
START_TEST(test_gemm_transpose) {
  int ta = _i & 1, tb = _i >> 1;
  t_model *m = t_new();
  dn_node *a = t_param(m, ta ? S2(3, 2) : S2(2, 3), 1, 0);
  dn_node *b = t_param(m, tb ? S2(4, 3) : S2(3, 4), 1, 0);
  dn_gemm g = {2, 4, 3, ta, tb, 1, 0, 0, 0};
  t_loss(m, dn_ir_gemm(m->g, a, b, g, S2(2, 4), 0, L));
  t_check(m, dn_fmt("gemm ta=%d tb=%d", ta, tb));
}
END_TEST

/* Batched products: a shared weight (sa = 0) over a batched input, and an accumulated
 * output (sc = 0) as a dense layer over a sequence reads it. */
START_TEST(test_gemm_strided) {
  for (int form = 0; form < 3; form++) {
    t_model *m = t_new();
    dn_node *w = t_param(m, S2(3, 4), 1, 0);
    dn_node *x = t_param(m, dn_shape_of(3, (int64_t)2, (int64_t)5, (int64_t)3), 1, 0);
    dn_node *y;
    if (form == 0) y = dn_ir_gemm(m->g, x, w, (dn_gemm){5, 4, 3, 0, 0, 2, 15, 0, 20}, dn_shape_of(3, (int64_t)2, (int64_t)5, (int64_t)4), 0, L);
    else if (form == 1) {
      dn_node *p = t_param(m, dn_shape_of(3, (int64_t)2, (int64_t)5, (int64_t)4), 1, 0);
      y = dn_ir_gemm(m->g, x, p, (dn_gemm){3, 4, 5, 1, 0, 2, 15, 20, 0}, S2(3, 4), 0, L);
    }
    else y = dn_ir_gemm(m->g, w, x, (dn_gemm){4, 5, 3, 1, 1, 2, 0, 15, 20}, dn_shape_of(3, (int64_t)2, (int64_t)4, (int64_t)5), 0, L);
    t_loss(m, y);
    t_check(m, dn_fmt("gemm strided form %d", form));
  }
}
END_TEST

/* --- reductions, normalizers, layout ---------------------------------------------------- */

START_TEST(test_reductions) {
  for (int k = 0; k < 4; k++) {
    t_model *m = t_new();
    dn_node *x = t_param(m, dn_shape_of(3, (int64_t)2, (int64_t)3, (int64_t)4), 1, 0);
    dn_node *y;
    if (k == 0) y = dn_ir_reduce(m->g, DN_OP_REDUCE_SUM, x, 0x5, L);
    else if (k == 1) y = dn_ir_reduce(m->g, DN_OP_REDUCE_MAX, x, 0x2, L);
    else if (k == 2) y = dn_ir_expand(m->g, dn_ir_reduce(m->g, DN_OP_REDUCE_SUM, x, 0x4, L), x->shape, L);
    else y = dn_ir_expand(m->g, t_param(m, dn_shape_of(3, (int64_t)1, (int64_t)3, (int64_t)1), 1, 0), x->shape, L);
    t_loss(m, y);
    t_check(m, dn_fmt("reduction %d", k));
  }
}
END_TEST

START_TEST(test_normalizers) {
  dn_op ops[3] = {DN_OP_SOFTMAX, DN_OP_LOG_SOFTMAX, DN_OP_LOGSUMEXP};
  for (int k = 0; k < 6; k++) {
    t_model *m = t_new();
    dn_node *x = t_param(m, S2(3, 5), 1, 0);
    t_loss(m, dn_ir_axis_op(m->g, ops[k % 3], x, k / 3, L));
    t_check(m, dn_ops[ops[k % 3]].name);
  }
}
END_TEST

/* Cross-entropy as the checker writes it: -pick(log_softmax(x), y), and via onehot. */
START_TEST(test_pick) {
  t_model *m = t_new();
  dn_node *y = t_input(m, dn_shape_make(0, NULL), 5);
  dn_node *w = t_param(m, S2(2, 5), 1, 0);
  dn_node *ls = dn_ir_axis_op(m->g, DN_OP_LOG_SOFTMAX, w, 1, L);
  dn_node *p = dn_ir_pick(m->g, ls, y, L);
  t_loss(m, dn_ir_unary(m->g, DN_OP_NEG, p, L));
  t_check(m, "pick");
}
END_TEST

START_TEST(test_layout) {
  for (int k = 0; k < 5; k++) {
    t_model *m = t_new();
    dn_node *x = t_param(m, dn_shape_of(3, (int64_t)2, (int64_t)3, (int64_t)4), 1, 0), *y;
    int perm[3] = {2, 0, 1};
    if (k == 0) y = dn_ir_transpose(m->g, x, perm, L);
    else if (k == 1) y = dn_ir_slice(m->g, x, 2, 1, 3, L);
    else if (k == 2) y = dn_ir_unslice(m->g, x, 1, 2, dn_shape_of(3, (int64_t)2, (int64_t)6, (int64_t)4), L);
    else if (k == 3) {
      dn_node *xs[3] = {x, t_param(m, dn_shape_of(3, (int64_t)2, (int64_t)3, (int64_t)2), 1, 0), x};
      y = dn_ir_concat(m->g, 3, xs, 2, L);
    } else y = dn_ir_reshape(m->g, x, S2(6, 4), L);
    t_loss(m, dn_ir_unary(m->g, DN_OP_TANH, y, L));
    t_check(m, dn_fmt("layout %d", k));
  }
}
END_TEST

/* --- structure --------------------------------------------------------------------------- */

/* y = x*x + x: two contributions to x's adjoint, summed by one ADD. */
START_TEST(test_accumulate) {
  t_model *m = t_new();
  dn_node *x = t_param(m, dn_shape_of(1, (int64_t)4), 1, 0);
  dn_node *y = dn_ir_binary(m->g, DN_OP_ADD, dn_ir_binary(m->g, DN_OP_MUL, x, x, L), x, L);
  t_loss(m, y);
  ck_assert_int_eq(dn_autodiff(m->g), 0);
  dn_node *gx = m->g->grads.v[0];
  ck_assert_int_eq(gx->op, DN_OP_ADD);
  ck_assert_int_eq(gx->in[0]->op, DN_OP_ADD);  /* the two halves of d(x*x), then + dy */
  t_compare(m, "accumulate");
}
END_TEST

/* A subgraph that depends on no trainable parameter gets no adjoint. */
START_TEST(test_pruning) {
  t_model *m = t_new();
  dn_node *in = t_input(m, dn_shape_of(1, (int64_t)3), 0);
  dn_node *st = t_param(m, S2(1, 3), 0, 0);  /* state: no gradient */
  dn_node *z = dn_ir_unary(m->g, DN_OP_SIGMOID, dn_ir_binary(m->g, DN_OP_ADD, in, st, L), L);
  dn_node *w = t_param(m, S2(1, 3), 1, 0);
  t_loss(m, dn_ir_binary(m->g, DN_OP_MUL, z, w, L));
  int before = m->g->nodes.n;
  ck_assert_int_eq(dn_autodiff(m->g), 0);
  for (int i = before; i < m->g->nodes.n; i++) {
    dn_node *n = m->g->nodes.v[i];
    ck_assert_msg(n->op != DN_OP_SUB && n->op != DN_OP_NEG, "gradient built for the input-only sigmoid");
  }
  ck_assert_ptr_null(m->g->grads.v[0]);
  t_compare(m, "pruning");
}
END_TEST

/* w [1,4] + x [2,4], and s rank 0 * x: reductions over the broadcast axes. */
START_TEST(test_broadcast_structure) {
  t_model *m = t_new();
  dn_node *x = t_input(m, dn_shape_of(1, (int64_t)4), 0);
  dn_node *w = t_param(m, S2(1, 4), 1, 0);
  dn_node *s = t_param(m, dn_shape_make(0, NULL), 1, 0);
  t_loss(m, dn_ir_binary(m->g, DN_OP_MUL, dn_ir_binary(m->g, DN_OP_ADD, x, w, L), s, L));
  ck_assert_int_eq(dn_autodiff(m->g), 0);
  dn_node *gw = m->g->grads.v[0], *gs = m->g->grads.v[1];
  ck_assert_int_eq(gw->op, DN_OP_REDUCE_SUM);
  ck_assert_uint_eq(gw->axes, 1);
  ck_assert_int_eq(gw->batched, 0);
  ck_assert_int_eq(gs->op, DN_OP_RESHAPE);
  ck_assert_int_eq(gs->shape.rank, 0);
  ck_assert_int_eq(gs->in[0]->op, DN_OP_REDUCE_SUM);
  t_compare(m, "broadcast");
}
END_TEST

/* An op without a rule on the gradient path is a located error naming it. */
START_TEST(test_missing_rule) {
  t_model *m = t_new();
  dn_node *w = t_param(m, dn_shape_of(4, (int64_t)2, (int64_t)1, (int64_t)3, (int64_t)3), 1, 0);
  dn_node *x = t_param(m, dn_shape_of(4, (int64_t)2, (int64_t)1, (int64_t)4, (int64_t)4), 1, 0);
  dn_window win = {2, 2, 1, 1, 0, 0, 1, 1, 1};
  dn_node *y = dn_ir_conv(m->g, DN_OP_CONV2D_BWD_W, w, x, win, dn_shape_of(4, (int64_t)1, (int64_t)1, (int64_t)2, (int64_t)2), L);
  t_loss(m, y);
  int errs = dn_error_count();
  ck_assert_int_eq(dn_autodiff(m->g), 1);
  ck_assert_int_eq(dn_error_count(), errs + 1);
}
END_TEST

/* A trainable parameter the loss never reads gets a zero gradient of its shape. */
START_TEST(test_unreached_param) {
  t_model *m = t_new();
  dn_node *w = t_param(m, S2(2, 2), 1, 0);
  (void)t_param(m, S2(3, 1), 1, 0);
  t_loss(m, dn_ir_unary(m->g, DN_OP_EXP, w, L));
  t_check(m, "unreached");
  dn_node *g1 = m->g->grads.v[1];
  ck_assert_int_eq(g1->op, DN_OP_CONST);
  ck_assert_double_eq(g1->alpha, 0);
}
END_TEST

static Suite *autodiff_suite(void) {
  Suite *s = suite_create("autodiff");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 60);
  tcase_add_loop_test(tc, test_unary, 0, N_UNARY);
  tcase_add_loop_test(tc, test_binary, 0, N_BINARY);
  tcase_add_test(tc, test_max_min_ties);
  tcase_add_loop_test(tc, test_gemm_transpose, 0, 4);
  tcase_add_test(tc, test_gemm_strided);
  tcase_add_test(tc, test_reductions);
  tcase_add_test(tc, test_normalizers);
  tcase_add_test(tc, test_pick);
  tcase_add_test(tc, test_layout);
  tcase_add_test(tc, test_accumulate);
  tcase_add_test(tc, test_pruning);
  tcase_add_test(tc, test_broadcast_structure);
  tcase_add_test(tc, test_missing_rule);
  tcase_add_test(tc, test_unreached_param);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(autodiff_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
