/* test_split.c - which training graphs the pipeline also builds for batch / N (--threads N:
 * the training step split by samples, codegen/emit.c part_body) and what that graph is; the
 * same for the inference graph (infer_part_bodies).
 *
 * The split step's numbers (losses, parameters and gradients after three steps against the
 * serial step) are checked in tests/scripts/test_threads_step.sh; here: a model splits when
 * no forward value mixes samples (dropout does not; batchnorm's batch statistics do) and N
 * divides the batch, and the part graph is the same model at batch / N with the same
 * gradients.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"

static dn_unit compile_for(const char *src, int64_t batch, int split, int train) {
  dn_unit u;
  memset(&u, 0, sizeof u);
  u.prog = dn_parse(dn_strdup("t.dnn"), dn_strdup(src), strlen(src));
  ck_assert_ptr_nonnull(u.prog);
  dn_pipeline_opts o = {"t.dnn", batch, train, 2, NULL, split};
  ck_assert_int_eq(dn_pipeline_ast(&o, &u), 0);
  return u;
}

static dn_unit compile(const char *src, int64_t batch, int split) { return compile_for(src, batch, split, 1); }

static const char *mlp = "model m\ninput x : [6]\ninput y : class(3)\nh = relu(dense(x, 5))\n"
                         "output o = dense(h, 3)\nloss = cross_entropy(o, y)\n";

START_TEST(mlp_splits) {
  dn_unit u = compile(mlp, 8, 2);
  ck_assert_ptr_nonnull(u.train_part);
  ck_assert_int_eq(u.train->batch, 8);
  ck_assert_int_eq(u.train_part->batch, 4);
  ck_assert_int_eq(u.train_part->grads.n, u.train->grads.n);
  ck_assert_int_eq(u.train_part->params.n, u.train->params.n);
  ck_assert_int_eq(dn_sample_separable(dn_sema(u.prog, "t.dnn", 8, DN_MODE_TRAIN)), 1);
  ck_assert_ptr_nonnull(u.infer_part);  /* the inference graph splits too (P_forward_v) */
  ck_assert_int_eq(u.infer_part->batch, 4);
  ck_assert_int_eq(u.infer_part->outputs.n, u.infer->outputs.n);
  ck_assert_ptr_nonnull(u.infer_part->loss_mean);  /* and P_evaluate_v */
  dn_unit i = compile_for(mlp, 8, 2, 0);  /* inference alone */
  ck_assert_ptr_null(i.train);
  ck_assert_ptr_nonnull(i.infer_part);
  ck_assert_int_eq(i.infer_part->batch, 4);
}
END_TEST

START_TEST(no_split_without_threads_or_divisor) {
  ck_assert_ptr_null(compile(mlp, 8, 0).train_part);
  ck_assert_ptr_null(compile(mlp, 8, 1).train_part);
  ck_assert_ptr_null(compile(mlp, 9, 2).train_part);
  ck_assert_ptr_nonnull(compile(mlp, 9, 3).train_part);
  ck_assert_ptr_null(compile(mlp, 8, 0).infer_part);
  ck_assert_ptr_null(compile(mlp, 8, 1).infer_part);
  ck_assert_ptr_null(compile(mlp, 9, 2).infer_part);
  ck_assert_ptr_nonnull(compile(mlp, 9, 3).infer_part);
}
END_TEST

START_TEST(batchnorm_mixes_samples) {
  dn_unit u = compile("model b\ninput x : [6]\ninput y : class(3)\nh = relu(batchnorm(dense(x, 5)))\n"
                      "output o = dense(h, 3)\nloss = cross_entropy(o, y)\n",
                      8, 2);
  ck_assert_ptr_null(u.train_part);
  ck_assert_int_eq(dn_sample_separable(dn_sema(u.prog, "t.dnn", 8, DN_MODE_TRAIN)), 0);
  ck_assert_ptr_nonnull(u.infer_part);  /* inference normalizes by the running statistics */
}
END_TEST

START_TEST(dropout_splits) {
  dn_unit u = compile("model d\ninput x : [6]\ninput y : class(3)\nh = dropout(relu(dense(x, 5)), 0.5)\n"
                      "output o = dense(h, 3)\nloss = cross_entropy(o, y)\n",
                      8, 2);
  ck_assert_ptr_nonnull(u.train_part);
  ck_assert_int_eq(u.train_part->batch, 4);
}
END_TEST

START_TEST(loops_split) {
  dn_unit u = compile("model l\ninput x : [9, 5]\ninput y : class(3)\nh = lstm(x, 6)\n"
                      "output o = dense(h[-1], 3)\nloss = cross_entropy(o, y)\n",
                      6, 3);
  ck_assert_ptr_nonnull(u.train_part);
  ck_assert_int_eq(u.train_part->batch, 2);
}
END_TEST

int main(void) {
  Suite *s = suite_create("split");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, mlp_splits);
  tcase_add_test(tc, no_split_without_threads_or_divisor);
  tcase_add_test(tc, batchnorm_mixes_samples);
  tcase_add_test(tc, dropout_splits);
  tcase_add_test(tc, loops_split);
  suite_add_tcase(s, tc);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
