/* test_emit.c - the C emitter on hand-built graphs: elementwise ops and broadcasting against
 * naive references, fusion (-O0 and -O2 agree), the memory plan (no two live buffers
 * overlap, buffers are reused), P_init (determinism, statistics, orthogonality),
 * P_save/P_load (round trip, corrupted files rejected) and warning-free C99.
 *
 * Graphs are built with the dn_ir_* builders, emitted with dn_emit_c, compiled through the
 * JIT (cc + dlopen) and called through the `_v` entry points.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"
#include "jit.h"

static const dn_loc L = {"t.dnn", 1, 1};

/* --- graph building ----------------------------------------------------------- */

static dn_node *add_input(dn_graph *g, const char *name, dn_shape sample) {
  dn_input *in = dn_alloc(sizeof *in);
  in->name = name;
  in->sample = sample;
  in->for_inference = 1;
  dn_vec_push(&g->inputs, in);
  in->node = dn_ir_input(g, g->inputs.n - 1, L);
  return in->node;
}

static dn_node *add_param(dn_graph *g, const char *name, dn_shape s, dn_init_kind init, double a, double b) {
  dn_param *p = dn_alloc(sizeof *p);
  p->name = name;
  p->shape = s;
  p->init = init;
  p->init_a = a;
  p->init_b = b;
  p->trainable = 1;
  dn_vec_push(&g->params, p);
  return dn_ir_param(g, g->params.n - 1, L);
}

static void add_output(dn_graph *g, const char *name, dn_node *n) {
  dn_output *o = dn_alloc(sizeof *o);
  o->name = name;
  o->node = n;
  dn_vec_push(&g->outputs, o);
}

/* Emits and compiles; the handle, or NULL. */
static dn_jit *build(dn_graph *g, int opt, char **src) {
  dn_emit_opts o = {0};
  o.prefix = "t";
  o.opt_level = opt;
  dn_buf c = {0};
  if (dn_emit_c(g, NULL, &o, &c, NULL)) return NULL;
  dn_jit_opts jo = {2, 0, 0, 0};
  dn_jit *j = dn_jit_compile(c.s, c.n, &jo);
  if (src) *src = strdup(c.s);
  dn_buf_free(&c);
  return j;
}

typedef void (*fwd_fn)(void *, void *const *, void *const *);
typedef void (*init_fn)(void *, uint64_t);

static void *new_state(dn_jit *j, uint64_t seed) {
  size_t n = *(const size_t *)dn_jit_lookup(j, "t_state_bytes_v");
  void *st = aligned_alloc(64, (n + 63) & ~(size_t)63);
  ((init_fn)dn_jit_lookup(j, "t_init"))(st, seed);
  return st;
}

/* --- elementwise ---------------------------------------------------------------- */

static double ref_unary(dn_op op, double x, double a, double b) {
  switch (op) {
  case DN_OP_NEG: return -x;
  case DN_OP_RELU: return x > 0 ? x : 0;
  case DN_OP_SIGMOID: return 1 / (1 + exp(-x));
  case DN_OP_TANH: return tanh(x);
  case DN_OP_SOFTPLUS: return x > 20 ? x : log(1 + exp(x));
  case DN_OP_ELU: return x > 0 ? x : a * (exp(x) - 1);
  case DN_OP_LEAKY_RELU: return x > 0 ? x : a * x;
  case DN_OP_HARDTANH: case DN_OP_CLAMP: return x < a ? a : x > b ? b : x;
  case DN_OP_STEP: return x > 0;
  case DN_OP_SIGN: return (x > 0) - (x < 0);
  case DN_OP_INRANGE: return a < x && x < b;
  case DN_OP_EXP: return exp(x);
  case DN_OP_LOG: return log(fabs(x) + 0.1);
  case DN_OP_SQRT: return sqrt(fabs(x) + 0.1);
  case DN_OP_ABS: return fabs(x);
  case DN_OP_SQUARE: return x * x;
  case DN_OP_SIN: return sin(x);
  case DN_OP_COS: return cos(x);
  case DN_OP_RECIP: return 1 / (fabs(x) + 0.1);
  case DN_OP_POWC: return pow(fabs(x) + 0.1, a);
  default: return NAN;
  }
}

