/* test_parser.c - the .dnn grammar: every statement form, precedence through the dumped
 * tree, call arguments, slices, blocks, the conformance programs, and syntax errors
 * (locations, messages, several per run, the limit of 20, nesting limits, garbage bytes).
 *
 * Expected locations are computed from the source text (where the token is), and expected
 * error counts from the programs the tests generate, never typed in.
 */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "parse_internal.h"

/* --- helpers ------------------------------------------------------------------ */

/* What one parse produced: the tree, its dump, and everything printed on stderr. */
typedef struct parsed {
  dn_ast *prog;  /* NULL after errors */
  char *dump;    /* dn_ast_dump output (malloc) */
  char *err;     /* stderr text (malloc) */
  int n_errors;  /* errors reported */
} parsed;

/* Reads all of `f` from the start into a malloc'd string. */
static char *slurp(FILE *f) {
  fflush(f);
  long n = ftell(f);
  rewind(f);
  char *s = calloc((size_t)n + 1, 1);
  ck_assert_ptr_nonnull(s);
  ck_assert_int_eq((long)fread(s, 1, (size_t)n, f), n);
  return s;
}

/* Parses `len` bytes of `src` with stderr captured. */
static parsed parse_n(const char *src, size_t len) {
  parsed r;
  dn_diag_reset();
  fflush(stderr);
  FILE *tmp = tmpfile();
  ck_assert_ptr_nonnull(tmp);
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  char *copy = dn_strndup(src, len);
  r.prog = dn_parse("t.dnn", copy, len);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  r.err = slurp(tmp);
  fclose(tmp);
  r.n_errors = dn_error_count();
  char *buf = NULL;
  size_t size = 0;
  FILE *m = open_memstream(&buf, &size);
  dn_ast_dump(r.prog, m);
  fclose(m);
  r.dump = buf;
  return r;
}

static parsed parse(const char *src) { return parse_n(src, strlen(src)); }

static void done(parsed *r) {
  free(r->dump);
  free(r->err);
}

/* "t.dnn:LINE:COL: error: " for the `nth` (0-based) occurrence of `tok` in `src`. */
static char *where(const char *src, const char *tok, int nth) {
  const char *p = src;
  for (int i = 0; i <= nth; i++) {
    p = strstr(i ? p + 1 : p, tok);
    ck_assert_msg(p != NULL, "'%s' not in source", tok);
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
  static char buf[64];
  snprintf(buf, sizeof buf, "t.dnn:%d:%d: error: ", line, col);
  return buf;
}

/* Number of times `needle` occurs in `hay`. */
static int count(const char *hay, const char *needle) {
  int n = 0;
  for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) n++;
  return n;
}

/* Asserts that `src` parses and dumps to exactly `want`. */
static void expect_dump(const char *src, const char *want) {
  parsed r = parse(src);
  ck_assert_msg(r.prog != NULL, "parse failed for:\n%s\n%s", src, r.err);
  ck_assert_str_eq(r.dump, want);
  done(&r);
}

/* Asserts that binding `x = EXPR` dumps its expression as `want`. */
static void expect_expr(const char *expr, const char *want) {
  char src[512], full[600];
  snprintf(src, sizeof src, "x = %s\n", expr);
  snprintf(full, sizeof full, "(program\n  (bind x %s))\n", want);
  expect_dump(src, full);
}

/* Asserts that `src` fails with an error at `tok` (nth occurrence) containing `msg`. */
static void expect_error(const char *src, const char *tok, int nth, const char *msg) {
  parsed r = parse(src);
  ck_assert_msg(r.prog == NULL, "no error for:\n%s", src);
  char *at = where(src, tok, nth);
  char want[256];
  snprintf(want, sizeof want, "%s%s", at, msg);
  ck_assert_msg(strstr(r.err, want) != NULL, "wanted '%s' in:\n%s", want, r.err);
  done(&r);
}

