/* test_sema.c - unit tests of the checker (compiler/sema*.c): shape rules of every
 * operation (valid and invalid), SPEC 2.6 parameter naming (against the conformance cases'
 * case.json), scopes and name errors, constants, scan blocks, losses, the train block and
 * the diagnostic format. Programs are compiled from strings; stderr is captured so tests
 * can check the messages. Expected shapes come from the SPEC formulas computed here.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ast.h"
#include "ir.h"
#include "pipeline.h"

static char errbuf[16384];
static int file_no;
static const char *cur_file;

/* Parses and checks `src`; captures diagnostics in errbuf. NULL on errors. */
static dn_graph *compile_mode(const char *src, int64_t batch, dn_mode mode) {
  static char name[64];
  snprintf(name, sizeof name, "t%d.dnn", ++file_no);
  cur_file = name;
  dn_diag_reset();
  fflush(stderr);
  int saved = dup(2);
  FILE *tmp = tmpfile();
  dup2(fileno(tmp), 2);
  dn_ast *p = dn_parse(dn_strdup(name), dn_strdup(src), strlen(src));
  dn_graph *g = p ? dn_sema(p, name, batch, mode) : NULL;
  if (g) dn_ir_verify(g);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(tmp);
  size_t n = fread(errbuf, 1, sizeof errbuf - 1, tmp);
  errbuf[n] = 0;
  fclose(tmp);
  return g;
}

static dn_graph *compile(const char *src) { return compile_mode(src, 1, DN_MODE_INFER); }

/* Per-sample shape text of output i. */
static const char *out_shape(dn_graph *g, int i) {
  return dn_shape_str(dn_sample_shape(((dn_output *)g->outputs.v[i])->node));
}

/* Asserts `src` compiles and its first output has per-sample shape `want`. */
static void expect_shape(const char *src, const char *want) {
  dn_graph *g = compile(src);
  ck_assert_msg(g != NULL, "did not compile:\n%s\n%s", src, errbuf);
  ck_assert_msg(strcmp(out_shape(g, 0), want) == 0, "%s: got %s, want %s", src, out_shape(g, 0), want);
}

/* Asserts `src` fails with an error at `line` whose text contains `word`. */
static void expect_error(const char *src, int line, const char *word) {
  dn_graph *g = compile(src);
  ck_assert_msg(g == NULL, "compiled but should not:\n%s", src);
  char where[96];
  snprintf(where, sizeof where, "%s:%d:", cur_file, line);
  ck_assert_msg(strstr(errbuf, where) && strstr(errbuf, "error:"), "no '%s ... error' for:\n%s\ngot:\n%s", where, src, errbuf);
  ck_assert_msg(strstr(errbuf, word), "message lacks '%s' for:\n%s\ngot:\n%s", word, src, errbuf);
}

static const char *dims2(long long a, long long b) { return dn_fmt("[%lld, %lld]", a, b); }
static const char *dims3(long long a, long long b, long long c) { return dn_fmt("[%lld, %lld, %lld]", a, b, c); }
static long long conv_out(long long in, long long k, long long s, long long p, long long d) {
  return (in + 2 * p - d * (k - 1) - 1) / s + 1;
}

/* Index of the parameter named `name`, -1 if none. */
static int param_index(dn_graph *g, const char *name) {
  for (int i = 0; i < g->params.n; i++)
    if (strcmp(((dn_param *)g->params.v[i])->name, name) == 0) return i;
  return -1;
}

static int count_op(dn_graph *g, dn_op op) {
  int n = 0;
  for (int i = 0; i < g->nodes.n; i++) n += ((dn_node *)g->nodes.v[i])->op == op;
  return n;
}

/* --- elementwise and products ------------------------------------------------------ */

START_TEST(broadcasting) {
  expect_shape("input a : [4, 1]\ninput b : [3]\noutput c = a + b\n", dims2(4, 3));
  expect_shape("input a : [4, 3]\nparam w : [3]\noutput c = a * w - 1\n", dims2(4, 3));
  expect_shape("input a : [2, 3]\noutput c = 2 / a ^ 2\n", dims2(2, 3));
  expect_error("input a : [10]\ninput b : [6]\noutput c = a - b\n", 3, "broadcast");
  expect_error("input y : class(3)\noutput c = y + 1\n", 2, "onehot");
}
END_TEST

