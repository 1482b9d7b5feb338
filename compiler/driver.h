/* driver.h - the command line (SPEC 3) and the commands it dispatches to.
 *
 * main.c parses argv into dn_options; each command lives in its own file
 * (cmd_check.c, cmd_compile.c, cmd_run.c, ...) and returns the process exit status:
 * 0 success, 1 user error (bad model, data, weights), 2 command-line misuse.
 */
#ifndef DNNCC_DRIVER_H
#define DNNCC_DRIVER_H

#include <stdint.h>

#include "diag.h"

typedef enum dn_command {
  DN_CMD_COMPILE,    /* dnncc FILE.dnn -o OUT.c */
  DN_CMD_CHECK, DN_CMD_GRAPH, DN_CMD_RUN, DN_CMD_GRAD, DN_CMD_GRADCHECK,
  DN_CMD_TRAIN, DN_CMD_EVAL, DN_CMD_SAMPLE,
} dn_command;

/* A NAME=PATH pair from --input or -o (name NULL when only a path was given). */
typedef struct dn_named_path {
  const char *name;
  const char *path;
} dn_named_path;

typedef struct dn_options {
  dn_command command;
  const char *file;           /* the .dnn model */
  dn_vec outs;                /* -o values (dn_named_path*), in order */
  dn_vec inputs;              /* --input values (dn_named_path*), in order */
  const char *weights;        /* --weights */
  const char *data;           /* --data */
  const char *init;           /* --init W0 */
  const char *val;            /* --val F */
  const char *log;            /* --log L.csv */
  const char *plot;           /* --plot P.png */
  const char *checkpoint;     /* --checkpoint DIR */
  const char *prefix;         /* --prefix */
  const char *dump;           /* --dump ast|ir|grad|plan */
  const char *augment;        /* --augment list */
  const char *blas;           /* --blas none|openblas (default none) */
  int64_t batch;              /* --batch (0 = command default) */
  int64_t epochs;             /* --epochs (0 = train block) */
  int64_t threads;            /* --threads (0 = 1) */
  int64_t steps;              /* --steps: stop training after this many steps (0 = all) */
  int64_t length;             /* sample: --length */
  double lr;                  /* --lr override (0 = train block) */
  double tolerance;           /* gradcheck --tol (0 = default) */
  uint64_t seed;              /* --seed */
  int seed_set;               /* --seed was given */
  int train;                  /* --train */
  int emit_main;              /* --emit-main */
  int opt_level;              /* -O0..-O3 (default 2) */
  int grad;                   /* graph --grad */
  int resume;                 /* --resume */
  int no_cache;               /* --no-cache */
  int quiet;                  /* -q */
} dn_options;

int dn_cmd_compile(const dn_options *o);
int dn_cmd_check(const dn_options *o);
int dn_cmd_graph(const dn_options *o);
int dn_cmd_run(const dn_options *o);
int dn_cmd_grad(const dn_options *o);
int dn_cmd_gradcheck(const dn_options *o);
int dn_cmd_train(const dn_options *o);
int dn_cmd_eval(const dn_options *o);
int dn_cmd_sample(const dn_options *o);

/* Prints `dnncc: error: ...` for a command-line misuse; returns 2. */
int dn_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
