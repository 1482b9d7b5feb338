/* test_optim.c - the emitted optimizer updates against PyTorch (tests/fixtures/optim/).
 *
 * For each case of cases.txt (written by tests/gen/gen_optim.py), the update code from
 * dn_cg_emit_update is wrapped in a small C function, compiled with cc into a shared
 * object and dlopen'ed; it then runs the same steps on the same gradients as torch.optim
 * did, and every parameter after every step must agree with PyTorch's to a relative error
 * of 1e-6 (double). The emitted code is compiled with -Wall -Wextra -pedantic -Werror in
 * both element types. A control test checks that a wrong hyperparameter is detected.
 */
#include <check.h>
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "optim.h"

#define MAXN 64    /* elements of all parameters of a fixture */
#define MAXROWS 32 /* rows of a fixture file */

static const int64_t t_counts[2] = {12, 5};  /* the fixture shapes 3x4 and 5 */

typedef struct t_case {
  char name[64];
  dn_train_cfg cfg;
} t_case;

typedef struct t_fixture {
  int rows, cols;
  double v[MAXROWS][MAXN];
} t_fixture;

static const char *t_srcdir(void) {
  const char *s = getenv("DNNCC_SOURCE_DIR");
  return s && *s ? s : DNNCC_SOURCE_DIR;
}

/* Minimal reader for the fixtures: a 2-D little-endian <f8 C-order .npy. */
static int t_read_npy(const char *path, t_fixture *f) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return -1;
  unsigned char pre[10];
  int ok = fread(pre, 1, 10, fp) == 10 && memcmp(pre, "\x93NUMPY", 6) == 0 && pre[6] == 1;
  size_t hl = ok ? (size_t)(pre[8] | pre[9] << 8) : 0;
  char hdr[512] = {0};
  ok = ok && hl < sizeof hdr && fread(hdr, 1, hl, fp) == hl && strstr(hdr, "'<f8'") && strstr(hdr, "False");
  const char *sh = ok ? strstr(hdr, "'shape': (") : NULL;
  ok = sh && sscanf(sh + 10, "%d, %d", &f->rows, &f->cols) == 2 && f->rows <= MAXROWS && f->cols <= MAXN;
  for (int r = 0; ok && r < f->rows; r++) ok = fread(f->v[r], 8, (size_t)f->cols, fp) == (size_t)f->cols;
  fclose(fp);
  return ok ? 0 : -1;
}

static int t_known(const char *s) {
  static const char *const names[] = {"sgd", "rmsprop", "adagrad", "adadelta", "adam"};
  for (int i = 0; i < 5; i++)
    if (!strcmp(s, names[i])) return 1;
  return 0;
}

static dn_optim t_optim(const char *s) {
  if (!strcmp(s, "sgd")) return DN_SGD;
  if (!strcmp(s, "rmsprop")) return DN_RMSPROP;
  if (!strcmp(s, "adagrad")) return DN_ADAGRAD;
  if (!strcmp(s, "adadelta")) return DN_ADADELTA;
  return DN_ADAM;
}

/* Reads cases.txt; returns the number of cases. */
static int t_read_cases(t_case *cs, int max) {
  char path[1024], line[512], opt[32];
  snprintf(path, sizeof path, "%s/tests/fixtures/optim/cases.txt", t_srcdir());
  FILE *fp = fopen(path, "r");
  if (!fp) {
    fprintf(stderr, "cannot open %s\n", path);
    return 0;
  }
  int n = 0;
  while (n < max && fgets(line, sizeof line, fp)) {
    if (line[0] == '#') continue;
    dn_train_cfg *c = &cs[n].cfg;
    memset(c, 0, sizeof *c);
    int k = sscanf(line, "%63s %31s %lf %lf %lf %d %lf %lf %lf %lf %lf %lf %lf %lf", cs[n].name, opt, &c->lr,
                   &c->momentum, &c->dampening, &c->nesterov, &c->alpha, &c->eps, &c->rho, &c->beta1, &c->beta2,
                   &c->weight_decay, &c->clip_norm, &c->clip_value);
    if (k != 14 || !t_known(opt)) {
      fprintf(stderr, "bad line in %s: %s", path, line);
      continue;
    }
    c->optimizer = t_optim(opt);
    n++;
  }
  fclose(fp);
  return n;
}

typedef void (*t_update_fn)(char *state, int64_t step);