START_TEST(matmul) {
  expect_shape("input x : [4]\nparam W : [3, 4]\noutput y = W @ x\n", "[3]");
  expect_shape("input x : [4]\nparam W : [4, 5]\noutput y = x @ W\n", "[5]");
  expect_shape("input x : [2, 4]\nparam W : [4, 5]\noutput y = x @ W\n", dims2(2, 5));
  expect_shape("input x : [2, 5]\nparam W : [3, 2]\noutput y = W @ x\n", dims2(3, 5));
  expect_shape("input x : [2, 5]\ninput z : [5, 7]\noutput y = x @ z\n", dims2(2, 7));
  expect_shape("input x : [6]\noutput y = x @ x\n", "[]");
  expect_error("input x : [4]\nparam W : [3, 5]\noutput y = W @ x\n", 3, "inner");
  expect_error("input x : [4, 4, 4]\noutput y = x @ x\n", 2, "[m, k]");
  /* W @ x folds the batch into m: gemm(A = x, B = W, m = B, tb = 1) */
  dn_graph *g = compile_mode("input x : [4]\nparam W : [3, 4]\noutput y = W @ x\n", 5, DN_MODE_INFER);
  dn_node *y = ((dn_output *)g->outputs.v[0])->node;
  ck_assert_int_eq(y->op, DN_OP_GEMM);
  ck_assert_int_eq(y->gemm.m, 5);
  ck_assert_int_eq(y->gemm.n, 3);
  ck_assert_int_eq(y->gemm.tb, 1);
  ck_assert_int_eq(y->in[0]->op, DN_OP_INPUT);
}
END_TEST

START_TEST(dense_rule) {
  dn_graph *g = compile("input x : [5, 7]\noutput y = dense(x, 3)\n");
  ck_assert_ptr_nonnull(g);
  ck_assert_str_eq(out_shape(g, 0), dims2(5, 3));
  int w = param_index(g, "y.weight"), b = param_index(g, "y.bias");
  ck_assert_int_ge(w, 0);
  ck_assert_int_ge(b, 0);
  ck_assert_str_eq(dn_shape_str(((dn_param *)g->params.v[w])->shape), dims2(3, 7));
  ck_assert_int_eq(((dn_param *)g->params.v[w])->fan_in, 7);
  expect_shape("input x : [7]\noutput y = dense(x, 3, bias=false)\n", "[3]");
  expect_error("input x : [7]\noutput y = dense(x, 3, bias=1)\n", 2, "true or false");
  expect_error("input x : [7]\noutput y = dense(sum(x), 3)\n", 2, "dense");
}
END_TEST

START_TEST(conv_rules) {
  expect_shape("input x : [1, 28, 28]\noutput y = conv2d(x, 6, kernel=5, pad=2)\n",
               dims3(6, conv_out(28, 5, 1, 2, 1), conv_out(28, 5, 1, 2, 1)));
  expect_shape("input x : [3, 17, 15]\noutput y = conv2d(x, 8, 3, stride=2, pad=same)\n",
               dims3(8, (17 + 1) / 2, (15 + 1) / 2));
  expect_shape("input x : [4, 9, 9]\noutput y = conv2d(x, 6, [3, 1], stride=[2, 1], pad=[1, 0], dilation=2, groups=2)\n",
               dims3(6, conv_out(9, 3, 2, 1, 2), conv_out(9, 1, 1, 0, 2)));
  expect_shape("input x : [3, 20]\noutput y = conv1d(x, 5, 4, stride=2)\n", dims2(5, conv_out(20, 4, 2, 0, 1)));
  expect_shape("input x : [3, 5, 6]\noutput y = conv2d_transpose(x, 2, 3, stride=2, pad=1, output_pad=1)\n",
               dims3(2, (5 - 1) * 2 - 2 + 2 + 1 + 1, (6 - 1) * 2 - 2 + 2 + 1 + 1));
  dn_graph *g = compile("input x : [4, 6, 6]\noutput y = conv2d(x, 8, 3, groups=2)\n");
  ck_assert_str_eq(dn_shape_str(((dn_param *)g->params.v[0])->shape), dn_fmt("[8, %d, 3, 3]", 4 / 2));
  ck_assert_int_eq(((dn_param *)g->params.v[0])->fan_in, 4 / 2 * 3 * 3);
  g = compile("input x : [4, 6, 6]\noutput y = conv2d_transpose(x, 8, 3)\n");
  ck_assert_str_eq(dn_shape_str(((dn_param *)g->params.v[0])->shape), "[4, 8, 3, 3]");
  ck_assert_int_eq(count_op(g, DN_OP_CONV2D_BWD_DATA), 1);
  /* pad=same: out = ceil(in / stride), total = (out-1)*stride + k - in, before = total / 2 */
  g = compile("input x : [1, 5, 6]\noutput y = conv2d(x, 2, 4, stride=[1, 2], pad=same, bias=false)\n");
  dn_node *cv = ((dn_output *)g->outputs.v[0])->node;
  ck_assert_int_eq(cv->op, DN_OP_CONV2D);
  ck_assert_int_eq(cv->win.ph, ((5 - 1) * 1 + 4 - 5) / 2);
  ck_assert_int_eq(cv->win.pw, ((6 + 1) / 2 - 1) * 2 + 4 - 6 > 0 ? (((6 + 1) / 2 - 1) * 2 + 4 - 6) / 2 : 0);
  ck_assert_int_eq(cv->shape.dim[3], (6 + 2 - 1) / 2);
  expect_error("input x : [784]\noutput y = conv2d(x, 8, kernel=3)\n", 2, "[C, H, W]");
  expect_error("input x : [1, 4, 4]\noutput y = conv2d(x, 2, kernel=7)\n", 2, "empty");
  expect_error("input x : [3, 8, 8]\noutput y = conv2d(x, 4, 3, groups=2)\n", 2, "groups");
  expect_error("input x : [3, 8, 8]\noutput y = conv2d(x, 4, 3, pad=true)\n", 2, "pad");
  expect_error("input x : [3, 8]\noutput y = conv1d(x, 4, [3, 3])\n", 2, "integer");
  expect_error("input x : [3, 8, 8]\noutput y = conv2d(x, 4)\n", 2, "kernel");
}
END_TEST