/* --- statements ------------------------------------------------------------------ */

START_TEST(stmt_model_input) {
  expect_dump("model mlp\ninput x : [20]\ninput y : class(5)\ninput s : class(4)[6, 2]\ninput t : []\n",
              "(program\n  (model mlp)\n  (input x (tensor 20))\n  (input y (class 5))\n"
              "  (input s (class 4 6 2))\n  (input t (tensor)))\n");
}
END_TEST

START_TEST(stmt_param) {
  expect_dump("H = 128\nparam W : [4 * H, 64] init=xavier\nparam b : [H,] init = normal(0.02)\nparam c : [3]\n",
              "(program\n  (bind H 128)\n  (param W (tensor (* 4 H) 64) (init xavier))\n"
              "  (param b (tensor H) (init (call normal 0.02)))\n  (param c (tensor 3)))\n");
}
END_TEST

/* `init` is an ordinary name except right after a param's type on the same line. */
START_TEST(stmt_param_then_init_binding) {
  expect_dump("def f(a) { param s : [1] init=ones; return a * s }\n",
              "(program\n  (def f (a)\n    (param s (tensor 1) (init ones))\n    (return (* a s))))\n");
  expect_dump("param b : [8]\ninit = 3\ny = init + 1\n",
              "(program\n  (param b (tensor 8))\n  (bind init 3)\n  (bind y (+ init 1)))\n");
}
END_TEST

START_TEST(stmt_output_loss) {
  expect_dump("output h\noutput y = h\nloss = mse(y, t);\n",
              "(program\n  (output h)\n  (output y h)\n  (loss (call mse y t)))\n");
}
END_TEST

START_TEST(stmt_def_forms) {
  expect_dump("def swish(v) = v * sigmoid(v)\ndef k() = 1\n"
              "def block(x, ch,) {\n  param s : [1]\n  y = relu(x)\n  return y * s\n}\n",
              "(program\n  (def swish (v) (* v (call sigmoid v)))\n  (def k () 1)\n"
              "  (def block (x ch)\n    (param s (tensor 1))\n    (bind y (call relu x))\n"
              "    (return (* y s))))\n");
}
END_TEST

START_TEST(stmt_scan_nested) {
  expect_dump("scan x_t in x {\n  state h : [9] = 0\n  scan s in range(3) { state c : [2] = zeros([2]); c = c + h }\n"
              "  h = tanh(h)\n}\nscan r in reverse(x) { state g : [1] = 0; g = g }\n",
              "(program\n  (scan x_t x\n    (state h (tensor 9) 0)\n    (scan s (call range 3)\n"
              "      (state c (tensor 2) (call zeros (list 2)))\n      (bind c (+ c h)))\n"
              "    (bind h (call tanh h)))\n  (scan r (call reverse x)\n    (state g (tensor 1) 0)\n"
              "    (bind g g)))\n");
}
END_TEST

START_TEST(stmt_train) {
  expect_dump("train {\n  optimizer = adam(lr=0.001, beta1=0.9)\n  batch = 64; epochs = 10\n  clip_norm = 5.0\n}\n",
              "(program\n  (train\n    (bind optimizer (call adam (kw lr 0.001) (kw beta1 0.9)))\n"
              "    (bind batch 64)\n    (bind epochs 10)\n    (bind clip_norm 5.0)))\n");
}
END_TEST

/* Statements need no separators, even several on one line; ';' alone is fine too. */
START_TEST(stmt_no_separators) {
  expect_dump(";; a = 1 b = a output b ;", "(program\n  (bind a 1)\n  (bind b a)\n  (output b))\n");
  expect_dump("", "(program)\n");
  expect_dump("# only a comment", "(program)\n");
}
END_TEST