/* Emits, compiles and loads `void upd(char *state, int64_t step)`; lays out the slots. */
static t_update_fn t_build(const dn_train_cfg *cfg, const char *real, dn_cg_slot *slots, void **handle) {
  size_t es = strcmp(real, "float") ? 8 : 4, off = 0;
  int ns = dn_cg_optim_nstate(cfg);
  ck_assert(ns >= 0 && ns <= 2);
  for (int k = 0; k < 2; k++) {
    slots[k] = (dn_cg_slot){.name = k ? "b" : "w", .count = t_counts[k]};
    slots[k].param_off = off, off += (size_t)t_counts[k] * es;
  }
  for (int k = 0; k < 2; k++) slots[k].grad_off = off, off += (size_t)t_counts[k] * es;
  for (int s = 0; s < ns; s++)
    for (int k = 0; k < 2; k++) slots[k].state_off[s] = off, off += (size_t)t_counts[k] * es;
  dn_buf c = {0};
  dn_buf_printf(&c, "#include <math.h>\n#include <stdint.h>\nvoid upd(char *state, int64_t step);\n");
  dn_buf_printf(&c, "void upd(char *state, int64_t step) {\n");
  dn_cg_emit_update(&c, cfg, slots, 2, real, "state", "step");
  dn_buf_printf(&c, "}\n");
  char dir[] = "/tmp/dn_optim_XXXXXX", src[256], so[256], cmd[1024];
  ck_assert(mkdtemp(dir) != NULL);
  snprintf(src, sizeof src, "%s/u.c", dir);
  snprintf(so, sizeof so, "%s/u.so", dir);
  FILE *fp = fopen(src, "w");
  ck_assert(fp != NULL);
  fputs(c.s, fp);
  fclose(fp);
  snprintf(cmd, sizeof cmd, "cc -std=c99 -Wall -Wextra -pedantic -Werror -O1 -fPIC -shared -o %s %s -lm", so, src);
  int rc = system(cmd);
  ck_assert_msg(rc == 0, "emitted update does not compile:\n%s", c.s);
  *handle = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  ck_assert_msg(*handle != NULL, "dlopen: %s", dlerror());
  t_update_fn fn;
  *(void **)&fn = dlsym(*handle, "upd");
  ck_assert(fn != NULL);
  remove(src), remove(so), rmdir(dir);
  dn_buf_free(&c);
  return fn;
}

/* Runs a case in double; returns the worst relative error against PyTorch. */
static double t_run_double(const dn_train_cfg *cfg, const t_fixture *f) {
  dn_cg_slot slots[2];
  void *h;
  t_update_fn fn = t_build(cfg, "double", slots, &h);
  int steps = (f->rows - 1) / 2;
  ck_assert_int_eq(f->cols, t_counts[0] + t_counts[1]);
  static double state[MAXN * 4] __attribute__((aligned(64)));
  memset(state, 0, sizeof state);
  memcpy(state, f->v[0], (size_t)f->cols * 8);
  double worst = 0;
  for (int s = 1; s <= steps; s++) {
    memcpy((char *)state + slots[0].grad_off, f->v[s], (size_t)f->cols * 8);
    fn((char *)state, s);
    for (int i = 0; i < f->cols; i++) {
      double want = f->v[steps + s][i], got = state[i];
      double err = fabs(got - want) / (fabs(want) + 1e-12);
      if (err > worst) worst = err;
    }
  }
  dlclose(h);
  return worst;
}

/* The same in float; returns the worst relative error (float rounding only). */
static double t_run_float(const dn_train_cfg *cfg, const t_fixture *f) {
  dn_cg_slot slots[2];
  void *h;
  t_update_fn fn = t_build(cfg, "float", slots, &h);
  int steps = (f->rows - 1) / 2;
  static float state[MAXN * 4] __attribute__((aligned(64)));
  memset(state, 0, sizeof state);
  for (int i = 0; i < f->cols; i++) state[i] = (float)f->v[0][i];
  double worst = 0;
  for (int s = 1; s <= steps; s++) {
    float *g = (float *)(void *)((char *)state + slots[0].grad_off);
    for (int i = 0; i < f->cols; i++) g[i] = (float)f->v[s][i];
    fn((char *)state, s);
    for (int i = 0; i < f->cols; i++) {
      double want = f->v[steps + s][i], err = fabs(state[i] - want) / (fabs(want) + 1e-3);
      if (err > worst) worst = err;
    }
  }
  dlclose(h);
  return worst;
}

static t_case t_cases[64];
static int t_ncases;

static void t_load_fixture(const char *name, t_fixture *f) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tests/fixtures/optim/%s.npy", t_srcdir(), name);
  ck_assert_msg(t_read_npy(path, f) == 0, "cannot read %s", path);
}

