/* test_lexer.c - tokens of the .dnn language: every token kind, numbers, comments,
 * locations, the contextual `init`, and bad input (characters, long names, bad numbers).
 *
 * Tokens are read through dn_lex_dump, which prints `line:col kind [text]` per token.
 * Expected locations are computed from the source text.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse_internal.h"

/* The token dump of `len` bytes of `src`, with stderr captured into *err (both malloc). */
static char *lex_n(const char *src, size_t len, char **err, int *n_errors) {
  dn_diag_reset();
  char *buf = NULL;
  size_t size = 0;
  FILE *m = open_memstream(&buf, &size);
  fflush(stderr);
  FILE *tmp = tmpfile();
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  int n = dn_lex_dump("t.dnn", dn_strndup(src, len), len, m);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  fclose(m);
  long elen = ftell(tmp);
  rewind(tmp);
  *err = calloc((size_t)elen + 1, 1);
  ck_assert_int_eq((long)fread(*err, 1, (size_t)elen, tmp), elen);
  fclose(tmp);
  if (n_errors) *n_errors = n;
  ck_assert_int_eq(n, dn_error_count());
  return buf;
}

/* Kinds of the tokens only, space-separated (locations and texts dropped). */
static char *kinds(const char *src) {
  char *err;
  char *dump = lex_n(src, strlen(src), &err, NULL);
  ck_assert_msg(err[0] == 0, "unexpected errors: %s", err);
  free(err);
  char *out = calloc(strlen(dump) + 1, 1);
  ck_assert_ptr_nonnull(out);
  for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
    char kind[64];
    ck_assert_int_eq(sscanf(line, "%*d:%*d %63s", kind), 1);
    if (out[0]) strcat(out, " ");
    strcat(out, kind);
  }
  free(dump);
  return out;
}

static void expect_kinds(const char *src, const char *want) {
  char *got = kinds(src);
  ck_assert_str_eq(got, want);
  free(got);
}