/* Locations: keyword for statements, name_loc for the declared name, operator for BINOP. */
START_TEST(stmt_locations) {
  const char *src = "input x : [3]\n  h = a +\n b\n";
  parsed r = parse(src);
  ck_assert_ptr_nonnull(r.prog);
  ck_assert_int_eq(r.prog->body.n, 2);
  dn_ast *in = r.prog->body.v[0], *h = r.prog->body.v[1];
  ck_assert_int_eq(in->loc.line, 1);
  ck_assert_int_eq(in->loc.col, 1);
  ck_assert_int_eq(in->name_loc.col, (int)(strchr(src, 'x') - src) + 1);
  ck_assert_int_eq(h->loc.line, 2);
  ck_assert_int_eq(h->loc.col, (int)(strchr(src, 'h') - strchr(src, '\n')));
  ck_assert_int_eq(h->a->kind, DN_AST_BINOP);
  ck_assert_int_eq(h->a->loc.col, (int)(strchr(src, '+') - strchr(src, '\n')));
  ck_assert_int_eq(h->a->b->loc.line, 3);
  ck_assert_str_eq(h->a->b->loc.file, "t.dnn");
  done(&r);
}
END_TEST

/* --- expressions ------------------------------------------------------------------- */

START_TEST(expr_precedence) {
  expect_expr("a + b * c", "(+ a (* b c))");
  expect_expr("a * b + c", "(+ (* a b) c)");
  expect_expr("a - b - c", "(- (- a b) c)");
  expect_expr("a / b * c @ d", "(@ (* (/ a b) c) d)");
  expect_expr("W @ x + b", "(+ (@ W x) b)");
  expect_expr("(a + b) * c", "(* (+ a b) c)");
  expect_expr("-a * b", "(* (neg a) b)");
  expect_expr("- - a", "(neg (neg a))");
  expect_expr("a - -b", "(- a (neg b))");
}
END_TEST

START_TEST(expr_power) {
  expect_expr("a ^ b ^ c", "(^ a (^ b c))");
  expect_expr("-x ^ 2", "(neg (^ x 2))");
  expect_expr("2 ^ -1", "(^ 2 (neg 1))");
  expect_expr("2 ^ -x ^ 2", "(^ 2 (neg (^ x 2)))");
  expect_expr("a * b ^ 2", "(* a (^ b 2))");
  expect_expr("x[0] ^ 2", "(^ (index x 0) 2)");
  expect_expr("f(x) ^ g(y)[1]", "(^ (call f x) (index (call g y) 1))");
}
END_TEST

START_TEST(expr_calls_kwargs) {
  expect_expr("conv2d(x, 16, kernel=3, pad=same)", "(call conv2d x 16 (kw kernel 3) (kw pad same))");
  expect_expr("f()", "(call f)");
  expect_expr("f(a, b=[1, 2], c=valid, d=true, e=false,)",
              "(call f a (kw b (list 1 2)) (kw c valid) (kw d true) (kw e false))");
  expect_expr("concat(a, b, axis=-1)", "(call concat a b (kw axis (neg 1)))");
}
END_TEST

START_TEST(expr_index_slices) {
  expect_expr("x[-1]", "(index x (neg 1))");
  expect_expr("x[:, 2:5]", "(index x (slice _ _) (slice 2 5))");
  expect_expr("x[1:]", "(index x (slice 1 _))");
  expect_expr("x[:3]", "(index x (slice _ 3))");
  expect_expr("z[0:128][1]", "(index (index z (slice 0 128)) 1)");
  expect_expr("h[T - 1]", "(index h (- T 1))");
}
END_TEST