static const dn_op unary_ops[] = {DN_OP_NEG, DN_OP_RELU, DN_OP_SIGMOID, DN_OP_TANH, DN_OP_SOFTPLUS, DN_OP_ELU,
                                  DN_OP_LEAKY_RELU, DN_OP_HARDTANH, DN_OP_CLAMP, DN_OP_STEP, DN_OP_SIGN, DN_OP_INRANGE,
                                  DN_OP_EXP, DN_OP_LOG, DN_OP_SQRT, DN_OP_ABS, DN_OP_SQUARE, DN_OP_SIN, DN_OP_COS,
                                  DN_OP_RECIP, DN_OP_POWC};

/* Ops whose domain needs |x| + 0.1 as input (built into the graph too). */
static int needs_positive(dn_op op) { return op == DN_OP_LOG || op == DN_OP_SQRT || op == DN_OP_RECIP || op == DN_OP_POWC; }

START_TEST(unary_ops_match_reference) {
  dn_op op = unary_ops[_i];
  enum { B = 3, N = 17 };
  dn_graph *g = dn_graph_new("t", B, DN_MODE_INFER);
  dn_node *x = add_input(g, "x", dn_shape_of(1, (int64_t)N)), *y = x;
  if (needs_positive(op)) y = dn_ir_binary(g, DN_OP_ADD, dn_ir_unary(g, DN_OP_ABS, x, L), dn_ir_scalar(g, 0.1, L), L);
  y = dn_ir_unary(g, op, y, L);
  y->alpha = op == DN_OP_POWC ? 1.5 : -0.5;
  y->beta = 0.75;
  if (op == DN_OP_ELU || op == DN_OP_LEAKY_RELU) y->alpha = 0.3;
  add_output(g, "y", y);
  for (int opt = 0; opt <= 2; opt += 2) {
    dn_jit *j = build(g, opt, NULL);
    ck_assert_ptr_nonnull(j);
    float in[B * N], out[B * N];
    for (int i = 0; i < B * N; i++) in[i] = (float)(((i * 37) % 41) - 20) * 0.125f;
    void *st = new_state(j, 1), *ip[1] = {in}, *op_[1] = {out};
    ((fwd_fn)dn_jit_lookup(j, "t_forward_v"))(st, ip, op_);
    for (int i = 0; i < B * N; i++) {
      double r = ref_unary(op, in[i], y->alpha, y->beta);
      ck_assert_msg(fabs(out[i] - r) <= 1e-5 * (1 + fabs(r)), "%s(%g) = %g, expected %g (O%d)", dn_ops[op].name, in[i], out[i], r, opt);
    }
    free(st);
    dn_jit_free(j);
  }
}
END_TEST

/* y = max(tanh(x * w + 0.5), c) - x / 4 with x [B, 3, 4], w [1, 4] (broadcast over batch and
 * axis 1) and c [3, 1] data; compared with a naive loop, at -O0 and -O2. */