/* Line and column of the nth occurrence of `tok` in `src`, as "L:C". */
static char *pos(const char *src, const char *tok, int nth) {
  const char *p = src;
  for (int i = 0; i <= nth; i++) {
    p = strstr(i ? p + 1 : p, tok);
    ck_assert_ptr_nonnull(p);
  }
  int line = 1, col = 1;
  for (const char *q = src; q < p; q++) {
    if (*q == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  static char buf[32];
  snprintf(buf, sizeof buf, "%d:%d", line, col);
  return buf;
}

START_TEST(keywords) {
  expect_kinds("model input param output loss def return scan in state train class true false same valid",
               "model input param output loss def return scan in state train class true false same valid end");
  /* keywords are whole words */
  expect_kinds("models input_x in2 _def Train", "name name name name name end");
}
END_TEST

START_TEST(punctuation) {
  expect_kinds("()[]{},:;=+-*/@^", "( ) [ ] { } , : ; = + - * / @ ^ end");
}
END_TEST

START_TEST(names_and_numbers) {
  char *err;
  const char *src = "x_1 64 0.5 1e-3 .25 1. 2E+3 007";
  char *dump = lex_n(src, strlen(src), &err, NULL);
  ck_assert_str_eq(err, "");
  const char *texts[] = {"x_1", "64", "0.5", "1e-3", ".25", "1.", "2E+3", "007"};
  char want[512] = "";
  for (int i = 0; i < 8; i++) {
    char line[64];
    snprintf(line, sizeof line, "%s %s %s\n", pos(src, texts[i], 0), i == 0 ? "name" : "num", texts[i]);
    strcat(want, line);
  }
  char end[32];
  snprintf(end, sizeof end, "1:%d end\n", (int)strlen(src) + 1);
  strcat(want, end);
  ck_assert_str_eq(dump, want);
  free(dump);
  free(err);
}
END_TEST

START_TEST(comments_and_whitespace) {
  const char *src = "# header\n\tx = 1 # trailing\r\n  # indented\n\fy\v=\t2";
  expect_kinds(src, "name = num name = num end");
  char *err;
  char *dump = lex_n(src, strlen(src), &err, NULL);
  char want[32];
  snprintf(want, sizeof want, "%s name y", pos(src, "y", 0));
  ck_assert_msg(strstr(dump, want) != NULL, "%s not in %s", want, dump);
  snprintf(want, sizeof want, "%s name x", pos(src, "x", 0));
  ck_assert_msg(strstr(dump, want) != NULL, "%s not in %s", want, dump);
  free(dump);
  free(err);
}
END_TEST

/* `init` is a keyword only after a param type's ']' on the same line. */
START_TEST(contextual_init) {
  expect_kinds("param W : [3] init = he", "param name : [ num ] init = name end");
  expect_kinds("param W : [3]\ninit = 1", "param name : [ num ] name = num end");
  expect_kinds("x = init", "name = name end");
  expect_kinds("x = a[0] init", "name = name [ num ] name end");
  expect_kinds("def f(a) { param s : [1] init=ones; return a }",
               "def name ( name ) { param name : [ num ] init = name ; return name } end");
  expect_kinds("param W : [a[1], (2)] init", "param name : [ name [ num ] , ( num ) ] init end");
  expect_kinds("param W : [3] x init", "param name : [ num ] name name end");
}
END_TEST

START_TEST(bad_characters) {
  struct {
    const char *src;  /* input */
    const char *bad;  /* where the error is */
    const char *msg;  /* what it says */
  } cases[] = {
      {"x = a $ b", "$", "unexpected character '$'"},
      {"x = a $$$ b", "$", "unexpected character '$'"},
      {"x = \"", "\"", "unexpected character '\"'"},
      {"a.b", ".", "unexpected character '.'"},
      {"x = \xce\xbb", "\xce", "unexpected character '\xce\xbb'"},
      {"x = \xff\xfe", "\xff", "unexpected character '\\xff'"},
      {"x = 2e", "2", "invalid number '2e'"},
      {"x = 1.5.3", "1", "invalid number '1.5.3'"},
      {"x = 3abc", "3", "invalid number '3abc'"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *err;
    int n;
    char *dump = lex_n(cases[i].src, strlen(cases[i].src), &err, &n);
    char want[128];
    snprintf(want, sizeof want, "t.dnn:%s: error: %s", pos(cases[i].src, cases[i].bad, 0), cases[i].msg);
    ck_assert_msg(strstr(err, want) != NULL, "wanted '%s' in '%s'", want, err);
    ck_assert_int_eq(n, 1); /* one error for a run of bad characters */
    free(dump);
    free(err);
  }
}
END_TEST

/* A UTF-8 byte order mark at the start is skipped; columns still count its bytes. */
START_TEST(byte_order_mark) {
  const char *src = "\xEF\xBB\xBFx = 1";
  char *err;
  int n;
  char *dump = lex_n(src, strlen(src), &err, &n);
  ck_assert_int_eq(n, 0);
  char want[32];
  snprintf(want, sizeof want, "%s name x\n", pos(src, "x", 0));
  ck_assert_msg(strncmp(dump, want, strlen(want)) == 0, "%s does not start with %s", dump, want);
  free(dump);
  free(err);
}
END_TEST

START_TEST(nul_bytes) {
  const char src[] = "x\0\0y";
  char *err;
  int n;
  char *dump = lex_n(src, sizeof src - 1, &err, &n);
  ck_assert_int_eq(n, 1);
  ck_assert_ptr_nonnull(strstr(err, "t.dnn:1:2: error: unexpected character '\\x00'"));
  ck_assert_ptr_nonnull(strstr(dump, "1:4 name y"));
  free(dump);
  free(err);
}
END_TEST

START_TEST(long_identifier) {
  char src[DN_LEX_MAX_IDENT + 64];
  for (int len = DN_LEX_MAX_IDENT; len <= DN_LEX_MAX_IDENT + 1; len++) {
    memset(src, 'a', (size_t)len);
    src[len] = 0;
    char *err;
    int n;
    char *dump = lex_n(src, (size_t)len, &err, &n);
    ck_assert_int_eq(n, len > DN_LEX_MAX_IDENT);
    char name_line[DN_LEX_MAX_IDENT + 32];
    snprintf(name_line, sizeof name_line, "1:1 name %.*s\n", DN_LEX_MAX_IDENT, src);
    ck_assert_ptr_nonnull(strstr(dump, name_line)); /* cut to the limit */
    free(dump);
    free(err);
  }
}
END_TEST

START_TEST(multiline_locations) {
  const char *src = "input x : [3]\n\n  h = relu(x)\noutput h\n";
  char *err;
  char *dump = lex_n(src, strlen(src), &err, NULL);
  const char *toks[] = {"input", "h", "relu", "output"};
  const char *kind[] = {"input", "name h", "name relu", "output"};
  for (int i = 0; i < 4; i++) {
    char want[64];
    snprintf(want, sizeof want, "%s %s\n", pos(src, toks[i], 0), kind[i]);
    ck_assert_msg(strstr(dump, want) != NULL, "%s not in %s", want, dump);
  }
  free(dump);
  free(err);
}
END_TEST

static Suite *lexer_suite(void) {
  Suite *s = suite_create("lexer");
  TCase *t = tcase_create("tokens");
  tcase_add_test(t, keywords);
  tcase_add_test(t, punctuation);
  tcase_add_test(t, names_and_numbers);
  tcase_add_test(t, comments_and_whitespace);
  tcase_add_test(t, contextual_init);
  tcase_add_test(t, multiline_locations);
  tcase_add_test(t, byte_order_mark);
  suite_add_tcase(s, t);
  t = tcase_create("errors");
  tcase_add_test(t, bad_characters);
  tcase_add_test(t, nul_bytes);
  tcase_add_test(t, long_identifier);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(lexer_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