START_TEST(pool_rules) {
  expect_shape("input x : [6, 28, 28]\noutput y = maxpool(x, 2)\n", dims3(6, 14, 14));
  expect_shape("input x : [6, 9, 9]\noutput y = avgpool(x, 3, stride=2, pad=1)\n",
               dims3(6, conv_out(9, 3, 2, 1, 1), conv_out(9, 3, 2, 1, 1)));
  expect_shape("input x : [6, 8, 8]\noutput y = l2pool(x, 2)\n", dims3(6, 4, 4));
  expect_shape("input x : [6, 8, 7]\noutput y = global_avgpool(x)\n", "[6]");
  expect_shape("input x : [6, 10]\noutput y = maxpool1d(x, 3)\n", dims2(6, conv_out(10, 3, 3, 0, 1)));
  expect_shape("input x : [6, 10]\noutput y = avgpool1d(x, 2, 1)\n", dims2(6, conv_out(10, 2, 1, 0, 1)));
  dn_graph *g = compile("input x : [2, 4, 4]\noutput y = avgpool(x, 2)\n");
  ck_assert_int_eq(count_op(g, DN_OP_SUMPOOL2D), 1);
  expect_error("input x : [6, 3, 3]\noutput y = maxpool(x, 4)\n", 2, "empty");
  expect_error("input x : [6, 10]\noutput y = maxpool(x, 2)\n", 2, "[C, H, W]");
  expect_error("input x : [6, 8, 8]\noutput y = maxpool(x, 2, pad=2)\n", 2, "half");
}
END_TEST

/* --- normalization, activations, reductions --------------------------------------------- */

START_TEST(batchnorm_rule) {
  const char *src = "input x : [3, 4, 4]\noutput y = batchnorm(x)\n";
  dn_graph *g = compile(src);
  ck_assert_str_eq(out_shape(g, 0), dims3(3, 4, 4));
  ck_assert_int_eq(g->params.n, 4);
  ck_assert(((dn_param *)g->params.v[param_index(g, "y.weight")])->trainable);
  ck_assert(!((dn_param *)g->params.v[param_index(g, "y.running_mean")])->trainable);
  ck_assert(!((dn_param *)g->params.v[param_index(g, "y.running_var")])->trainable);
  ck_assert_int_eq(count_op(g, DN_OP_ASSIGN), 0);
  g = compile_mode(src, 4, DN_MODE_TRAIN);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(count_op(g, DN_OP_ASSIGN), 2);
  expect_error("input x : [3]\noutput y = batchnorm(sum(x))\n", 2, "batchnorm");
}
END_TEST

START_TEST(random_ops) {
  const char *src = "input x : [8]\noutput y = dropout(x, 0.25) + rrelu(x)\n";
  dn_graph *g = compile(src);
  ck_assert_int_eq(count_op(g, DN_OP_RAND_UNIFORM), 0);
  g = compile_mode(src, 2, DN_MODE_TRAIN);
  ck_assert_int_eq(count_op(g, DN_OP_RAND_UNIFORM), 2);
  expect_error("input x : [8]\noutput y = dropout(x, 1.5)\n", 2, "dropout");
  g = compile("input x : [8]\noutput y = prelu(x)\n");
  dn_param *p = g->params.v[0];
  ck_assert_str_eq(p->name, "y.weight");
  ck_assert_int_eq(p->init, DN_INIT_CONST);
  ck_assert(p->init_a == 0.25);
}
END_TEST