START_TEST(expr_numbers) {
  parsed r = parse("a = 64\nb = 0.5\nc = 1e-3\nd = .25\ne = 1.\nf = 2E+3\n");
  ck_assert_ptr_nonnull(r.prog);
  const double want[] = {64, 1.0 / 2, 1.0 / 1000, 1.0 / 4, 1, 2000};
  const int is_int[] = {1, 0, 0, 0, 0, 0};
  ck_assert_int_eq(r.prog->body.n, 6);
  for (int i = 0; i < 6; i++) {
    dn_ast *v = ((dn_ast *)r.prog->body.v[i])->a;
    ck_assert_int_eq(v->kind, DN_AST_NUM);
    ck_assert_double_eq(v->num, want[i]);
    ck_assert_int_eq(v->is_int, is_int[i]);
  }
  done(&r);
}
END_TEST

/* The dump prints floats so they read back exactly, and keeps them recognizable as floats. */
START_TEST(expr_number_dump) {
  expect_expr("1e3 + 0.1 + 9007199254740992 + 2.50", "(+ (+ (+ 1000.0 0.1) 9007199254740992) 2.5)");
}
END_TEST

START_TEST(expr_bool_list) {
  parsed r = parse("a = [true, false, same, valid, []]\n");
  ck_assert_ptr_nonnull(r.prog);
  dn_ast *l = ((dn_ast *)r.prog->body.v[0])->a;
  ck_assert_int_eq(l->kind, DN_AST_LIST);
  ck_assert_int_eq(l->args.n, 5);
  ck_assert_double_eq(((dn_ast *)l->args.v[0])->num, 1);
  ck_assert_double_eq(((dn_ast *)l->args.v[1])->num, 0);
  ck_assert_int_eq(((dn_ast *)l->args.v[2])->kind, DN_AST_SAME);
  ck_assert_int_eq(((dn_ast *)l->args.v[3])->kind, DN_AST_VALID);
  ck_assert_int_eq(((dn_ast *)l->args.v[4])->args.n, 0);
  done(&r);
}
END_TEST

/* --- the conformance programs ---------------------------------------------------- */

START_TEST(conformance_cases_parse) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/../shared/conformance/cases", DNNCC_SOURCE_DIR);
  DIR *d = opendir(dir);
  if (!d) return; /* the suite is not next to this checkout */
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char path[8192];
    snprintf(path, sizeof path, "%s/%s/model.dnn", dir, e->d_name);
    if (access(path, R_OK) != 0) continue;
    dn_diag_reset();
    dn_ast *p = dn_parse_file(dn_strdup(path));
    ck_assert_msg(p != NULL, "%s does not parse", path);
    ck_assert_int_eq(p->kind, DN_AST_PROGRAM);
    ck_assert_int_gt(p->body.n, 0);
    n++;
  }
  closedir(d);
  ck_assert_int_gt(n, 0);
}
END_TEST

START_TEST(conformance_syntax_error_line) {
  char path[4096];
  snprintf(path, sizeof path, "%s/../shared/conformance/errors/syntax.dnn", DNNCC_SOURCE_DIR);
  FILE *f = fopen(path, "rb");
  if (!f) return;
  char text[4096];
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  text[n] = 0;
  int want_line = atoi(strstr(text, "expect-error:") + strlen("expect-error:"));
  parsed r = parse(text);
  char want[64];
  snprintf(want, sizeof want, "t.dnn:%d:", want_line);
  ck_assert_ptr_null(r.prog);
  ck_assert_msg(strncmp(r.err, want, strlen(want)) == 0, "wanted %s first in:\n%s", want, r.err);
  done(&r);
}
END_TEST

/* --- syntax errors ------------------------------------------------------------------ */

START_TEST(err_missing_paren_note) {
  const char *src = "input x : [10]\nh = relu(dense(x, 8)\noutput y = dense(h, 2)\n";
  expect_error(src, "output", 0, "syntax error, unexpected 'output', expecting ')' or ','");
  parsed r = parse(src);
  char note[64];
  snprintf(note, sizeof note, "%s", where(src, "(", 0));
  strcpy(strstr(note, "error: "), "note: to match this '('");
  ck_assert_msg(strstr(r.err, note) != NULL, "wanted '%s' in:\n%s", note, r.err);
  ck_assert_int_eq(r.n_errors, 1);
  done(&r);
}
END_TEST

