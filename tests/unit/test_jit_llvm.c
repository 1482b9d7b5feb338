/* test_jit_llvm.c - the LLVM/Clang JIT back end (compiler/jit_llvm.cpp): C source with libm
 * calls, globals and constant tables compiled in memory and called; Clang diagnostics and a
 * NULL result on errors; unresolved symbols; the persistent object cache (a file appears,
 * the second compile is served from it without running Clang, a damaged entry is rebuilt,
 * no_cache bypasses it); OpenMP and OpenBLAS code; and the jit.c front door.
 *
 * Every expected number is computed here by the same C code compiled by the host compiler.
 * The cache lives in a fresh directory (XDG_CACHE_HOME is pointed at a mkdtemp directory
 * before anything runs), so the first compile of each source is always a miss.
 * Without LLVM in the build the suite reports that it is skipped and passes.
 */
#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jit.h"
#include "jit_llvm.h"

/* --- helpers ------------------------------------------------------------------ */

static char g_cache_root[256];  /* the XDG_CACHE_HOME of this run */

/* Compiles with the LLVM back end at -O2, optionally with OpenMP / OpenBLAS. */
static dn_jit *compile(const char *src, int openmp, int openblas, int no_cache) {
  dn_jit_opts o = {2, openmp, openblas, no_cache};
  return dn_jit_llvm_compile(src, strlen(src), &o);
}

static dn_jit_llvm_stats stats(void) {
  dn_jit_llvm_stats s;
  dn_jit_llvm_get_stats(&s);
  return s;
}

/* Runs compile() with stderr captured into a malloc'd string (*err). */
static dn_jit *compile_capturing(const char *src, char **err) {
  fflush(stderr);
  FILE *tmp = tmpfile();
  ck_assert_ptr_nonnull(tmp);
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  dn_jit *j = compile(src, 0, 0, 1);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  long n = ftell(tmp);
  *err = calloc((size_t)n + 1, 1);
  rewind(tmp);
  ck_assert_int_eq((long)fread(*err, 1, (size_t)n, tmp), n);
  fclose(tmp);
  return j;
}

/* The cache entries (llvm-*.o) in the cache directory: their count, and the first one's
 * path in first (when non-NULL). */
static int cache_entries(char *first, size_t cap) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/dnncc", g_cache_root);
  DIR *d = opendir(dir);
  if (!d) return 0;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (strncmp(e->d_name, "llvm-", 5) || l < 3 || strcmp(e->d_name + l - 2, ".o")) continue;
    if (n++ == 0 && first) snprintf(first, cap, "%s/%s", dir, e->d_name);
  }
  closedir(d);
  return n;
}

/* --- plain C with libm ------------------------------------------------------------ */

static const char *math_src =
    "#include <math.h>\n"
    "float f(float x) { return sqrtf(x) + expf(-x); }\n"
    "static const float table[4] = {0.5f, 1.5f, 2.5f, 3.5f};\n"
    "int calls;\n"
    "double g(const float *v, int n) {\n"
    "  double s = 0;\n"
    "  calls++;\n"
    "  for (int i = 0; i < n; i++) s += expf(v[i]) * sqrtf(v[i] + table[i % 4]);\n"
    "  return s;\n"
    "}\n";

/* The same g, compiled by the host compiler. */
static double ref_g(const float *v, int n) {
  static const float table[4] = {0.5f, 1.5f, 2.5f, 3.5f};
  double s = 0;
  for (int i = 0; i < n; i++) s += expf(v[i]) * sqrtf(v[i] + table[i % 4]);
  return s;
}

START_TEST(test_libm_call) {
  dn_jit *j = compile(math_src, 0, 0, 1);
  ck_assert_ptr_nonnull(j);
  float (*f)(float) = (float (*)(float))dn_jit_llvm_lookup(j, "f");
  double (*g)(const float *, int) = (double (*)(const float *, int))dn_jit_llvm_lookup(j, "g");
  int *calls = dn_jit_llvm_lookup(j, "calls");
  ck_assert_ptr_nonnull(f);
  ck_assert_ptr_nonnull(g);
  ck_assert_ptr_nonnull(calls);
  for (float x = 0.0f; x < 10.0f; x += 0.37f)
    ck_assert_float_eq_tol(f(x), sqrtf(x) + expf(-x), 1e-6f * (sqrtf(x) + 1.0f));
  float v[37];
  for (int i = 0; i < 37; i++) v[i] = (float)i / 9.0f - 0.4f;  /* v + table > 0 */
  double want = ref_g(v, 37);
  ck_assert_double_eq_tol(g(v, 37), want, 1e-12 * fabs(want));
  ck_assert_int_eq(*calls, 1);
  ck_assert_ptr_null(dn_jit_llvm_lookup(j, "no_such_symbol"));
  dn_jit_llvm_free(j);
}
END_TEST