START_TEST(broadcast_and_fusion) {
  enum { B = 2, R = 3, C = 4 };
  dn_graph *g = dn_graph_new("t", B, DN_MODE_INFER);
  dn_node *x = add_input(g, "x", dn_shape_of(2, (int64_t)R, (int64_t)C));
  dn_node *w = add_param(g, "w", dn_shape_of(1, (int64_t)C), DN_INIT_UNIFORM, -1, 1);
  static const float cdata[R] = {-0.25f, 0.1f, 0.3f};
  dn_node *c = dn_ir_const_data(g, cdata, dn_shape_of(3, (int64_t)1, (int64_t)R, (int64_t)1), L);
  dn_node *w3 = dn_ir_reshape(g, w, dn_shape_of(3, (int64_t)1, (int64_t)1, (int64_t)C), L);
  dn_node *t = dn_ir_binary(g, DN_OP_ADD, dn_ir_binary(g, DN_OP_MUL, x, w3, L), dn_ir_scalar(g, 0.5, L), L);
  t = dn_ir_binary(g, DN_OP_MAX, dn_ir_unary(g, DN_OP_TANH, t, L), c, L);
  t = dn_ir_binary(g, DN_OP_SUB, t, dn_ir_binary(g, DN_OP_DIV, x, dn_ir_scalar(g, 4, L), L), L);
  add_output(g, "y", t);
  float in[B * R * C], out[2][B * R * C];
  for (int i = 0; i < B * R * C; i++) in[i] = (float)i * 0.1f - 1.0f;
  for (int k = 0; k < 2; k++) {
    char *src;
    dn_jit *j = build(g, k * 2, &src);
    ck_assert_ptr_nonnull(j);
    void *st = new_state(j, 7), *ip[1] = {in}, *op_[1] = {out[k]};
    ((fwd_fn)dn_jit_lookup(j, "t_forward_v"))(st, ip, op_);
    const float *wv = (const float *)((char *)st + ((const struct { const char *n; int r; int s[8]; size_t off; } *)dn_jit_lookup(j, "t_params"))[0].off);
    for (int b = 0; b < B; b++)
      for (int r = 0; r < R; r++)
        for (int cc = 0; cc < C; cc++) {
          int i = (b * R + r) * C + cc;
          double v = fmax(tanh(in[i] * wv[cc] + 0.5), cdata[r]) - in[i] / 4.0;
          ck_assert_msg(fabs(out[k][i] - v) < 1e-5, "O%d element %d: %g vs %g", k * 2, i, out[k][i], v);
        }
    /* -O2 fuses the whole chain into one loop: one store to dn_o */
    int loops = 0;
    for (const char *p = src; (p = strstr(p, "dn_o[dn_i] =")); p++) loops++;
    ck_assert_int_eq(loops, k ? 1 : 6);
    free(src);
    free(st);
    dn_jit_free(j);
  }
  ck_assert_mem_eq(out[0], out[1], sizeof out[0]);
}
END_TEST

/* --- memory plan -------------------------------------------------------------------- */

START_TEST(plan_no_overlap_and_reuse) {
  enum { N = 40 };
  dn_graph *g = dn_graph_new("t", 1, DN_MODE_INFER);
  dn_node *x = add_input(g, "x", dn_shape_of(1, (int64_t)4));
  for (int i = 1; i < N; i++) dn_ir_unary(g, DN_OP_RELU, x, L);
  dn_em_body b = {0};
  b.g = g;
  b.nodes = dn_alloc(sizeof(dn_em_node) * N);
  unsigned seed = 12345;
  for (int i = 1; i < N; i++) {  /* random sizes and live ranges */
    seed = seed * 1103515245u + 12345u;
    b.nodes[i].kind = DN_EMK_ARENA;
    b.nodes[i].pos = i;
    b.nodes[i].last = i + (int)(seed >> 16) % 6;
    ((dn_node *)g->nodes.v[i])->shape = dn_shape_of(1, (int64_t)(1 + (seed >> 8) % 300));
  }
  b.nodes[5].pinned = 1;
  dn_em_plan_build(&b, 4);
  ck_assert_int_eq(b.plan.n, N - 1);
  size_t sum = 0;
  for (int i = 0; i < b.plan.n; i++) {
    dn_em_buf *p = &b.plan.b[i];
    sum += p->bytes;
    ck_assert_uint_ge(p->bytes, (size_t)dn_shape_count(((dn_node *)g->nodes.v[p->node])->shape) * 4);
    ck_assert_uint_le(p->off + p->bytes, b.plan.total);
    for (int k = 0; k < i; k++) {
      dn_em_buf *q = &b.plan.b[k];
      int live = p->def <= q->end && q->def <= p->end, mem = p->off < q->off + q->bytes && q->off < p->off + p->bytes;
      ck_assert_msg(!(live && mem), "buffers %d and %d overlap", p->node, q->node);
    }
  }
  ck_assert_int_eq(b.plan.b[4].end, N);  /* node 5, pinned to the end */
  ck_assert_uint_lt(b.plan.total, sum);  /* memory was reused */
  ck_assert_uint_ge(b.plan.total, b.plan.peak);
}
END_TEST

/* --- init, save, load ---------------------------------------------------------------- */