START_TEST(err_messages) {
  expect_error("input x : 10\n", "10", 0, "syntax error, unexpected number '10', expecting 'class' or '['");
  expect_error("x = \n", " \n", 0, "syntax error, unexpected end of file, expecting an expression");
  expect_error("def f(a b) = a\n", "b", 0, "syntax error, unexpected identifier 'b', expecting ')' or ','");
  expect_error("scan x y { }\n", "y", 0, "syntax error, unexpected identifier 'y', expecting 'in'");
  expect_error("x = [1, 2\n", "\n", 0, "syntax error, unexpected end of file, expecting ']' or ','");
  expect_error("x = 1 +* 2\n", "*", 0, "syntax error, unexpected '*', expecting an expression");
  expect_error(")\n", ")", 0, "syntax error, unexpected ')', expecting a statement or end of file");
  expect_error("x = a[1:2:3]\n", ":", 1, "syntax error, unexpected ':', expecting ']' or ','");
  expect_error("output = 3\n", "=", 0, "syntax error, unexpected '=', expecting identifier");
  const char *pw = "y = x ** 2\n";
  expect_error(pw, "*", 1, "syntax error, unexpected '*', expecting an expression");
  parsed r = parse(pw);
  char note[128];
  snprintf(note, sizeof note, "%s", where(pw, "*", 0));
  strcpy(strstr(note, "error: "), "note: powers are written 'a ^ b'");
  ck_assert_msg(strstr(r.err, note) != NULL, "wanted '%s' in:\n%s", note, r.err);
  done(&r);
}
END_TEST

/* k broken lines give k errors, each on its line, in one run. */
START_TEST(err_several_in_one_run) {
  const int k = 7;
  char src[2048] = "input x : [4]\n";
  for (int i = 0; i < k; i++) {
    char line[128];
    snprintf(line, sizeof line, "h%d = relu(x %s\nok%d = x\n", i, i % 2 ? "+ )" : "x", i);
    strcat(src, line);
  }
  strcat(src, "output y = x\n");
  parsed r = parse(src);
  ck_assert_ptr_null(r.prog);
  ck_assert_int_eq(r.n_errors, k);
  for (int i = 0; i < k; i++) {
    char name[16];
    snprintf(name, sizeof name, "h%d =", i);
    char at[64];
    snprintf(at, sizeof at, "t.dnn:%d:", 2 + 2 * i);
    ck_assert_msg(strstr(r.err, at) != NULL, "no error on the line of %s:\n%s", name, r.err);
  }
  done(&r);
}
END_TEST

START_TEST(err_limit_20) {
  char src[8192] = "";
  for (int i = 0; i < 3 * DN_MAX_ERRORS; i++) {
    char line[64];
    snprintf(line, sizeof line, "x%d = )\n", i);
    strcat(src, line);
  }
  parsed r = parse(src);
  ck_assert_ptr_null(r.prog);
  ck_assert_int_eq(r.n_errors, DN_MAX_ERRORS);
  ck_assert_int_eq(count(r.err, ": error: "), DN_MAX_ERRORS);
  ck_assert_ptr_nonnull(strstr(r.err, "too many errors"));
  done(&r);
}
END_TEST

/* The nesting limit hit while recovering from earlier errors still stops cleanly. */
START_TEST(err_limit_during_recovery) {
  const int broken = DN_MAX_ERRORS - 2;
  size_t n = 64 * (size_t)broken + 2 * DN_LEX_MAX_DEPTH + 64;
  char *src = calloc(n, 1);
  ck_assert_ptr_nonnull(src);
  for (int i = 0; i < broken; i++) strcat(src, "x = 1 + )\n");
  strcat(src, "y = ");
  for (int i = 0; i <= DN_LEX_MAX_DEPTH; i++) strcat(src, "[");
  strcat(src, "\nz = 1\n");
  parsed r = parse(src);
  ck_assert_ptr_null(r.prog);
  ck_assert_int_eq(r.n_errors, broken + 1);
  ck_assert_int_eq(count(r.err, "brackets nested too deeply"), 1);
  done(&r);
  free(src);
}
END_TEST