START_TEST(activations) {
  const char *fns[] = {"relu", "sigmoid", "tanh", "softplus", "step", "sign", "exp", "log", "sqrt",
                       "abs", "square", "sin", "cos", "elu", "leaky_relu", "hardtanh", "rrelu", "prelu"};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    expect_shape(dn_fmt("input x : [3, 5]\noutput y = %s(x)\n", fns[i]), dims2(3, 5));
  expect_shape("input x : [3, 5]\noutput y = clamp(x, -1, 1) + pow(x, 3) + max(x, 0) + min(x, x)\n", dims2(3, 5));
  expect_shape("input x : [8, 5]\noutput y = maxout(x, 4)\n", dims2(8 / 4, 5));
  expect_error("input x : [6, 5]\noutput y = maxout(x, 4)\n", 2, "multiple");
  expect_error("input x : [6]\noutput y = clamp(x, 1, -1)\n", 2, "lo <= hi");
  expect_error("input x : [6]\noutput y = relu(x, 2)\n", 2, "at most 1");
}
END_TEST

START_TEST(reductions) {
  expect_shape("input x : [3, 5]\noutput y = sum(x)\n", "[]");
  expect_shape("input x : [3, 5]\noutput y = mean(x, axis=0)\n", "[5]");
  expect_shape("input x : [3, 5]\noutput y = reduce_max(x, axis=-1)\n", "[3]");
  expect_shape("input x : [3, 5]\noutput y = logsumexp(x)\n", "[3]");
  expect_shape("input x : [3, 5]\noutput y = softmax(x, axis=0) + log_softmax(x)\n", dims2(3, 5));
  expect_error("input x : [3, 5]\noutput y = sum(x, axis=2)\n", 2, "axis");
  dn_graph *g = compile("input x : [3, 5]\noutput y = log_softmax(x)\n");
  ck_assert_int_eq(count_op(g, DN_OP_LOG_SOFTMAX), 1);
}
END_TEST

/* --- shapes, indexing ------------------------------------------------------------------ */

START_TEST(shape_ops) {
  expect_shape("input x : [3, 4, 5]\noutput y = flatten(x)\n", dn_fmt("[%d]", 3 * 4 * 5));
  expect_shape("input x : [3, 4, 5]\noutput y = reshape(x, [-1, 5])\n", dims2(3 * 4, 5));
  expect_shape("input x : [3, 4]\noutput y = transpose(x)\n", dims2(4, 3));
  expect_shape("input x : [3, 4, 5]\noutput y = transpose(x, [2, 0, 1])\n", dims3(5, 3, 4));
  expect_shape("input a : [3, 4]\ninput b : [2, 4]\noutput y = concat(a, b, ones([1, 4]))\n", dims2(3 + 2 + 1, 4));
  expect_shape("input a : [3, 4]\noutput y = concat(a, a, axis=-1)\n", dims2(3, 8));
  expect_shape("input a : [3]\noutput y = a + zeros([3]) + range(3)\n", "[3]");
  expect_shape("input y : class(4)[2]\noutput o = onehot(y, 4)\n", dims2(2, 4));
  expect_shape("input y : class(7)[5]\noutput o = embedding(y, 7, 3)\n", dims2(5, 3));
  expect_error("input x : [3, 4]\noutput y = reshape(x, [5, -1])\n", 2, "reshape");
  expect_error("input a : [3, 4]\ninput b : [3, 5]\noutput y = concat(a, b)\n", 3, "concat");
  expect_error("input x : [3, 4, 5]\noutput y = transpose(x)\n", 2, "permutation");
  expect_error("input y : class(4)\noutput o = onehot(y, 3)\n", 2, "at least");
  expect_error("input x : [4]\noutput o = embedding(x, 3, 2)\n", 2, "class");
}
END_TEST

START_TEST(indexing) {
  expect_shape("input x : [7, 6]\noutput y = x[-1]\n", "[6]");
  expect_shape("input x : [7, 6]\noutput y = x[2:5]\n", dims2(5 - 2, 6));
  expect_shape("input x : [7, 6]\noutput y = x[:, 1:]\n", dims2(7, 6 - 1));
  expect_shape("input x : [7, 6]\noutput y = x[1, -2:]\n", "[2]");
  expect_error("input x : [7, 6]\noutput y = x[7]\n", 2, "out of range");
  expect_error("input x : [7, 6]\noutput y = x[3:3]\n", 2, "empty");
  expect_error("input x : [7]\noutput y = x[0, 1]\n", 2, "too many");
}
END_TEST