/* --- errors --------------------------------------------------------------------- */

START_TEST(test_compile_error) {
  const char *src = "int ok(void) { return 1; }\n"
                    "#line 7 \"model.dnn\"\n"
                    "int broken(int a) { return a + undeclared_thing; }\n";
  char *err = NULL;
  unsigned long runs = (unsigned long)stats().clang_runs;
  dn_jit *j = compile_capturing(src, &err);
  ck_assert_ptr_null(j);
  ck_assert_uint_eq((unsigned long)stats().clang_runs, runs + 1);
  ck_assert_msg(strstr(err, "model.dnn:7:") != NULL, "no location in: %s", err);
  ck_assert_msg(strstr(err, "undeclared_thing") != NULL, "no name in: %s", err);
  ck_assert_msg(strstr(err, "error") != NULL, "no error in: %s", err);
  free(err);
  ck_assert_int_eq(cache_entries(NULL, 0), 0);  /* failures are not cached */
}
END_TEST

START_TEST(test_unresolved_external) {
  const char *src = "extern int dnncc_test_not_defined_anywhere(int);\n"
                    "int h(int x) { return dnncc_test_not_defined_anywhere(x) + 1; }\n";
  dn_jit *j = compile(src, 0, 0, 1);
  ck_assert_ptr_nonnull(j);  /* linking is lazy: the error shows at lookup */
  fflush(stderr);
  FILE *tmp = tmpfile();
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  void *h = dn_jit_llvm_lookup(j, "h");
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  ck_assert_ptr_null(h);
  char buf[4096] = {0};
  rewind(tmp);
  size_t n = fread(buf, 1, sizeof buf - 1, tmp);
  fclose(tmp);
  ck_assert_msg(n > 0 && strstr(buf, "dnncc_test_not_defined_anywhere"), "got: %s", buf);
  dn_jit_llvm_free(j);
}
END_TEST

/* --- the cache ------------------------------------------------------------------ */

static const char *cache_src =
    "static int twice(int x) { return 2 * x; }\n"
    "int (*pick(void))(int) { return twice; }\n"
    "long cached_sum(const int *v, int n) {\n"
    "  long s = 0;\n"
    "  for (int i = 0; i < n; i++) s += pick()(v[i]);\n"
    "  return s;\n"
    "}\n";

/* Looks up cached_sum in j and checks it against the sum computed here. */
static void check_cached_sum(dn_jit *j) {
  long (*fn)(const int *, int) = (long (*)(const int *, int))dn_jit_llvm_lookup(j, "cached_sum");
  ck_assert_ptr_nonnull(fn);
  int v[100];
  long want = 0;
  for (int i = 0; i < 100; i++) v[i] = i * i - 50, want += 2L * v[i];
  ck_assert_int_eq(fn(v, 100), want);
}