START_TEST(err_one_per_token) {
  parsed r = parse("x = a $ b\ny = (((\nz = 1\n");
  ck_assert_ptr_null(r.prog);
  ck_assert_int_eq(r.n_errors, 2);
  ck_assert_ptr_nonnull(strstr(r.err, "unexpected character '$'"));
  done(&r);
  /* the skipped '{' takes its '}' along: no second error */
  r = parse("scan x y { }\nz = 1\n");
  ck_assert_int_eq(r.n_errors, 1);
  done(&r);
  /* a block closed after a broken statement in it: one error, the block still closes */
  r = parse("def f(a) {\n  b = (a +\n}\ny = 2\n");
  ck_assert_int_eq(r.n_errors, 1);
  done(&r);
  r = parse("def f(a) {\n  b = a + ) }\ny = 2\n");
  ck_assert_int_eq(r.n_errors, 1);
  done(&r);
  r = parse("}\n}\nx = 1 }\n");
  ck_assert_int_eq(r.n_errors, 3);
  done(&r);
}
END_TEST

START_TEST(err_deep_nesting) {
  for (int depth = DN_LEX_MAX_DEPTH - 5; depth <= DN_LEX_MAX_DEPTH + 100; depth += 105) {
    size_t n = 2 * (size_t)depth + 16;
    char *src = calloc(n, 1);
    ck_assert_ptr_nonnull(src);
    strcpy(src, "x = ");
    for (int i = 0; i < depth; i++) strcat(src, "(");
    strcat(src, "1");
    for (int i = 0; i < depth; i++) strcat(src, ")");
    parsed r = parse(src);
    if (depth <= DN_LEX_MAX_DEPTH) {
      ck_assert_ptr_nonnull(r.prog);
    } else {
      ck_assert_ptr_null(r.prog);
      ck_assert_int_eq(r.n_errors, 1);
      char want[64];
      snprintf(want, sizeof want, "t.dnn:1:%d: error: brackets nested too deeply", 4 + DN_LEX_MAX_DEPTH + 1);
      ck_assert_msg(strstr(r.err, want) != NULL, "wanted %s in %s", want, r.err);
    }
    done(&r);
    free(src);
  }
}
END_TEST

/* Long operator chains and unary chains are errors, not stack overflows. */
START_TEST(err_long_chains) {
  const char *ops[] = {"+", "^", "@"};
  for (int o = 0; o < 3; o++) {
    int terms = 50000;
    char *src = calloc((size_t)terms * 2 + 16, 1);
    ck_assert_ptr_nonnull(src);
    strcpy(src, "x = a");
    char *p = src + strlen(src);
    for (int i = 1; i < terms; i++) {
      *p++ = ops[o][0];
      *p++ = 'a';
    }
    parsed r = parse(src);
    ck_assert_ptr_null(r.prog);
    ck_assert_int_eq(r.n_errors, 1);
    ck_assert_ptr_nonnull(strstr(r.err, "too deeply nested"));
    done(&r);
    free(src);
  }
  char *neg = calloc(30016, 1);
  ck_assert_ptr_nonnull(neg);
  strcpy(neg, "x = ");
  memset(neg + 4, '-', 30000);
  strcat(neg, "1");
  parsed r = parse(neg);
  ck_assert_ptr_null(r.prog);
  ck_assert_int_eq(r.n_errors, 1);
  done(&r);
  free(neg);
}
END_TEST