/* --- losses ------------------------------------------------------------------------------ */

START_TEST(losses) {
  dn_graph *g = compile_mode("input x : [10]\ninput y : class(5)\noutput z = dense(x, 5)\nloss = cross_entropy(z, y)\n",
                             3, DN_MODE_TRAIN);
  ck_assert_ptr_nonnull(g);
  ck_assert_int_eq(g->loss->shape.rank, 1);
  ck_assert_int_eq(g->loss->shape.dim[0], 3);
  ck_assert_int_eq(g->loss_mean->shape.rank, 0);
  ck_assert(!((dn_input *)g->inputs.v[1])->for_inference);
  ck_assert(((dn_input *)g->inputs.v[0])->for_inference);
  const char *ok[] = {"mse(z, t)", "bce(sigmoid(z), t)", "bce_logits(z, t)", "cross_entropy(z, softmax(t))",
                      "nll(log_softmax(z), y)", "0.5 * sum((z - t) ^ 2)"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    g = compile(dn_fmt("input x : [10]\ninput t : [4]\ninput y : class(4)\noutput z = dense(x, 4)\nloss = %s\n", ok[i]));
    ck_assert_msg(g && g->loss && dn_sample_shape(g->loss).rank == 0, "%s: %s", ok[i], errbuf);
  }
  expect_error("input x : [10]\ninput y : class(5)\noutput z = dense(x, 10)\nloss = cross_entropy(z, y)\n", 4, "class");
  expect_error("input x : [10]\ninput t : [3]\noutput y = dense(x, 3)\nloss = (y - t) ^ 2\n", 4, "scalar");
  expect_error("input x : [10]\ninput t : [4]\noutput y = dense(x, 3)\nloss = mse(y, t)\n", 4, "same shape");
  expect_error("input x : [6, 4]\ninput y : class(4)[5]\noutput z = dense(x, 4)\nloss = cross_entropy(z, y)\n", 4, "labels");
}
END_TEST

/* --- names and scopes --------------------------------------------------------------------- */

START_TEST(name_rules) {
  expect_error("input x : [10]\nhidden = relu(x)\noutput y = dense(hiden, 2)\n", 3, "did you mean 'hidden'");
  expect_error("input x : [10]\noutput y = softmx(x)\n", 2, "did you mean 'softmax'");
  expect_error("input x : [10]\na = relu(x)\na = relu(a)\noutput y = a\n", 3, "redefinition");
  ck_assert_ptr_nonnull(strstr(errbuf, "note:"));
  expect_error("input x : [10]\ndef f(t) = g(t)\ndef g(t) = f(t)\noutput y = f(x)\n", 2, "recursion");
  expect_error("input x : [10]\ndef f(t) = f(t)\noutput y = f(x)\n", 2, "recursion");
  expect_error("input x : [10]\ndef f(t, n) = dense(t, n)\noutput y = f(x)\n", 3, "missing 'n'");
  expect_error("input x : [10]\noutput y = dense(x, 3, unit=4)\n", 2, "did you mean 'units'");
  expect_error("input x : [10]\noutput y = dense(x, 3, 4, 5)\n", 2, "at most");
  expect_error("input x : [10]\ndef relu(t) = t\noutput y = relu(x)\n", 2, "built-in");
  expect_error("input x : [10]\nf = 3\noutput y = f(x)\n", 3, "not a function");
  expect_error("input x : [10]\noutput y = x\noutput y = x\n", 3, "output");
  expect_error("input x : [10]\ny = relu(x)\n", 1, "no output");
  expect_error("input x : [10]\ndef f(t) = t\noutput y = f\n", 3, "def");
  expect_error("input x : [10]\noutput y = f(x)\ndef f(t) = t\n", 2, "before its definition");
  expect_error("input x : [10]\ndef f(t) {\n  a = t\n  a = t\n  return a\n}\noutput y = f(x)\n", 4, "redefinition");
  /* def locals may shadow globals; the global keeps its value */
  expect_shape("input x : [10]\nh = x * 2\ndef f(t) {\n  h = dense(t, 3)\n  return h\n}\noutput y = f(h) + h[0:3]\n", "[3]");
}
END_TEST

