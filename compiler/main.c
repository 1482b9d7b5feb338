/* main.c - dnncc's command line: parse the arguments, dispatch to one command.
 *
 * The pipeline every command runs is written out in pipeline.c; this file only turns
 * argv into dn_options (SPEC 3) and reports misuse with exit status 2.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stddef.h>

#include "driver.h"
#include "jit.h"

static const char usage[] =
    "usage: dnncc FILE.dnn -o OUT.c [options]       emit inference C (and OUT.h)\n"
    "       dnncc check FILE.dnn                     check; print a summary table\n"
    "       dnncc graph FILE.dnn [--grad] -o G.dot   Graphviz drawing of the graph\n"
    "       dnncc run FILE.dnn --weights W --input [NAME=]X.npy ... -o [NAME=]Y.npy\n"
    "       dnncc grad FILE.dnn --weights W --input [NAME=]X.npy ... -o G.safetensors\n"
    "       dnncc gradcheck FILE.dnn [--seed S]\n"
    "       dnncc train FILE.dnn --data D [-o W.safetensors] [--epochs N] [--init W0]\n"
    "                  [--val F] [--log L.csv] [--plot P.png] [--checkpoint DIR] [--resume]\n"
    "                  [--augment flip,crop=P,brightness=B,contrast=C] [--steps N] [--lr X]\n"
    "       dnncc eval FILE.dnn --weights W --data D\n"
    "       dnncc sample FILE.dnn --weights W --data text:FILE [--length N] [--seed S]\n"
    "\n"
    "options for emitting C:\n"
    "  --batch N          fixed batch (default 1; the train block's batch with --train)\n"
    "  --train            also emit the backward pass and the optimizer step\n"
    "  --weights W        embed weights from a safetensors file as const data\n"
    "  --prefix P         C prefix (default: the model name)\n"
    "  --blas none|openblas  matrix products by dnncc's own kernels or cblas_sgemm\n"
    "  --threads N        OpenMP threads in the generated code\n"
    "  --emit-main        add a main() that reads .npy inputs and writes .npy outputs\n"
    "  -O0 .. -O3         dnncc's optimization level (-O0: no fusion)\n"
    "  --dump ast|ir|grad|plan   print an intermediate form to stdout\n"
    "  --no-cache         do not reuse compiled code from $XDG_CACHE_HOME/dnncc\n"
    "  --help, --version\n";

int dn_usage_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("dnncc: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(see dnncc --help)\n", stderr);
  va_end(ap);
  return 2;
}

static int parse_int(const char *flag, const char *s, int64_t lo, int64_t hi, int64_t *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || end == s || v < lo || v > hi)
    return dn_usage_error("%s expects an integer in [%lld, %lld], got '%s'", flag, (long long)lo, (long long)hi, s);
  *out = v;
  return 0;
}

static int parse_double(const char *flag, const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || *end || end == s || !(v > 0) || v > 1e30) return dn_usage_error("%s expects a positive number, got '%s'", flag, s);
  *out = v;
  return 0;
}

/* NAME=PATH or PATH. */
static dn_named_path *named_path(const char *arg) {
  dn_named_path *np = dn_alloc(sizeof *np);
  const char *eq = strchr(arg, '=');
  if (eq && eq != arg) {
    np->name = dn_strndup(arg, (size_t)(eq - arg));
    np->path = eq + 1;
  } else {
    np->path = arg;
  }
  return np;
}

static const struct { const char *name; dn_command cmd; } commands[] = {
    {"check", DN_CMD_CHECK}, {"graph", DN_CMD_GRAPH}, {"run", DN_CMD_RUN},
    {"grad", DN_CMD_GRAD}, {"gradcheck", DN_CMD_GRADCHECK}, {"train", DN_CMD_TRAIN},
    {"eval", DN_CMD_EVAL}, {"sample", DN_CMD_SAMPLE},
};

/* Options taking a value: flag, destination. */
static int take_string(dn_options *o, const char *flag, const char *v) {
  static const struct { const char *flag; size_t off; } table[] = {
      {"--weights", offsetof(dn_options, weights)}, {"--data", offsetof(dn_options, data)},
      {"--init", offsetof(dn_options, init)}, {"--val", offsetof(dn_options, val)},
      {"--log", offsetof(dn_options, log)}, {"--plot", offsetof(dn_options, plot)},
      {"--checkpoint", offsetof(dn_options, checkpoint)}, {"--prefix", offsetof(dn_options, prefix)},
      {"--dump", offsetof(dn_options, dump)}, {"--augment", offsetof(dn_options, augment)},
      {"--blas", offsetof(dn_options, blas)},
  };
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(flag, table[i].flag) == 0) {
      *(const char **)((char *)o + table[i].off) = v;
      return 1;
    }
  return 0;
}