static dn_graph *param_graph(void) {
  dn_graph *g = dn_graph_new("t", 1, DN_MODE_INFER);
  dn_node *x = add_input(g, "x", dn_shape_of(1, (int64_t)1));
  dn_node *a = add_param(g, "a", dn_shape_of(1, (int64_t)20000), DN_INIT_NORMAL, 2.0, 0);
  dn_node *u = add_param(g, "layer.u", dn_shape_of(2, (int64_t)100, (int64_t)100), DN_INIT_UNIFORM, -3, 1);
  dn_node *o = add_param(g, "o", dn_shape_of(2, (int64_t)6, (int64_t)10), DN_INIT_ORTHOGONAL, 0, 0);
  dn_node *s = dn_ir_binary(g, DN_OP_ADD, x, dn_ir_reshape(g, dn_ir_slice(g, a, 0, 0, 1, L), dn_shape_of(2, (int64_t)1, (int64_t)1), L), L);
  (void)u, (void)o;
  add_output(g, "y", s);
  return g;
}

typedef const struct { const char *name; int rank; int shape[8]; size_t offset; } tparam;

START_TEST(init_is_deterministic_with_right_statistics) {
  dn_graph *g = param_graph();
  dn_buf c = {0};
  dn_emit_opts o = {.prefix = "t", .opt_level = 2};
  ck_assert_int_eq(dn_emit_c(g, NULL, &o, &c, NULL), 0);
  /* only the parameter code matters here: compile without the SLICE kernel dependency */
  dn_jit_opts jo = {2, 0, 0, 0};
  dn_jit *j = dn_jit_compile(c.s, c.n, &jo);
  dn_buf_free(&c);
  ck_assert_ptr_nonnull(j);
  size_t n = *(const size_t *)dn_jit_lookup(j, "t_state_bytes_v");
  tparam *p = dn_jit_lookup(j, "t_params");
  void *s1 = new_state(j, 3), *s2 = new_state(j, 3), *s3 = new_state(j, 4);
  ck_assert_mem_eq(s1, s2, n);
  ck_assert_int_ne(memcmp(s1, s3, p[2].offset), 0);
  const float *a = (const float *)((char *)s1 + p[0].offset), *u = (const float *)((char *)s1 + p[1].offset);
  double m = 0, v = 0, lo = 1e9, hi = -1e9, um = 0;
  for (int i = 0; i < 20000; i++) m += a[i];
  m /= 20000;
  for (int i = 0; i < 20000; i++) v += (a[i] - m) * (a[i] - m);
  v = sqrt(v / 20000);
  ck_assert_msg(fabs(m) < 0.05 && fabs(v - 2) < 0.05, "normal(2): mean %g std %g", m, v);
  for (int i = 0; i < 10000; i++) lo = fmin(lo, u[i]), hi = fmax(hi, u[i]), um += u[i];
  ck_assert_msg(lo >= -3 && hi < 1 && lo < -2.9 && hi > 0.9 && fabs(um / 10000 + 1) < 0.05, "uniform(-3,1): [%g, %g] mean %g", lo, hi, um / 10000);
  const float *w = (const float *)((char *)s1 + p[2].offset);
  for (int r = 0; r < 6; r++)
    for (int q = 0; q < 6; q++) {
      double d = 0;
      for (int k = 0; k < 10; k++) d += (double)w[r * 10 + k] * w[q * 10 + k];
      ck_assert_msg(fabs(d - (r == q)) < 1e-5, "orthogonal rows %d,%d: %g", r, q, d);
    }
  free(s1), free(s2), free(s3);
  dn_jit_free(j);
}
END_TEST

typedef int (*load_fn)(void *, const char *);
typedef int (*save_fn)(const void *, const char *);

/* Rewrites byte `at` of a file (or truncates it to `at` bytes when val < 0). */
static void corrupt(const char *src, const char *dst, long at, int val) {
  FILE *f = fopen(src, "rb");
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  if (val >= 0) buf[at] = (char)val;
  else n = (size_t)at;
  f = fopen(dst, "wb");
  fwrite(buf, 1, n, f);
  fclose(f);
}

