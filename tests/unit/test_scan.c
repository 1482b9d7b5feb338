/* test_scan.c - recurrences as time loops: the structure the pipeline gives scans.
 *
 * Numbers (forward values, BPTT gradients) are checked elsewhere against PyTorch and finite
 * differences (tests/fixtures/rec_*, script.test_gradcheck_ops, script.test_scan_loops).
 * These tests pin down how: which scans stay loops (unroll.c), that the reverse scan of
 * BPTT recomputes no forward product (scan_save.c), that parameter gradients are summed
 * after the loop (scan_hoist.c, reductions) and that x_t @ W leaves the loop body
 * (scan_hoist.c, inputs).
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

/* A user-written RNN over T steps, and a built-in LSTM, each with a loss. */
static const char *rnn_src(int T) {
  return dn_fmt("model r\ninput x : [%d, 3]\ninput y : class(2)\nparam W : [4, 3]\nparam U : [4, 4]\nparam b : [4]\n"
                "scan x_t in x {\n  state h : [4] = 0\n  h = tanh(W @ x_t + U @ h + b)\n}\n"
                "output o = dense(h[-1], 2)\nloss = cross_entropy(o, y)\n",
                T);
}

static const char *lstm_src = "model l\ninput x : [9, 5]\ninput y : class(3)\nh = lstm(x, 6)\n"
                              "output o = dense(h[-1], 3)\nloss = cross_entropy(o, y)\n";

static dn_unit compile(const char *src, int train) {
  dn_unit u;
  memset(&u, 0, sizeof u);
  u.prog = dn_parse(dn_strdup("t.dnn"), dn_strdup(src), strlen(src));
  ck_assert_ptr_nonnull(u.prog);
  dn_pipeline_opts o = {"t.dnn", 4, train, 2, NULL, 0};
  ck_assert_int_eq(dn_pipeline_ast(&o, &u), 0);
  return u;
}

static int count_op(const dn_graph *g, dn_op op) {
  int k = 0;
  for (int i = 0; i < g->nodes.n; i++) k += ((dn_node *)g->nodes.v[i])->op == op;
  return k;
}

/* The forward loop (primal == NULL) or the reverse one of graph g. */
static dn_node *find_scan(const dn_graph *g, int adjoint) {
  for (int i = 0; i < g->nodes.n; i++) {
    dn_node *n = g->nodes.v[i];
    if (n->op == DN_OP_SCAN && (n->scan.primal != NULL) == adjoint) return n;
  }
  return NULL;
}

START_TEST(long_scans_are_loops) {
  dn_unit u = compile(rnn_src(9), 1);
  dn_node *f = find_scan(u.infer, 0);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(f->scan.loop, 1);
  ck_assert_int_eq(count_op(u.infer, DN_OP_SCAN), 1);
  dn_node *fw = find_scan(u.train, 0), *bw = find_scan(u.train, 1);
  ck_assert_ptr_nonnull(fw);
  ck_assert_ptr_nonnull(bw);
  ck_assert_ptr_eq(bw->scan.primal, fw);
  ck_assert_int_eq(bw->scan.reverse, !fw->scan.reverse);
  ck_assert_int_eq(bw->scan.steps, 9);
}
END_TEST

START_TEST(short_scans_unroll) {
  dn_unit u = compile(rnn_src(2), 1);
  ck_assert_int_eq(count_op(u.infer, DN_OP_SCAN), 0);
  ck_assert_int_eq(count_op(u.train, DN_OP_SCAN), 0);
  setenv("DNNCC_UNROLL", "1", 1);
  u = compile(rnn_src(9), 1);
  unsetenv("DNNCC_UNROLL");
  ck_assert_int_eq(count_op(u.train, DN_OP_SCAN), 0);
}
END_TEST

/* W @ x_t runs before the loop: one GEMM left in the forward body (U @ h). */
START_TEST(input_product_leaves_the_loop) {
  dn_unit u = compile(rnn_src(9), 0);
  dn_node *f = find_scan(u.infer, 0);
  ck_assert_int_eq(count_op(f->scan.body, DN_OP_GEMM), 1);
  ck_assert_int_eq(f->scan.n_seq, 2); /* x and x @ W^T */
}
END_TEST

/* The reverse loop of an LSTM: one product per step (dz @ U, the carried adjoint), no
 * recomputed forward product, no parameter accumulator (dU, db are summed after it). */
START_TEST(reverse_loop_is_lean) {
  dn_unit u = compile(lstm_src, 1);
  dn_node *bw = find_scan(u.train, 1);
  ck_assert_ptr_nonnull(bw);
  ck_assert_int_eq(count_op(bw->scan.body, DN_OP_GEMM), 1);
  for (int k = 0; k < bw->scan.n_state; k++) ck_assert(bw->in[bw->scan.n_seq + k]->batched);
  ck_assert_int_eq(count_op(bw->scan.body, DN_OP_SIGMOID) + count_op(bw->scan.body, DN_OP_TANH), 0);
}
END_TEST

/* A loop whose body reads no parameter (a running sum): nothing to lift, no inputs to add
 * (inserting zero inputs copied from a NULL array, undefined behaviour the fuzzer found;
 * the sanitizer job runs this test). */
START_TEST(loop_without_parameters) {
  dn_unit u = compile("model c\ninput x : [6, 5]\nscan xt in x {\n  state h : [5] = 0\n  h = h + xt\n}\noutput y = h\n", 0);
  dn_node *f = find_scan(u.infer, 0);
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(f->scan.loop, 1);
  ck_assert_int_eq(f->scan.n_outer, 0);
}
END_TEST

int main(void) {
  Suite *s = suite_create("scan");
  TCase *t = tcase_create("loops");
  tcase_add_test(t, long_scans_are_loops);
  tcase_add_test(t, short_scans_unroll);
  tcase_add_test(t, input_product_leaves_the_loop);
  tcase_add_test(t, reverse_loop_is_lean);
  tcase_add_test(t, loop_without_parameters);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? 1 : 0;
}