START_TEST(constants) {
  expect_shape("H = 4\nW = H * 2 - 1\ninput x : [4 * H, W]\noutput y = x\n", dims2(4 * 4, 4 * 2 - 1));
  expect_shape("H = 12 / 4\ninput x : [H]\noutput y = x\n", dn_fmt("[%d]", 12 / 4));
  expect_error("H = 2.5\ninput x : [H]\noutput y = x\n", 2, "integer");
  expect_error("input x : [0]\noutput y = x\n", 1, "at least 1");
  expect_error("input x : [100000, 100000, 100000, 100000]\noutput y = relu(x)\n", 1, "2^31");
  expect_error("A = 9007199254740992 * 4\ninput x : [3]\noutput y = x\n", 1, "overflow");
  expect_error("A = 1 / 0\ninput x : [3]\noutput y = x\n", 1, "zero");
  expect_error("input x : [65536]\noutput y = dense(x, 65536)\n", 2, "2^31");
}
END_TEST

/* --- naming (SPEC 2.6) ---------------------------------------------------------------------- */

/* Reads the "trainable" list of a case.json into names[]; returns the count. */
static int read_trainable(const char *path, char names[][128], int max) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static char text[1 << 16];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  char *p = strstr(text, "\"trainable\"");
  if (!p) return 0;
  p = strchr(p, '[');
  char *end = p ? strchr(p, ']') : NULL;
  int k = 0;
  while (p && end && k < max) {
    char *q = strchr(p, '"');
    if (!q || q > end) break;
    char *r = strchr(q + 1, '"');
    snprintf(names[k++], 128, "%.*s", (int)(r - q - 1), q + 1);
    p = r + 1;
  }
  return k;
}

START_TEST(conformance_names) {
  const char *src = getenv("DNNCC_SOURCE_DIR");
  const char *root = dn_fmt("%s/../shared/conformance/cases", src ? src : DNNCC_SOURCE_DIR);
  const char *cases[] = {"conv_same", "custom_act", "explicit", "lenet5", "lstm_last", "mlp", "res_inception", "scan_rnn"};
  int checked = 0;
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    static char want[64][128];
    int n = read_trainable(dn_fmt("%s/%s/case.json", root, cases[c]), want, 64);
    if (n < 0) continue;
    dn_diag_reset();
    dn_ast *prog = dn_parse_file(dn_fmt("%s/%s/model.dnn", root, cases[c]));
    ck_assert_ptr_nonnull(prog);
    dn_graph *g = dn_sema(prog, cases[c], 2, DN_MODE_TRAIN);
    ck_assert_ptr_nonnull(g);
    int k = 0;
    for (int i = 0; i < g->params.n; i++) {
      dn_param *p = g->params.v[i];
      if (!p->trainable) continue;
      ck_assert_msg(k < n && strcmp(p->name, want[k]) == 0, "%s: param %d is %s, want %s", cases[c], k, p->name,
                    k < n ? want[k] : "(none)");
      k++;
    }
    ck_assert_int_eq(k, n);
    checked++;
  }
  ck_assert_msg(checked > 0, "no conformance case found under %s", root);
}
END_TEST

START_TEST(nested_def_names) {
  dn_graph *g = compile("def lin(t, n) = dense(t, n)\n"
                        "def mlp(t) {\n  h = relu(lin(t, 8))\n  param s : [1]\n  return lin(h, 2) * s\n}\n"
                        "def plain(t) = t * 2\n"
                        "input x : [4]\n"
                        "a = mlp(plain(x))\n"
                        "b = mlp(x) + mlp(x)\n"
                        "output o = a + b\n");
  ck_assert_msg(g != NULL, "%s", errbuf);
  /* a def unit's return is a binding named `out`, so lin's weight inside h is h.out.weight */
  const char *want[] = {"a.h.out.weight", "a.h.out.bias", "a.s", "a.out.out.weight", "a.out.out.bias",
                        "b.0.h.out.weight", "b.0.h.out.bias", "b.0.s", "b.0.out.out.weight", "b.0.out.out.bias",
                        "b.1.h.out.weight", "b.1.h.out.bias", "b.1.s", "b.1.out.out.weight", "b.1.out.out.bias"};
  ck_assert_int_eq(g->params.n, (int)(sizeof want / sizeof want[0]));
  for (int i = 0; i < g->params.n; i++) ck_assert_str_eq(((dn_param *)g->params.v[i])->name, want[i]);
  g = compile("input x : [4]\nh = relu(dense(relu(dense(x, 6)), 3))\noutput o = h\n");
  ck_assert_str_eq(((dn_param *)g->params.v[0])->name, "h.0.weight");
  ck_assert_str_eq(((dn_param *)g->params.v[2])->name, "h.1.weight");
  ck_assert_int_eq(((dn_param *)g->params.v[2])->shape.dim[1], 6);
}
END_TEST

/* --- scan and recurrent layers --------------------------------------------------------------- */