START_TEST(save_load_round_trip_and_rejection) {
  dn_graph *g = param_graph();
  dn_jit *j = build(g, 2, NULL);
  ck_assert_ptr_nonnull(j);
  tparam *p = dn_jit_lookup(j, "t_params");
  load_fn load = (load_fn)dn_jit_lookup(j, "t_load");
  save_fn save = (save_fn)dn_jit_lookup(j, "t_save");
  char dir[] = "/tmp/dnncc-test-emit-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char path[256], bad[256];
  snprintf(path, sizeof path, "%s/w.safetensors", dir);
  snprintf(bad, sizeof bad, "%s/bad.safetensors", dir);
  void *s1 = new_state(j, 1), *s2 = new_state(j, 2);
  size_t pbytes = p[2].offset + 60 * 4;
  ck_assert_int_eq(save(s1, path), 0);
  ck_assert_int_ne(memcmp(s1, s2, pbytes), 0);
  ck_assert_int_eq(load(s2, path), 0);
  ck_assert_mem_eq(s1, s2, pbytes);
  FILE *f = fopen(path, "rb");
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fclose(f);
  long cases[][2] = {{size - 4, -1}, {3, -1}, {0, 0xff}, {9, 'x'}, {40, '7'}, {5, 1}};
  freopen("/dev/null", "w", stderr);
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    corrupt(path, bad, cases[k][0], (int)cases[k][1]);
    ck_assert_msg(load(s2, bad) == -1, "corruption %zu accepted", k);
  }
  ck_assert_int_eq(load(s2, "/nonexistent/w.safetensors"), -1);
  remove(path), remove(bad), rmdir(dir);
  free(s1), free(s2);
  dn_jit_free(j);
}
END_TEST

START_TEST(generated_code_is_warning_free_c99) {
  dn_graph *g = param_graph();
  g->nodes.n = 0;  /* elementwise-only model: independent of the kernels */
  g->outputs.n = 0;
  g->inputs.n = 0;
  dn_node *x = add_input(g, "x", dn_shape_of(2, (int64_t)3, (int64_t)5));
  dn_node *b = add_param(g, "b", dn_shape_of(2, (int64_t)1, (int64_t)5), DN_INIT_ZEROS, 0, 0);
  dn_node *r = dn_ir_binary(g, DN_OP_ADD, x, dn_ir_reshape(g, b, dn_shape_of(3, (int64_t)1, (int64_t)1, (int64_t)5), L), L);
  add_output(g, "y", dn_ir_unary(g, DN_OP_SIGMOID, r, L));
  add_output(g, "z", dn_ir_unary(g, DN_OP_RELU, r, L));
  dn_emit_opts o = {.prefix = "m", .header_name = "m.h", .opt_level = 2, .emit_main = 1};
  dn_buf c = {0}, h = {0};
  ck_assert_int_eq(dn_emit_c(g, NULL, &o, &c, &h), 0);
  char dir[] = "/tmp/dnncc-test-c99-XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s/m.c", dir);
  FILE *f = fopen(cmd, "w");
  fwrite(c.s, 1, c.n, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "%s/m.h", dir);
  f = fopen(cmd, "w");
  fwrite(h.s, 1, h.n, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -pedantic -Werror -o %s/m %s/m.c -lm && rm -rf %s", dir, dir, dir);
  ck_assert_int_eq(system(cmd), 0);
  dn_buf_free(&c);
  dn_buf_free(&h);
}
END_TEST


/* A training graph by hand: parameters a (trainable), s (state), w (trainable); the
 * "gradients" are d a = 2 w and d w = a + 1. P_grads lists a and w; grad_v fills the slots;
 * a train step with SGD(lr 0.5) applies p -= 0.5 * g and advances the step counter. */
