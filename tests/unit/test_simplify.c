/* test_simplify.c - the simplify pass (compiler/simplify.c) on hand-built IR graphs.
 *
 * CSE merges equal nodes (and keeps different attributes apart), constant folding and the
 * algebraic identities remove nodes, DCE drops dead nodes but keeps side effects and every
 * root, ids are renumbered and references updated, a ReLU's gradient mask after a max
 * pooling gradient becomes that gradient's flag, -O0 only removes dead code, and the
 * simplified graph computes the same values as the original (reference interpreter).
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "pipeline.h"
#include "test_autodiff_eval.h"

static const dn_loc L = {"t.dnn", 1, 1};

typedef struct t_g {
  dn_graph *g;
  te_env env;
} t_g;

static t_g *t_new(void) {
  t_g *t = dn_alloc(sizeof *t); /* arena: freed with the graph */
  t->g = dn_graph_new("t", 2, DN_MODE_TRAIN);
  return t;
}

/* A parameter [2,3] holding 0.1 * (k + 1 + index). */
static dn_node *t_param(t_g *t, int trainable) {
  dn_param *p = dn_alloc(sizeof *p);
  p->name = dn_fmt("p%d", t->g->params.n);
  p->shape = dn_shape_of(2, (int64_t)2, (int64_t)3);
  p->trainable = trainable;
  int i = t->g->params.n;
  dn_vec_push(&t->g->params, p);
  t->env.param[i] = dn_alloc(sizeof(double) * 6);
  for (int j = 0; j < 6; j++) t->env.param[i][j] = 0.1 * (i + 1 + j);
  return dn_ir_param(t->g, i, L);
}

static void t_output(t_g *t, const char *name, dn_node *n) {
  dn_output *o = dn_alloc(sizeof *o);
  o->name = name;
  o->node = n;
  dn_vec_push(&t->g->outputs, o);
}

static dn_node *out(t_g *t, int i) { return ((dn_output *)t->g->outputs.v[i])->node; }

static int count_op(const dn_graph *g, dn_op op) {
  int c = 0;
  for (int i = 0; i < g->nodes.n; i++) c += ((dn_node *)g->nodes.v[i])->op == op;
  return c;
}

/* The values of every output, evaluated by the reference interpreter (arena memory). */
static double *t_values(t_g *t) {
  double **v = te_eval(t->g, &t->env);
  double *r = dn_alloc(sizeof(double) * 6 * (size_t)t->g->outputs.n);
  for (int i = 0; i < t->g->outputs.n; i++)
    for (int j = 0; j < 6; j++) r[i * 6 + j] = v[out(t, i)->id][dn_shape_count(out(t, i)->shape) > 1 ? j : 0];
  te_free(t->g, v);
  return r;
}

START_TEST(test_cse) {
  t_g *t = t_new();
  dn_node *a = t_param(t, 1), *b = t_param(t, 1);
  dn_node *s1 = dn_ir_binary(t->g, DN_OP_ADD, a, b, L), *s2 = dn_ir_binary(t->g, DN_OP_ADD, a, b, L);
  dn_node *e1 = dn_ir_unary(t->g, DN_OP_ELU, s1, L), *e2 = dn_ir_unary(t->g, DN_OP_ELU, s2, L);
  e1->alpha = 1, e2->alpha = 0.5;   /* different attributes: not merged */
  dn_node *t1 = dn_ir_unary(t->g, DN_OP_TANH, s2, L), *t2 = dn_ir_unary(t->g, DN_OP_TANH, s1, L);
  t_output(t, "a", dn_ir_binary(t->g, DN_OP_MUL, e1, e2, L));
  t_output(t, "b", dn_ir_binary(t->g, DN_OP_SUB, t1, t2, L));
  double *before = t_values(t);
  dn_simplify(t->g, 2);
  dn_ir_verify(t->g);
  ck_assert_int_eq(count_op(t->g, DN_OP_ADD), 1);
  ck_assert_int_eq(count_op(t->g, DN_OP_ELU), 2);
  ck_assert_int_eq(count_op(t->g, DN_OP_TANH), 1);
  dn_node *sub = out(t, 1);
  ck_assert_ptr_eq(sub->in[0], sub->in[1]);
  double *after = t_values(t);
  for (int j = 0; j < 12; j++) ck_assert_double_eq_tol(before[j], after[j], 1e-12);
}
END_TEST