static int parse_args(int argc, char **argv, dn_options *o) {
  int i = 1;
  o->opt_level = 2;
  o->command = DN_CMD_COMPILE;
  for (size_t c = 0; c < sizeof commands / sizeof commands[0]; c++)
    if (argc > 1 && strcmp(argv[1], commands[c].name) == 0) {
      o->command = commands[c].cmd;
      i = 2;
    }
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int64_t n;
    if (a[0] != '-' || strcmp(a, "-") == 0) {
      if (o->file) return dn_usage_error("more than one model file: '%s' and '%s'", o->file, a);
      o->file = a;
      continue;
    }
    if (strcmp(a, "--train") == 0) { o->train = 1; continue; }
    if (strcmp(a, "--emit-main") == 0) { o->emit_main = 1; continue; }
    if (strcmp(a, "--grad") == 0) { o->grad = 1; continue; }
    if (strcmp(a, "--resume") == 0) { o->resume = 1; continue; }
    if (strcmp(a, "--no-cache") == 0) { o->no_cache = 1; continue; }
    if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) { o->quiet = 1; continue; }
    if (a[1] == 'O' && a[2] >= '0' && a[2] <= '3' && !a[3]) { o->opt_level = a[2] - '0'; continue; }
    if (!v) return dn_usage_error("option '%s' %s", a, a[1] == '-' || a[1] == 'o' ? "needs a value" : "is unknown");
    if (strcmp(a, "-o") == 0) dn_vec_push(&o->outs, named_path(v));
    else if (strcmp(a, "--input") == 0) dn_vec_push(&o->inputs, named_path(v));
    else if (take_string(o, a, v)) {}
    else if (strcmp(a, "--batch") == 0) { if (parse_int(a, v, 1, 1 << 20, &o->batch)) return 2; }
    else if (strcmp(a, "--epochs") == 0) { if (parse_int(a, v, 1, 1000000, &o->epochs)) return 2; }
    else if (strcmp(a, "--threads") == 0) { if (parse_int(a, v, 1, 1024, &o->threads)) return 2; }
    else if (strcmp(a, "--steps") == 0) { if (parse_int(a, v, 1, INT64_MAX / 2, &o->steps)) return 2; }
    else if (strcmp(a, "--length") == 0) { if (parse_int(a, v, 1, 1 << 24, &o->length)) return 2; }
    else if (strcmp(a, "--lr") == 0) { if (parse_double(a, v, &o->lr)) return 2; }
    else if (strcmp(a, "--tol") == 0) { if (parse_double(a, v, &o->tolerance)) return 2; }
    else if (strcmp(a, "--seed") == 0) {
      if (parse_int(a, v, 0, INT64_MAX, &n)) return 2;
      o->seed = (uint64_t)n;
      o->seed_set = 1;
    } else return dn_usage_error("unknown option '%s'", a);
    i++;
  }
  if (!o->file) return dn_usage_error("no model file given");
  if (o->blas && strcmp(o->blas, "none") != 0 && strcmp(o->blas, "openblas") != 0)
    return dn_usage_error("--blas expects 'none' or 'openblas', got '%s'", o->blas);
  if (o->dump && strcmp(o->dump, "ast") && strcmp(o->dump, "ir") && strcmp(o->dump, "grad") && strcmp(o->dump, "plan"))
    return dn_usage_error("--dump expects ast, ir, grad or plan, got '%s'", o->dump);
  return 0;
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
    fputs(usage, stdout);
    return 0;
  }
  if (argc > 1 && strcmp(argv[1], "--version") == 0) {
    printf("dnncc %s (JIT: %s)\n", DNNCC_VERSION, dn_jit_name());
    return 0;
  }
  dn_options o = {0};
  int rc = parse_args(argc, argv, &o);
  if (rc) return rc;
  switch (o.command) {
  case DN_CMD_COMPILE: return dn_cmd_compile(&o);
  case DN_CMD_CHECK: return dn_cmd_check(&o);
  case DN_CMD_GRAPH: return dn_cmd_graph(&o);
  case DN_CMD_RUN: return dn_cmd_run(&o);
  case DN_CMD_GRAD: return dn_cmd_grad(&o);
  case DN_CMD_GRADCHECK: return dn_cmd_gradcheck(&o);
  case DN_CMD_TRAIN: return dn_cmd_train(&o);
  case DN_CMD_EVAL: return dn_cmd_eval(&o);
  case DN_CMD_SAMPLE: return dn_cmd_sample(&o);
  }
  return 2;
}