START_TEST(grad_slots_and_train_step) {
  dn_graph *g = dn_graph_new("t", 1, DN_MODE_TRAIN);
  dn_node *x = add_input(g, "x", dn_shape_of(1, (int64_t)3));
  dn_node *a = add_param(g, "a", dn_shape_of(1, (int64_t)3), DN_INIT_UNIFORM, -1, 1);
  dn_node *s = add_param(g, "s", dn_shape_of(1, (int64_t)3), DN_INIT_ONES, 0, 0);
  ((dn_param *)g->params.v[1])->trainable = 0;
  dn_node *w = add_param(g, "w", dn_shape_of(1, (int64_t)3), DN_INIT_UNIFORM, -1, 1);
  (void)x, (void)s;
  g->loss_mean = dn_ir_scalar(g, 1.5, L);
  dn_vec_push(&g->grads, dn_ir_binary(g, DN_OP_MUL, w, dn_ir_scalar(g, 2, L), L));
  dn_vec_push(&g->grads, NULL);
  dn_vec_push(&g->grads, dn_ir_binary(g, DN_OP_ADD, a, dn_ir_scalar(g, 1, L), L));
  g->train.optimizer = DN_SGD;
  g->train.lr = 0.5;
  dn_graph *inf = dn_graph_new("t", 1, DN_MODE_INFER);
  dn_node *xi = add_input(inf, "x", dn_shape_of(1, (int64_t)3));
  add_output(inf, "y", dn_ir_unary(inf, DN_OP_NEG, xi, L));
  dn_emit_opts o = {.prefix = "t", .opt_level = 2};
  dn_buf c = {0};
  ck_assert_int_eq(dn_emit_c(inf, g, &o, &c, NULL), 0);
  dn_jit_opts jo = {2, 0, 0, 0};
  dn_jit *j = dn_jit_compile(c.s, c.n, &jo);
  dn_buf_free(&c);
  ck_assert_ptr_nonnull(j);
  const struct { const char *name; size_t off; size_t count; } *gi = dn_jit_lookup(j, "t_grads");
  ck_assert_int_eq(*(const int *)dn_jit_lookup(j, "t_n_grads"), 2);
  ck_assert_str_eq(gi[0].name, "a");
  ck_assert_str_eq(gi[1].name, "w");
  tparam *p = dn_jit_lookup(j, "t_params");
  char *st = new_state(j, 5);
  float a0[3], w0[3];
  memcpy(a0, st + p[0].offset, sizeof a0);
  memcpy(w0, st + p[2].offset, sizeof w0);
  float in[3] = {1, 2, 3};
  void *ip[1] = {in};
  double (*grad)(void *, void *const *) = (double (*)(void *, void *const *))dn_jit_lookup(j, "t_grad_v");
  double (*step)(void *, void *const *) = (double (*)(void *, void *const *))dn_jit_lookup(j, "t_train_step_v");
  ck_assert_double_eq_tol(grad(st, ip), 1.5, 1e-9);
  for (int i = 0; i < 3; i++) {
    ck_assert_float_eq_tol(((float *)(st + gi[0].off))[i], 2 * w0[i], 1e-6);
    ck_assert_float_eq_tol(((float *)(st + gi[1].off))[i], a0[i] + 1, 1e-6);
  }
  ck_assert_double_eq_tol(step(st, ip), 1.5, 1e-9);
  for (int i = 0; i < 3; i++) {
    ck_assert_float_eq_tol(((float *)(st + p[0].offset))[i], a0[i] - 0.5f * 2 * w0[i], 1e-6);
    ck_assert_float_eq_tol(((float *)(st + p[2].offset))[i], w0[i] - 0.5f * (a0[i] + 1), 1e-6);
    ck_assert_float_eq(((float *)(st + p[1].offset))[i], 1.0f);
  }
  ck_assert_int_eq((int)*(int64_t *)(st + *(const long long *)dn_jit_lookup(j, "t_step_offset")), 1);
  free(st);
  dn_jit_free(j);
}
END_TEST

/* --- a GEMM's mask epilogue ----------------------------------------------------------- */

/* u = (dy @ W) * STEP(h), h = relu(x), with a node between the product and u that reads h
 * (t = h @ W^T, the place of a classifier's weight gradient; output v = -t): -O2 computes
 * the product at u's position with the mask applied as it stores, over h's buffer; -O0
 * does not fuse. Variant 1 computes dy (= -dy_in) into the arena, read by nothing after the
 * product, and the plan gives its bytes to t: the product may not then move past t (it
 * would read t's values). Both against a double reference of z = u @ W^T and v. */