START_TEST(test_fold_and_identities) {
  t_g *t = t_new();
  dn_node *x = t_param(t, 1);
  dn_node *two = dn_ir_scalar(t->g, 2, L), *three = dn_ir_scalar(t->g, 3, L);
  dn_node *six = dn_ir_binary(t->g, DN_OP_MUL, two, three, L);                 /* folds to 6 */
  dn_node *one = dn_ir_binary(t->g, DN_OP_SUB, six, dn_ir_scalar(t->g, 5, L), L);  /* folds to 1 */
  dn_node *y = dn_ir_binary(t->g, DN_OP_MUL, x, one, L);                        /* x * 1 -> x */
  y = dn_ir_binary(t->g, DN_OP_ADD, y, dn_ir_scalar(t->g, 0, L), L);            /* + 0 -> x */
  y = dn_ir_unary(t->g, DN_OP_NEG, dn_ir_unary(t->g, DN_OP_NEG, y, L), L);      /* neg neg -> x */
  dn_node *r = dn_ir_reshape(t->g, dn_ir_reshape(t->g, y, dn_shape_of(1, (int64_t)6), L), dn_shape_of(2, (int64_t)3, (int64_t)2), L);
  r = dn_ir_reshape(t->g, r, dn_shape_of(2, (int64_t)2, (int64_t)3), L);         /* back: -> x */
  dn_node *z = dn_ir_binary(t->g, DN_OP_MUL, x, dn_ir_scalar(t->g, 0, L), L);     /* x * 0 -> 0 */
  t_output(t, "y", dn_ir_unary(t->g, DN_OP_EXP, r, L));
  t_output(t, "z", dn_ir_binary(t->g, DN_OP_ADD, z, six, L));                    /* 0 + 6 -> 6 */
  double *before = t_values(t);
  dn_simplify(t->g, 2);
  dn_ir_verify(t->g);
  ck_assert_ptr_eq(out(t, 0)->in[0], t->g->nodes.v[0]);   /* exp(x) directly */
  ck_assert_int_eq(out(t, 0)->in[0]->op, DN_OP_PARAM);
  ck_assert_int_eq(out(t, 1)->op, DN_OP_CONST);            /* a root folded in place */
  ck_assert_double_eq(out(t, 1)->alpha, 6);
  ck_assert_int_eq(t->g->nodes.n, 3);                     /* x, exp, const */
  double *after = t_values(t);
  for (int j = 0; j < 12; j++) ck_assert_double_eq_tol(before[j], after[j], 1e-12);
}
END_TEST

/* Dead nodes go; ASSIGN (a side effect), loss, loss_mean and grads stay; ids renumbered. */
START_TEST(test_dce) {
  for (int level = 0; level < 3; level += 2) {
    t_g *t = t_new();
    dn_node *w = t_param(t, 1), *st = t_param(t, 0);
    (void)dn_ir_unary(t->g, DN_OP_EXP, w, L);                                  /* dead */
    dn_node *upd = dn_ir_binary(t->g, DN_OP_MUL, w, dn_ir_scalar(t->g, 0.5, L), L);
    dn_ir_assign(t->g, st, upd, L);
    (void)dn_ir_unary(t->g, DN_OP_SIN, w, L);                                  /* dead */
    dn_node *sq = dn_ir_unary(t->g, DN_OP_SQUARE, w, L);
    t->g->loss_mean = dn_ir_reshape(t->g, dn_ir_reduce(t->g, DN_OP_REDUCE_SUM, sq, 3, L), dn_shape_make(0, NULL), L);
    dn_vec_push(&t->g->grads, dn_ir_binary(t->g, DN_OP_MUL, w, dn_ir_scalar(t->g, 2, L), L));
    dn_vec_push(&t->g->grads, NULL);
    dn_simplify(t->g, level);
    dn_ir_verify(t->g);
    ck_assert_int_eq(count_op(t->g, DN_OP_EXP), 0);
    ck_assert_int_eq(count_op(t->g, DN_OP_SIN), 0);
    ck_assert_int_eq(count_op(t->g, DN_OP_ASSIGN), 1);
    ck_assert_int_eq(((dn_node *)t->g->grads.v[0])->op, DN_OP_MUL);
    ck_assert_ptr_null(t->g->grads.v[1]);
    ck_assert_int_eq(t->g->loss_mean->op, DN_OP_RESHAPE);
    for (int i = 0; i < t->g->nodes.n; i++) ck_assert_int_eq(((dn_node *)t->g->nodes.v[i])->id, i);
  }
}
END_TEST