START_TEST(scan_rules) {
  const char *src = "input x : [6, 5]\nparam W : [9, 5]\nparam U : [9, 9]\n"
                    "scan xt in x {\n  state h : [9] = 0\n  h = tanh(W @ xt + U @ h)\n}\noutput o = h[-1]\n";
  dn_graph *g = compile_mode(src, 3, DN_MODE_INFER);
  ck_assert_msg(g != NULL, "%s", errbuf);
  ck_assert_str_eq(out_shape(g, 0), "[9]");
  ck_assert_int_eq(count_op(g, DN_OP_SCAN), 1);
  expect_shape("input x : [6, 5]\nscan xt in reverse(x) {\n  state c : [5] = 1\n  c = c + xt\n}\noutput o = c\n", dims2(6, 5));
  expect_shape("input v : [3]\nscan t in range(4) {\n  state a : [3] = v\n  a = a * t\n}\noutput o = a\n", dims2(4, 3));
  expect_shape("input x : [6, 5]\ninput e : [4, 5]\nscan xt in x {\n  state h : [5] = 0\n"
               "  scan et in e {\n    state z : [5] = h\n    z = z + et * xt\n  }\n  h = z[-1]\n}\noutput o = h\n",
               dims2(6, 5));
  expect_error("input x : [6, 5]\nscan xt in x {\n  state h : [4] = 0\n  h = xt\n}\noutput o = h\n", 4, "keeps its shape");
  expect_error("input x : [6, 5]\nscan xt in x {\n  state h : [5] = 0\n  y = xt\n}\noutput o = h\n", 3, "never assigned");
  expect_error("input x : [6, 5]\nscan xt in x {\n  state h : [5] = 0\n  h = xt\n  h = h + 1\n}\noutput o = h\n", 5, "twice");
  expect_error("input x : [6, 5]\nscan xt in x {\n  state h : [5] = 0\n  y = xt\n  h = y\n}\noutput o = y\n", 7, "unknown");
}
END_TEST

START_TEST(recurrent_layers) {
  const char *kinds[] = {"rnn", "lstm", "gru"};
  int gates[] = {1, 4, 3};
  for (int k = 0; k < 3; k++) {
    dn_graph *g = compile_mode(dn_fmt("input x : [7, 6]\noutput h = %s(x, 10, reverse=true)\n", kinds[k]), 2, DN_MODE_INFER);
    ck_assert_msg(g != NULL, "%s", errbuf);
    ck_assert_str_eq(out_shape(g, 0), dims2(7, 10));
    ck_assert_str_eq(((dn_param *)g->params.v[0])->name, "h.weight_ih");
    ck_assert_str_eq(dn_shape_str(((dn_param *)g->params.v[0])->shape), dims2(gates[k] * 10, 6));
    ck_assert_str_eq(dn_shape_str(((dn_param *)g->params.v[1])->shape), dims2(gates[k] * 10, 10));
    ck_assert_str_eq(((dn_param *)g->params.v[3])->name, "h.bias_hh");
    ck_assert_int_eq(((dn_param *)g->params.v[3])->fan_in, 10);
    ck_assert_int_eq(dn_unroll_scans(g, 0), 0);
    dn_ir_verify(g);
  }
  expect_error("input x : [6]\noutput h = lstm(x, 4)\n", 2, "[T, I]");
  expect_error("input x : [6, 3]\noutput h = rnn(x, 4, activation=sigmoid)\n", 2, "tanh or relu");
}
END_TEST

/* --- train block, diagnostics, summary ------------------------------------------------------- */

START_TEST(train_block) {
  dn_train_cfg c;
  dn_diag_reset();
  const char *src = "input x : [3]\noutput y = x\nB = 8\ntrain {\n optimizer = sgd(lr=0.1, momentum=0.9)\n batch = B * 2\n"
                    " epochs = 3\n clip_norm = 5.0\n seed = 7\n}\n";
  dn_ast *p = dn_parse("train1.dnn", src, strlen(src));
  ck_assert_int_eq(dn_sema_train_cfg(p, &c), 0);
  ck_assert_int_eq(c.optimizer, DN_SGD);
  ck_assert(c.lr == 0.1 && c.momentum == 0.9);
  ck_assert_int_eq(c.batch, 8 * 2);
  ck_assert_int_eq(c.epochs, 3);
  ck_assert_int_eq((int)c.seed, 7);
  ck_assert(c.present);
  const char *none = "input x : [3]\noutput y = x\n";
  p = dn_parse("train2.dnn", none, strlen(none));
  ck_assert_int_eq(dn_sema_train_cfg(p, &c), 0);
  ck_assert_int_eq(c.optimizer, DN_ADAM);
  ck_assert(c.lr == 0.001 && c.batch == 32 && c.epochs == 1 && c.seed == 1 && !c.present);
  expect_error("input x : [3]\noutput y = x\ntrain {\n optimizer = adma(lr=0.1)\n}\n", 4, "did you mean 'adam'");
  expect_error("input x : [3]\noutput y = x\ntrain {\n epoch = 2\n}\n", 4, "did you mean 'epochs'");
  expect_error("input x : [3]\noutput y = x\ntrain {\n batch = 0\n}\n", 4, "batch");
}
END_TEST