START_TEST(gemm_mask_epilogue) {
  enum { B = 16, H = 40, O = 10 };  /* B > 12: the product keeps W in registers (few_k) */
  int variant = _i;
  dn_graph *g = dn_graph_new("t", B, DN_MODE_INFER);
  dn_node *x = add_input(g, "x", dn_shape_of(1, (int64_t)H));
  dn_node *dyi = add_input(g, "dy", dn_shape_of(1, (int64_t)O));
  dn_node *w = add_param(g, "w", dn_shape_of(2, (int64_t)O, (int64_t)H), DN_INIT_UNIFORM, -1, 1);
  dn_node *h = dn_ir_unary(g, DN_OP_RELU, x, L);
  dn_node *dy = variant ? dn_ir_unary(g, DN_OP_NEG, dyi, L) : dyi;
  dn_node *p = dn_ir_gemm(g, dy, w, (dn_gemm){B, H, O, 0, 0, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)B, (int64_t)H), 1, L);
  dn_node *t = dn_ir_gemm(g, h, w, (dn_gemm){B, O, H, 0, 1, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)B, (int64_t)O), 1, L);
  dn_node *v = dn_ir_unary(g, DN_OP_NEG, t, L);
  dn_node *u = dn_ir_binary(g, DN_OP_MUL, p, dn_ir_unary(g, DN_OP_STEP, h, L), L);
  dn_node *z = dn_ir_gemm(g, u, w, (dn_gemm){B, O, H, 0, 1, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)B, (int64_t)O), 1, L);
  add_output(g, "v", v);
  add_output(g, "z", z);
  float xin[B * H], din[B * O], out[2][2][B * O];
  for (int i = 0; i < B * H; i++) xin[i] = (float)((i * 37) % 17 - 8) / 8.0f;  /* zeros among them */
  for (int i = 0; i < B * O; i++) din[i] = (float)((i * 11) % 13 - 6) / 6.0f;
  for (int k = 0; k < 2; k++) {
    char *src;
    dn_jit *j = build(g, k * 2, &src);
    ck_assert_ptr_nonnull(j);
    void *st = new_state(j, 3), *ip[2] = {xin, din}, *op_[2] = {out[k][0], out[k][1]};
    ((fwd_fn)dn_jit_lookup(j, "t_forward_v"))(st, ip, op_);
    const float *wv = (const float *)((char *)st + ((tparam *)dn_jit_lookup(j, "t_params"))[0].offset);
    for (int b = 0; b < B; b++)
      for (int o = 0; o < O; o++) {
        double vr = 0, zr = 0;
        for (int q = 0; q < H; q++) {
          double hq = xin[b * H + q] > 0 ? xin[b * H + q] : 0, pq = 0;
          for (int r = 0; r < O; r++) pq += (variant ? -din[b * O + r] : din[b * O + r]) * wv[r * H + q];
          vr -= hq * wv[o * H + q];
          zr += pq * (hq > 0) * wv[o * H + q];
        }
        ck_assert_msg(fabs(out[k][0][b * O + o] - vr) < 1e-4 && fabs(out[k][1][b * O + o] - zr) < 1e-4,
                      "variant %d -O%d sample %d output %d: v %g (want %g), z %g (want %g)", variant, 2 * k, b, o,
                      out[k][0][b * O + o], vr, out[k][1][b * O + o], zr);
      }
    int fused = strstr(src, "(its mask epilogue)") != NULL;
    if (!k) ck_assert_int_eq(fused, 0);
    if (k) ck_assert_msg(fused == !variant, "-O2, variant %d: fused %d", variant, fused);
    free(src);
    free(st);
    dn_jit_free(j);
  }
}
END_TEST

/* The products between a product and its mask epilogue fill the table of register-block
 * kernels (DN_KREG_MAX): 36 shape classes, for k = 1..12 x[:, :k] @ V_k (k terms),
 * t_k = x[:, :k]^T @ h (k rows; h stored, not inlined into u) and t_k^T @ V'_k. The epilogue's kernel keeps the slot it
 * took when the emitter decided (the compiler aborted before); -O2 agrees with -O0. */