START_TEST(test_cache_hit) {
  dn_jit_llvm_stats s0 = stats();
  dn_jit *a = compile(cache_src, 0, 0, 0);
  ck_assert_ptr_nonnull(a);
  dn_jit_llvm_stats s1 = stats();
  ck_assert_int_eq(s1.clang_runs, s0.clang_runs + 1);
  ck_assert_int_eq(s1.cache_writes, s0.cache_writes + 1);
  ck_assert_int_eq(s1.cache_hits, s0.cache_hits);
  char path[600];
  ck_assert_int_eq(cache_entries(path, sizeof path), 1);
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  ck_assert_int_gt(st.st_size, 0);
  check_cached_sum(a);

  dn_jit *b = compile(cache_src, 0, 0, 0);  /* served from the file: no Clang */
  ck_assert_ptr_nonnull(b);
  dn_jit_llvm_stats s2 = stats();
  ck_assert_int_eq(s2.clang_runs, s1.clang_runs);
  ck_assert_int_eq(s2.cache_hits, s1.cache_hits + 1);
  check_cached_sum(b);
  check_cached_sum(a);  /* two live instances of the same code */
  dn_jit_llvm_free(a);
  dn_jit_llvm_free(b);

  dn_jit *c = compile(cache_src, 0, 0, 1);  /* no_cache: compiled again, nothing written */
  ck_assert_ptr_nonnull(c);
  dn_jit_llvm_stats s3 = stats();
  ck_assert_int_eq(s3.clang_runs, s2.clang_runs + 1);
  ck_assert_int_eq(s3.cache_hits, s2.cache_hits);
  ck_assert_int_eq(s3.cache_writes, s2.cache_writes);
  check_cached_sum(c);
  dn_jit_llvm_free(c);

  dn_jit_opts o3 = {3, 0, 0, 0};  /* other flags: another key */
  dn_jit *d = dn_jit_llvm_compile(cache_src, strlen(cache_src), &o3);
  ck_assert_ptr_nonnull(d);
  ck_assert_int_eq(stats().clang_runs, s3.clang_runs + 1);
  ck_assert_int_eq(cache_entries(NULL, 0), 2);
  check_cached_sum(d);
  dn_jit_llvm_free(d);
}
END_TEST

START_TEST(test_cache_damaged_entry) {
  const char *src = "int damaged_probe(int x) { return x * 3 + 1; }\n";
  dn_jit *a = compile(src, 0, 0, 0);
  ck_assert_ptr_nonnull(a);
  dn_jit_llvm_free(a);
  char path[600];
  ck_assert_int_ge(cache_entries(path, sizeof path), 1);
  /* Find this source's entry: the newest file is not reliable, so damage them all. */
  char dir[300];
  snprintf(dir, sizeof dir, "%s/dnncc", g_cache_root);
  DIR *d = opendir(dir);
  ck_assert_ptr_nonnull(d);
  for (struct dirent *e; (e = readdir(d));) {
    if (strncmp(e->d_name, "llvm-", 5)) continue;
    char p[600];
    snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
    FILE *f = fopen(p, "wb");
    ck_assert_ptr_nonnull(f);
    fputs("this is not an object file", f);
    fclose(f);
  }
  closedir(d);
  dn_jit_llvm_stats s0 = stats();
  dn_jit *b = compile(src, 0, 0, 0);
  ck_assert_ptr_nonnull(b);
  ck_assert_int_eq(stats().clang_runs, s0.clang_runs + 1);  /* rebuilt, not loaded */
  ck_assert_int_eq(stats().cache_hits, s0.cache_hits);
  int (*fn)(int) = (int (*)(int))dn_jit_llvm_lookup(b, "damaged_probe");
  ck_assert_ptr_nonnull(fn);
  ck_assert_int_eq(fn(14), 14 * 3 + 1);
  dn_jit_llvm_free(b);
  dn_jit *c = compile(src, 0, 0, 0);  /* and the rewritten entry is good again */
  ck_assert_ptr_nonnull(c);
  ck_assert_int_eq(stats().cache_hits, s0.cache_hits + 1);
  dn_jit_llvm_free(c);
}
END_TEST

/* --- runtimes: OpenMP and OpenBLAS ------------------------------------------------ */

/* The OpenMP part of test_openmp, in a child process: 0 when the team had 3 threads and
 * every element is right. A child because libomp's worker threads stay alive after the
 * JIT is gone, and LeakSanitizer (DNNCC_SANITIZE builds) crashes scanning their dynamic
 * TLS at exit; the child leaves with _exit, so no leak scan runs there. */
static int openmp_child(void) {
  const char *src = "#include <omp.h>\n"
                    "int team(float *y, const float *x, int n) {\n"
                    "  int size = 0;\n"
                    "#pragma omp parallel num_threads(3)\n"
                    "  {\n"
                    "#pragma omp single\n"
                    "    size = omp_get_num_threads();\n"
                    "#pragma omp for\n"
                    "    for (int i = 0; i < n; i++) y[i] = 2.0f * x[i] + 1.0f;\n"
                    "  }\n"
                    "  return size;\n"
                    "}\n";
  dn_jit *j = compile(src, 1, 0, 1);
  if (!j) return 2;
  int (*team)(float *, const float *, int) =
      (int (*)(float *, const float *, int))dn_jit_llvm_lookup(j, "team");
  if (!team) return 3;
  float x[1000], y[1000];
  for (int i = 0; i < 1000; i++) x[i] = (float)i * 0.25f, y[i] = -1.0f;
  if (team(y, x, 1000) != 3) return 4;  /* the pragmas were compiled, not ignored */
  for (int i = 0; i < 1000; i++)
    if (y[i] != 2.0f * x[i] + 1.0f) return 5;
  dn_jit_llvm_free(j);
  return 0;
}