START_TEST(diagnostic_format) {
  expect_error("input x : [784]\noutput y = conv2d(x, 8, kernel=3)\n", 2, "conv2d expects a [C, H, W] input, got [784]");
  char want[64];
  snprintf(want, sizeof want, "%s:2:19: error:", cur_file);
  ck_assert_msg(strstr(errbuf, want) != NULL, "got %s", errbuf);
  ck_assert_msg(strstr(errbuf, "^") != NULL, "no caret in %s", errbuf);
}
END_TEST

START_TEST(summary_rows) {
  dn_graph *g = compile("input x : [1, 28, 28]\ninput y : class(10)\nc1 = relu(conv2d(x, 6, kernel=5, pad=2))\n"
                        "p1 = maxpool(c1, 2)\nc2 = relu(conv2d(p1, 16, kernel=5))\np2 = maxpool(c2, 2)\n"
                        "f1 = relu(dense(flatten(p2), 120))\nf2 = relu(dense(f1, 84))\nlogits = dense(f2, 10)\n"
                        "output probs = softmax(logits)\nloss = cross_entropy(logits, y)\n");
  ck_assert_ptr_nonnull(g);
  int64_t want = (6 * 25 + 6) + (16 * 6 * 25 + 16) + (16 * 5 * 5 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10);
  int64_t got = 0, flops = 0;
  for (int i = 0; i < g->bindings.n; i++) {
    dn_binding *b = g->bindings.v[i];
    got += b->n_params;
    if (strcmp(b->name, "c1") == 0) flops = b->flops;
  }
  ck_assert_int_eq(got, want);
  /* conv (2 per MAC) + bias add + relu over [6, 28, 28] */
  ck_assert_int_eq(flops, 2 * 6 * 28 * 28 * 25 + 2 * 6 * 28 * 28);
}
END_TEST

/* Every example checks in both modes, and its scans unroll to a valid graph. */
START_TEST(examples_check) {
  const char *src = getenv("DNNCC_SOURCE_DIR");
  const char *names[] = {"mlp", "lenet5", "cifar_cnn", "lstm_classifier", "scan_rnn"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    for (int mode = 0; mode < 2; mode++) {
      dn_diag_reset();
      dn_ast *prog = dn_parse_file(dn_fmt("%s/examples/%s.dnn", src ? src : DNNCC_SOURCE_DIR, names[i]));
      ck_assert_msg(prog != NULL, "cannot parse example %s", names[i]);
      dn_graph *g = dn_sema(prog, names[i], 2, mode ? DN_MODE_TRAIN : DN_MODE_INFER);
      ck_assert_msg(g != NULL, "example %s does not check", names[i]);
      ck_assert_ptr_nonnull(g->loss_mean);
      ck_assert_int_eq(dn_unroll_scans(g, 0), 0);
      dn_ir_verify(g);
    }
  }
}
END_TEST

static Suite *sema_suite(void) {
  Suite *s = suite_create("sema");
  TCase *t = tcase_create("core");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, broadcasting);
  tcase_add_test(t, matmul);
  tcase_add_test(t, dense_rule);
  tcase_add_test(t, conv_rules);
  tcase_add_test(t, pool_rules);
  tcase_add_test(t, batchnorm_rule);
  tcase_add_test(t, random_ops);
  tcase_add_test(t, activations);
  tcase_add_test(t, reductions);
  tcase_add_test(t, shape_ops);
  tcase_add_test(t, indexing);
  tcase_add_test(t, losses);
  tcase_add_test(t, name_rules);
  tcase_add_test(t, constants);
  tcase_add_test(t, conformance_names);
  tcase_add_test(t, nested_def_names);
  tcase_add_test(t, scan_rules);
  tcase_add_test(t, recurrent_layers);
  tcase_add_test(t, train_block);
  tcase_add_test(t, diagnostic_format);
  tcase_add_test(t, summary_rows);
  tcase_add_test(t, examples_check);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *r = srunner_create(sema_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