START_TEST(gemm_mask_epilogue_full_table) {
  enum { B = 16, H = 40, O = 10, F = 8 };
  dn_graph *g = dn_graph_new("t", B, DN_MODE_INFER);
  dn_node *x = add_input(g, "x", dn_shape_of(1, (int64_t)H));
  dn_node *dy = add_input(g, "dy", dn_shape_of(1, (int64_t)O));
  dn_node *w = add_param(g, "w", dn_shape_of(2, (int64_t)O, (int64_t)H), DN_INIT_UNIFORM, -1, 1);
  dn_node *h = dn_ir_unary(g, DN_OP_RELU, x, L);
  dn_node *p = dn_ir_gemm(g, dy, w, (dn_gemm){B, H, O, 0, 0, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)B, (int64_t)H), 1, L);
  dn_node *e = NULL;
  for (int k = 1; k <= 12; k++) {
    dn_node *a = dn_ir_slice(g, x, 1, 0, k, L);
    dn_node *v = add_param(g, dn_fmt("v%d", k), dn_shape_of(2, (int64_t)k, (int64_t)F), DN_INIT_UNIFORM, -1, 1);
    dn_node *v2 = add_param(g, dn_fmt("u%d", k), dn_shape_of(2, (int64_t)k, (int64_t)F), DN_INIT_UNIFORM, -1, 1);
    dn_node *g1 = dn_ir_gemm(g, a, v, (dn_gemm){B, F, k, 0, 0, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)B, (int64_t)F), 1, L);
    dn_node *t = dn_ir_gemm(g, a, h, (dn_gemm){k, H, B, 1, 0, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)k, (int64_t)H), 0, L);
    dn_node *g3 = dn_ir_gemm(g, t, v2, (dn_gemm){H, F, k, 1, 0, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)H, (int64_t)F), 0, L);
    dn_node *s = dn_ir_binary(g, DN_OP_ADD, dn_ir_reduce(g, DN_OP_REDUCE_SUM, g1, 3u, L),
                              dn_ir_reduce(g, DN_OP_REDUCE_SUM, g3, 3u, L), L);
    e = e ? dn_ir_binary(g, DN_OP_ADD, e, s, L) : s;
  }
  dn_node *u = dn_ir_binary(g, DN_OP_MUL, p, dn_ir_unary(g, DN_OP_STEP, h, L), L);
  dn_node *z = dn_ir_gemm(g, u, w, (dn_gemm){B, O, H, 0, 1, 1, 0, 0, 0}, dn_shape_of(2, (int64_t)B, (int64_t)O), 1, L);
  add_output(g, "z", dn_ir_binary(g, DN_OP_ADD, z, e, L));
  float xin[B * H], din[B * O], out[2][B * O];
  for (int i = 0; i < B * H; i++) xin[i] = (float)((i * 37) % 17 - 8) / 32.0f;
  for (int i = 0; i < B * O; i++) din[i] = (float)((i * 11) % 13 - 6) / 6.0f;
  for (int k = 0; k < 2; k++) {
    char *src;
    dn_jit *j = build(g, k * 2, &src);
    ck_assert_ptr_nonnull(j);
    if (k) ck_assert_ptr_nonnull(strstr(src, "(its mask epilogue)"));
    void *st = new_state(j, 3), *ip[2] = {xin, din}, *op_[1] = {out[k]};
    ((fwd_fn)dn_jit_lookup(j, "t_forward_v"))(st, ip, op_);
    free(src);
    free(st);
    dn_jit_free(j);
  }
  for (int i = 0; i < B * O; i++)
    ck_assert_msg(fabs(out[0][i] - out[1][i]) <= 1e-4 * (1 + fabs(out[0][i])), "element %d: -O0 %g, -O2 %g", i, out[0][i], out[1][i]);
}
END_TEST

static Suite *emit_suite(void) {
  Suite *s = suite_create("emit");
  TCase *t = tcase_create("emit");
  tcase_set_timeout(t, 300);
  tcase_add_loop_test(t, unary_ops_match_reference, 0, (int)(sizeof unary_ops / sizeof unary_ops[0]));
  tcase_add_test(t, broadcast_and_fusion);
  tcase_add_test(t, plan_no_overlap_and_reuse);
  tcase_add_test(t, init_is_deterministic_with_right_statistics);
  tcase_add_test(t, grad_slots_and_train_step);
  tcase_add_loop_test(t, gemm_mask_epilogue, 0, 2);
  tcase_add_test(t, gemm_mask_epilogue_full_table);
  tcase_add_test(t, save_load_round_trip_and_rejection);
  tcase_add_test(t, generated_code_is_warning_free_c99);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  char cache[] = "/tmp/dnncc-test-cache-XXXXXX";
  if (mkdtemp(cache)) setenv("XDG_CACHE_HOME", cache, 1);
  SRunner *r = srunner_create(emit_suite());
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
  if (system(cmd)) {}
  return failed ? 1 : 0;
}