/* -O0 keeps duplicates and identities; only dead code goes. */
START_TEST(test_o0_only_dce) {
  t_g *t = t_new();
  dn_node *a = t_param(t, 1);
  dn_node *s1 = dn_ir_binary(t->g, DN_OP_ADD, a, a, L), *s2 = dn_ir_binary(t->g, DN_OP_ADD, a, a, L);
  dn_node *m1 = dn_ir_binary(t->g, DN_OP_MUL, s1, dn_ir_scalar(t->g, 1, L), L);
  (void)dn_ir_unary(t->g, DN_OP_EXP, a, L);
  t_output(t, "y", dn_ir_binary(t->g, DN_OP_SUB, m1, s2, L));
  dn_simplify(t->g, 0);
  dn_ir_verify(t->g);
  ck_assert_int_eq(count_op(t->g, DN_OP_ADD), 2);
  ck_assert_int_eq(count_op(t->g, DN_OP_MUL), 1);
  ck_assert_int_eq(count_op(t->g, DN_OP_EXP), 0);
}
END_TEST

/* MUL(maxpool_bwd(x, dy), step(x)), either order, becomes maxpool_bwd with axis 1 (in
 * place: outputs are roots); a step of another tensor is left alone. */
START_TEST(test_pool_relu) {
  t_g *t = t_new();
  dn_shape s4 = dn_shape_of(4, (int64_t)1, (int64_t)1, (int64_t)2, (int64_t)3);
  dn_node *x = dn_ir_reshape(t->g, t_param(t, 1), s4, L), *dy = dn_ir_reshape(t->g, t_param(t, 1), s4, L);
  dn_node *in[2] = {x, dy};
  dn_window w = {1, 1, 1, 1, 0, 0, 1, 1, 1};
  dn_node *pb = dn_ir_pool(t->g, DN_OP_MAXPOOL2D_BWD, 2, in, w, s4, L);
  t_output(t, "a", dn_ir_binary(t->g, DN_OP_MUL, pb, dn_ir_unary(t->g, DN_OP_STEP, x, L), L));
  t_output(t, "b", dn_ir_binary(t->g, DN_OP_MUL, dn_ir_unary(t->g, DN_OP_STEP, x, L), pb, L));
  t_output(t, "c", dn_ir_binary(t->g, DN_OP_MUL, pb, dn_ir_unary(t->g, DN_OP_STEP, dy, L), L));
  dn_simplify(t->g, 2);
  dn_ir_verify(t->g);
  for (int i = 0; i < 2; i++) {
    ck_assert_int_eq(out(t, i)->op, DN_OP_MAXPOOL2D_BWD);
    ck_assert_int_eq(out(t, i)->axis, 1);
    ck_assert_ptr_eq(out(t, i)->in[0], x);
    ck_assert_ptr_eq(out(t, i)->in[1], dy);
  }
  ck_assert_int_eq(out(t, 2)->op, DN_OP_MUL);
  ck_assert_int_eq(out(t, 2)->in[0]->op, DN_OP_MAXPOOL2D_BWD);
  ck_assert_int_eq(out(t, 2)->in[0]->axis, 0);
  ck_assert_int_eq(count_op(t->g, DN_OP_MAXPOOL2D_BWD), 3);  /* a, b, and c's unflagged one */
}
END_TEST

/* Random nodes are never merged: two dropout masks must differ. */
START_TEST(test_no_cse_random) {
  t_g *t = t_new();
  dn_shape s = dn_shape_of(2, (int64_t)2, (int64_t)3);
  dn_node *r1 = dn_ir_rand(t->g, 0, 1, s, 1, L), *r2 = dn_ir_rand(t->g, 0, 1, s, 1, L);
  t_output(t, "y", dn_ir_binary(t->g, DN_OP_ADD, r1, r2, L));
  dn_simplify(t->g, 2);
  ck_assert_int_eq(count_op(t->g, DN_OP_RAND_UNIFORM), 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("simplify");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_cse);
  tcase_add_test(tc, test_fold_and_identities);
  tcase_add_test(tc, test_dce);
  tcase_add_test(tc, test_o0_only_dce);
  tcase_add_test(tc, test_no_cse_random);
  tcase_add_test(tc, test_pool_relu);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