/* Random bytes, all byte values, NULs: errors (at most 20), never a crash. */
START_TEST(err_garbage_bytes) {
  unsigned char buf[4096];
  unsigned seed = 12345;
  for (int round = 0; round < 40; round++) {
    for (size_t i = 0; i < sizeof buf; i++) {
      seed = seed * 1103515245u + 12345u;
      buf[i] = round == 0 ? (unsigned char)i : (unsigned char)(seed >> 16);
    }
    parsed r = parse_n((const char *)buf, sizeof buf);
    ck_assert_ptr_null(r.prog);
    ck_assert_int_ge(r.n_errors, 1);
    ck_assert_int_le(r.n_errors, DN_MAX_ERRORS);
    done(&r);
  }
  const char nul[] = "x = 1\0 + 2\ny = 3\n";
  parsed r = parse_n(nul, sizeof nul - 1);
  ck_assert_ptr_null(r.prog);
  ck_assert_int_eq(r.n_errors, 1);
  ck_assert_ptr_nonnull(strstr(r.err, "t.dnn:1:6: error: unexpected character '\\x00'"));
  done(&r);
}
END_TEST

/* Random well-formed token soup: any outcome but a crash, errors bounded. */
START_TEST(err_token_soup) {
  static const char *const toks[] = {"x", "=", "(", ")", "[", "]", "{", "}", ",", ":", ";", "+", "-", "*",
                                     "^", "@", "1", "2.5", "def", "scan", "in", "state", "param", "init",
                                     "return", "train", "class", "output", "loss", "\n", "input", "model"};
  unsigned seed = 777;
  for (int round = 0; round < 200; round++) {
    char src[2048] = "";
    for (int i = 0; i < 120; i++) {
      seed = seed * 1103515245u + 12345u;
      strcat(src, toks[(seed >> 16) % (sizeof toks / sizeof toks[0])]);
      strcat(src, " ");
    }
    parsed r = parse(src);
    ck_assert_int_le(r.n_errors, DN_MAX_ERRORS);
    ck_assert(r.prog != NULL || r.n_errors > 0);
    done(&r);
  }
}
END_TEST

/* --- checks after parsing ------------------------------------------------------------ */

START_TEST(err_block_rules) {
  expect_error("state h : [3] = 0\n", "state", 0, "'state' is only allowed inside a scan block");
  expect_error("x = 1\nreturn x\n", "return", 0, "'return' is only allowed at the end of a def body");
  expect_error("def f(a) {\n  return a\n  b = a\n}\n", "return", 0, "'return' must be the last statement");
  expect_error("def f(a) {\n  b = a\n}\n", "def", 0, "def 'f' has a block body without 'return'");
  expect_error("train {\n  output y\n}\n", "output", 0, "a train block holds only settings");
  expect_error("scan t in x {\n  input z : [3]\n}\n", "input", 0, "'input' is not allowed inside a scan block");
  expect_error("def f(a) {\n  state s : [1] = 0\n  return a\n}\n", "state", 0, "'state' is only allowed");
}
END_TEST

START_TEST(err_call_args) {
  expect_error("y = f(a, b=1, c)\n", "c", 0, "positional argument after keyword argument 'b' in call to 'f'");
  expect_error("y = f(a, b=1, b=2)\n", "b", 1, "keyword argument 'b' given twice in call to 'f'");
}
END_TEST

START_TEST(err_lexical) {
  expect_error("x = 99999999999999999999\n", "9", 0, "integer literal '99999999999999999999' is too large");
  expect_error("x = 1e39\n", "1", 0, "number '1e39' is out of range for float32");
  expect_error("x = 2e\n", "2", 0, "invalid number '2e'");
  expect_error("x = a.b\n", ".", 0, "unexpected character '.'");
  expect_error("x = \xce\xbb + 1\n", "\xce", 0, "unexpected character '\xce\xbb'");
  char src[512] = "x = ";
  memset(src + 4, 'a', 300);
  strcat(src, "\n");
  expect_error(src, "a", 0, "identifier too long (300 characters, at most 256)");
}
END_TEST

