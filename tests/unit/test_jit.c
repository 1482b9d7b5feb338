/* test_jit.c - the cc + dlopen JIT back end: hashing, the cache directory and its reuse,
 * symbol lookup, and compiler failures reported as NULL.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diag.h"
#include "jit.h"

static char cache[] = "/tmp/dnncc-test-jit-XXXXXX";

START_TEST(hash_depends_on_source_and_flags) {
  char a[17], b[17], c[17], d[17];
  dn_jit_hash("int x;", 6, "-O2", a);
  dn_jit_hash("int x;", 6, "-O2", b);
  dn_jit_hash("int y;", 6, "-O2", c);
  dn_jit_hash("int x;", 6, "-O3", d);
  ck_assert_str_eq(a, b);
  ck_assert_str_ne(a, c);
  ck_assert_str_ne(a, d);
  ck_assert_int_eq((int)strlen(a), 16);
  /* FNV-1a of the empty input is the offset basis */
  dn_jit_hash("", 0, "", a);
  ck_assert_str_eq(a, "cbf29ce484222325");
}
END_TEST

START_TEST(compiles_calls_and_caches) {
  static const char src[] = "int twice(int x) { return 2 * x; }\nconst int answer = 42;\n";
  dn_jit_opts o = {2, 0, 0, 0};
  dn_jit *j = dn_jit_cc_compile(src, sizeof src - 1, &o);
  ck_assert_ptr_nonnull(j);
  int (*twice)(int) = (int (*)(int))dn_jit_cc_lookup(j, "twice");
  ck_assert_ptr_nonnull(twice);
  ck_assert_int_eq(twice(21), 42);
  ck_assert_int_eq(*(const int *)dn_jit_cc_lookup(j, "answer"), 42);
  ck_assert_ptr_null(dn_jit_cc_lookup(j, "missing"));
  dn_jit_cc_free(j);
  const char *dir = dn_jit_cache_dir();
  ck_assert_str_eq(dir, dn_fmt("%s/dnncc", cache));
  /* exactly one .so in the cache; compiling again reuses it (same mtime) */
  char cmd[512];
  snprintf(cmd, sizeof cmd, "test $(ls %s/*.so | wc -l) -eq 1", dir);
  ck_assert_int_eq(system(cmd), 0);
  snprintf(cmd, sizeof cmd, "ls %s/*.so", dir);
  FILE *p = popen(cmd, "r");
  char so[512] = "";
  ck_assert_ptr_nonnull(fgets(so, sizeof so, p));
  pclose(p);
  so[strcspn(so, "\n")] = 0;
  struct stat s1, s2;
  ck_assert_int_eq(stat(so, &s1), 0);
  sleep(1);
  j = dn_jit_cc_compile(src, sizeof src - 1, &o);
  ck_assert_ptr_nonnull(j);
  dn_jit_cc_free(j);
  ck_assert_int_eq(stat(so, &s2), 0);
  ck_assert_int_eq((int)s1.st_mtime, (int)s2.st_mtime);
  o.no_cache = 1;  /* bypass: rebuilt */
  j = dn_jit_cc_compile(src, sizeof src - 1, &o);
  ck_assert_ptr_nonnull(j);
  dn_jit_cc_free(j);
  ck_assert_int_eq(stat(so, &s2), 0);
  ck_assert_int_ne((int)s1.st_mtime, (int)s2.st_mtime);
}
END_TEST

START_TEST(compiler_errors_give_null) {
  static const char src[] = "int broken(void) { return undeclared_thing; }\n";
  dn_jit_opts o = {2, 0, 0, 1};
  fflush(stderr);
  FILE *saved = freopen("/dev/null", "w", stderr);
  (void)saved;
  ck_assert_ptr_null(dn_jit_cc_compile(src, sizeof src - 1, &o));
}
END_TEST

int main(void) {
  if (!mkdtemp(cache)) return 1;
  setenv("XDG_CACHE_HOME", cache, 1);
  Suite *s = suite_create("jit");
  TCase *t = tcase_create("cc");
  tcase_set_timeout(t, 120);
  tcase_add_test(t, hash_depends_on_source_and_flags);
  tcase_add_test(t, compiles_calls_and_caches);
  tcase_add_test(t, compiler_errors_give_null);
  suite_add_tcase(s, t);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", cache);
  if (system(cmd)) {}
  return failed ? 1 : 0;
}