START_TEST(test_case_double) {
  static t_fixture f;
  t_load_fixture(t_cases[_i].name, &f);
  double worst = t_run_double(&t_cases[_i].cfg, &f);
  ck_assert_msg(worst <= 1e-6, "%s: relative error %g vs PyTorch", t_cases[_i].name, worst);
}
END_TEST

START_TEST(test_case_float) {
  static t_fixture f;
  t_load_fixture(t_cases[_i].name, &f);
  double worst = t_run_float(&t_cases[_i].cfg, &f);
  ck_assert_msg(worst <= 1e-4, "%s: float relative error %g vs PyTorch", t_cases[_i].name, worst);
}
END_TEST

/* Every optimizer and both clipping kinds are covered by the fixtures. */
START_TEST(test_coverage) {
  int seen[5] = {0}, cn = 0, cv = 0, nest = 0;
  ck_assert_int_ge(t_ncases, 10);
  for (int i = 0; i < t_ncases; i++) {
    seen[t_cases[i].cfg.optimizer]++;
    cn += t_cases[i].cfg.clip_norm > 0, cv += t_cases[i].cfg.clip_value > 0, nest += t_cases[i].cfg.nesterov;
  }
  for (int k = 0; k < 5; k++) ck_assert_int_gt(seen[k], 0);
  ck_assert(cn > 0 && cv > 0 && nest > 0);
}
END_TEST

/* Control: a learning rate 1% off is caught by the comparison. */
START_TEST(test_detects_mismatch) {
  static t_fixture f;
  for (int i = 0; i < t_ncases; i++) {
    dn_train_cfg c = t_cases[i].cfg;
    t_load_fixture(t_cases[i].name, &f);
    c.lr *= 1.01;
    ck_assert_msg(t_run_double(&c, &f) > 1e-5, "%s: perturbed settings still match", t_cases[i].name);
  }
}
END_TEST

/* No trainable parameters: the emitted code still compiles warning-free, for every optimizer. */
START_TEST(test_no_params) {
  for (int k = 0; k < 5; k++) {
    dn_train_cfg c = {0};
    c.optimizer = (dn_optim)k, c.lr = 0.1, c.momentum = 0.9, c.clip_norm = 1, c.clip_value = 1;
    c.beta1 = 0.9, c.beta2 = 0.999, c.eps = 1e-8, c.rho = 0.9, c.alpha = 0.99;
    dn_buf b = {0};
    dn_buf_printf(&b, "#include <math.h>\n#include <stdint.h>\nvoid upd(char *state, int64_t step);\n"
                      "void upd(char *state, int64_t step) {\n  (void)state;\n");
    dn_cg_emit_update(&b, &c, NULL, 0, "float", "state", "step");
    dn_buf_printf(&b, "}\n");
    char path[] = "/tmp/dn_optim0_XXXXXX", cmd[512];
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert(write(fd, b.s, b.n) == (ssize_t)b.n);
    close(fd);
    snprintf(cmd, sizeof cmd, "cc -x c -std=c99 -Wall -Wextra -pedantic -Werror -fsyntax-only %s", path);
    int rc = system(cmd);
    unlink(path);
    ck_assert_msg(rc == 0, "optimizer %d without parameters:\n%s", k, b.s);
    dn_buf_free(&b);
  }
}
END_TEST

START_TEST(test_nstate) {
  dn_train_cfg c = {0};
  c.optimizer = DN_SGD;
  ck_assert_int_eq(dn_cg_optim_nstate(&c), 0);
  c.momentum = 0.9;
  ck_assert_int_eq(dn_cg_optim_nstate(&c), 1);
  c.optimizer = DN_RMSPROP;
  ck_assert_int_eq(dn_cg_optim_nstate(&c), 1);
  c.optimizer = DN_ADAGRAD;
  ck_assert_int_eq(dn_cg_optim_nstate(&c), 1);
  c.optimizer = DN_ADADELTA;
  ck_assert_int_eq(dn_cg_optim_nstate(&c), 2);
  c.optimizer = DN_ADAM;
  ck_assert_int_eq(dn_cg_optim_nstate(&c), 2);
}
END_TEST

int main(void) {
  t_ncases = t_read_cases(t_cases, 64);
  Suite *s = suite_create("optim");
  TCase *tc = tcase_create("pytorch");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_coverage);
  tcase_add_test(tc, test_nstate);
  tcase_add_test(tc, test_no_params);
  tcase_add_loop_test(tc, test_case_double, 0, t_ncases);
  tcase_add_loop_test(tc, test_case_float, 0, t_ncases);
  tcase_add_test(tc, test_detects_mismatch);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