/* --- files ------------------------------------------------------------------------- */

/* Parses a file with stderr captured; returns the stderr text (malloc). */
static char *parse_file_err(const char *path, dn_ast **out) {
  dn_diag_reset();
  fflush(stderr);
  FILE *tmp = tmpfile();
  int saved = dup(2);
  dup2(fileno(tmp), 2);
  *out = dn_parse_file(path);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  char *s = slurp(tmp);
  fclose(tmp);
  return s;
}

START_TEST(file_errors) {
  dn_ast *p;
  char *err = parse_file_err("/nonexistent/dir/m.dnn", &p);
  ck_assert_ptr_null(p);
  ck_assert_str_eq(err, "dnncc: error: cannot read '/nonexistent/dir/m.dnn': No such file or directory\n");
  free(err);
  err = parse_file_err("/tmp", &p);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(err, "dnncc: error: cannot read '/tmp': "));
  free(err);

  char path[] = "/tmp/dnncc_test_parser_XXXXXX";
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  FILE *f = fdopen(fd, "wb");
  const char *ok = "input x : [2]\noutput y = x\n";
  fputs(ok, f);
  fflush(f);
  err = parse_file_err(path, &p);
  ck_assert_ptr_nonnull(p);
  ck_assert_int_eq(p->body.n, 2);
  free(err);
  /* grow past 16 MiB with a comment: too large */
  fputs("#", f);
  for (size_t n = 0; n <= DN_PARSE_MAX_BYTES / 4096; n++) {
    char block[4096];
    memset(block, 'c', sizeof block);
    fwrite(block, 1, sizeof block, f);
  }
  fclose(f);
  err = parse_file_err(path, &p);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(err, "larger than"));
  free(err);
  unlink(path);
}
END_TEST

static Suite *parser_suite(void) {
  Suite *s = suite_create("parser");
  TCase *t = tcase_create("statements");
  tcase_add_test(t, stmt_model_input);
  tcase_add_test(t, stmt_param);
  tcase_add_test(t, stmt_param_then_init_binding);
  tcase_add_test(t, stmt_output_loss);
  tcase_add_test(t, stmt_def_forms);
  tcase_add_test(t, stmt_scan_nested);
  tcase_add_test(t, stmt_train);
  tcase_add_test(t, stmt_no_separators);
  tcase_add_test(t, stmt_locations);
  suite_add_tcase(s, t);
  t = tcase_create("expressions");
  tcase_add_test(t, expr_precedence);
  tcase_add_test(t, expr_power);
  tcase_add_test(t, expr_calls_kwargs);
  tcase_add_test(t, expr_index_slices);
  tcase_add_test(t, expr_numbers);
  tcase_add_test(t, expr_number_dump);
  tcase_add_test(t, expr_bool_list);
  suite_add_tcase(s, t);
  t = tcase_create("conformance");
  tcase_add_test(t, conformance_cases_parse);
  tcase_add_test(t, conformance_syntax_error_line);
  suite_add_tcase(s, t);
  t = tcase_create("errors");
  tcase_set_timeout(t, 60);
  tcase_add_test(t, err_missing_paren_note);
  tcase_add_test(t, err_messages);
  tcase_add_test(t, err_several_in_one_run);
  tcase_add_test(t, err_limit_20);
  tcase_add_test(t, err_one_per_token);
  tcase_add_test(t, err_limit_during_recovery);
  tcase_add_test(t, err_deep_nesting);
  tcase_add_test(t, err_long_chains);
  tcase_add_test(t, err_garbage_bytes);
  tcase_add_test(t, err_token_soup);
  tcase_add_test(t, err_block_rules);
  tcase_add_test(t, err_call_args);
  tcase_add_test(t, err_lexical);
  tcase_add_test(t, file_errors);
  suite_add_tcase(s, t);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(parser_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