START_TEST(test_openmp) {
  fflush(NULL);
  pid_t pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) _exit(openmp_child());
  int status = 0;
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert_msg(WIFEXITED(status), "OpenMP child crashed");
  ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

START_TEST(test_openblas) {
  const char *src = "#include <cblas.h>\n"
                    "void mm(const float *a, const float *b, float *c, int m, int n, int k) {\n"
                    "  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,\n"
                    "              a, k, b, n, 0.0f, c, n);\n"
                    "}\n";
  dn_jit *j = compile(src, 0, 1, 1);
  ck_assert_ptr_nonnull(j);
  void (*mm)(const float *, const float *, float *, int, int, int) =
      (void (*)(const float *, const float *, float *, int, int, int))dn_jit_llvm_lookup(j, "mm");
  ck_assert_ptr_nonnull(mm);
  enum { M = 5, N = 7, K = 3 };
  float a[M * K], b[K * N], c[M * N];
  for (int i = 0; i < M * K; i++) a[i] = (float)(i % 5) - 2.0f;
  for (int i = 0; i < K * N; i++) b[i] = (float)(i % 3) * 0.5f;
  mm(a, b, c, M, N, K);
  for (int i = 0; i < M; i++)
    for (int jj = 0; jj < N; jj++) {
      float want = 0;
      for (int p = 0; p < K; p++) want += a[i * K + p] * b[p * N + jj];
      ck_assert_float_eq_tol(c[i * N + jj], want, 1e-5f);
    }
  dn_jit_llvm_free(j);
}
END_TEST

/* --- the front door (jit.c) ------------------------------------------------------- */

START_TEST(test_front_door) {
  unsetenv("DNNCC_JIT");
  ck_assert_str_eq(dn_jit_name(), "llvm");
  const char *src = "double front(double x) { return x * x - 1.0; }\n";
  dn_jit_opts o = {2, 0, 0, 1};
  dn_jit *j = dn_jit_compile(src, strlen(src), &o);
  ck_assert_ptr_nonnull(j);
  double (*fn)(double) = (double (*)(double))dn_jit_lookup(j, "front");
  ck_assert_ptr_nonnull(fn);
  ck_assert_double_eq(fn(3.5), 3.5 * 3.5 - 1.0);
  dn_jit_free(j);
}
END_TEST

static Suite *jit_llvm_suite(void) {
  Suite *s = suite_create("jit_llvm");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_libm_call);
  tcase_add_test(tc, test_compile_error);
  tcase_add_test(tc, test_unresolved_external);
  tcase_add_test(tc, test_cache_hit);
  tcase_add_test(tc, test_cache_damaged_entry);
  tcase_add_test(tc, test_openmp);
  tcase_add_test(tc, test_openblas);
  tcase_add_test(tc, test_front_door);
  suite_add_tcase(s, tc);
  return s;
}

/* Removes the temporary cache directory tree (two levels: root/dnncc/files). */
static void remove_cache_root(void) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/dnncc", g_cache_root);
  DIR *d = opendir(dir);
  if (d) {
    for (struct dirent *e; (e = readdir(d));) {
      if (e->d_name[0] == '.') continue;
      char p[600];
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
    closedir(d);
    rmdir(dir);
  }
  rmdir(g_cache_root);
}

int main(void) {
  if (!dn_jit_llvm_available()) {
    printf("test_jit_llvm: skipped (dnncc was built without LLVM)\n");
    return 0;
  }
  snprintf(g_cache_root, sizeof g_cache_root, "/tmp/dnncc-test-jit-XXXXXX");
  if (!mkdtemp(g_cache_root)) {
    perror("mkdtemp");
    return 1;
  }
  setenv("XDG_CACHE_HOME", g_cache_root, 1);
  SRunner *sr = srunner_create(jit_llvm_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  remove_cache_root();
  return failed ? 1 : 0;
}
