/* pipeline.h - the compilation pipeline, written out in one function (pipeline.c):
 *
 *   parse (dsl/) -> check: resolve, inline defs, evaluate constants, infer shapes (sema.c)
 *   -> unroll scans or keep them as loops (unroll.c) -> input GEMMs out of loops (scan_hoist.c)
 *   -> simplify: CSE, constant folding, algebraic identities, DCE (simplify.c)
 *   -> [training] autodiff: reverse mode on the IR (autodiff.c) -> simplify
 *      -> saved per-step values for the backward loops (scan_save.c) -> simplify
 *      -> sums over time out of the loops (scan_hoist.c) -> simplify
 *   -> emit C (codegen/) -> [run/grad/train] JIT (jit.h)
 *
 * Every command goes through dn_pipeline; --dump prints the form after the named pass.
 */
#ifndef DNNCC_PIPELINE_H
#define DNNCC_PIPELINE_H

#include "ast.h"
#include "ir.h"

typedef struct dn_pipeline_opts {
  const char *file;      /* the .dnn model */
  int64_t batch;         /* fixed batch; 0 = 1 for inference, the train block's batch with want_train */
  int want_train;        /* also build the training graph and differentiate it */
  int opt_level;         /* 0: no simplification beyond DCE */
  const char *dump;      /* "ast", "ir", "grad" (plan is printed by codegen) or NULL */
  int split;             /* > 1: also the graphs for batch / split (dn_unit.infer_part and, with
                            want_train, train_part), each when the batch divides and its samples
                            do not mix */
} dn_pipeline_opts;

typedef struct dn_unit {
  dn_ast *prog;          /* syntax tree */
  dn_graph *infer;       /* inference graph (running statistics, no dropout) */
  dn_graph *train;       /* training graph with grads (want_train), or NULL */
  dn_graph *train_part;  /* the same for batch / split (see dn_pipeline_opts.split), or NULL */
  dn_graph *infer_part;  /* the inference graph for batch / split, or NULL */
} dn_unit;

/* Runs the front end and the graph passes. Returns 0, or 1 after reporting errors. */
int dn_pipeline(const dn_pipeline_opts *o, dn_unit *u);

/* The same from an already parsed u->prog (the rest of *u zeroed): for sources held in
 * memory (dn_parse), as the front-end fuzzer does. */
int dn_pipeline_ast(const dn_pipeline_opts *o, dn_unit *u);

/* sema.c: checks the program and builds its graph for a batch and a mode. Inference graphs
 * hold what the outputs need (and the loss, when every input it reads is given); training
 * graphs hold outputs and loss, loss_mean set. NULL after reporting errors. */
dn_graph *dn_sema(dn_ast *prog, const char *file, int64_t batch, dn_mode mode);

/* pipeline.c: 1 when no value of g (a training graph from dn_sema, before autodiff) mixes
 * samples: no node reduces a batched input to an unbatched value (batchnorm's batch
 * statistics) except the loss's batch mean, and there is no ASSIGN node (running
 * statistics). The mean gradient over a batch is then the mean of the gradients over its
 * equal parts. */
int dn_sample_separable(const dn_graph *g);

/* sema.c: the train block's settings with defaults, without building a graph. */
int dn_sema_train_cfg(dn_ast *prog, dn_train_cfg *cfg);

/* autodiff.c: fills g->grads with d loss_mean / d param for every trainable parameter.
 * Returns 0, or 1 after reporting an op without a gradient rule (a located error). */
int dn_autodiff(dn_graph *g);

/* unroll.c: replaces each SCAN by a copy of its body per step (nested scans too), so
 * autodiff and the emitter see straight-line code. tbptt > 0 (training graphs, the train
 * block's `tbptt = K`) detaches the states every K steps (truncated BPTT). Returns 0, or 1 after a located error
 * when the unrolled graph would exceed DN_MAX_UNROLLED nodes (compile time and memory grow
 * faster than linearly beyond that: 48,000 nodes took 5 s). */
#define DN_MAX_UNROLLED 60000
#define DN_UNROLL_MAX_STEPS 2   /* scans of at most this many steps are always unrolled */
int dn_unroll_scans(dn_graph *g, int64_t tbptt);

/* scan_save.c: the reverse scans of BPTT read per-step values saved by their forward scans
 * (extra stacked outputs) instead of recomputing them. Run on a simplified training graph;
 * simplify again afterwards to drop the recomputation. */
void dn_save_scan_values(dn_graph *g);

/* scan_hoist.c: GEMMs of a loop body between a step slice of a sequence and a tensor from
 * outside the loop (input projections) run once before the loop over all steps. */
void dn_hoist_scan_inputs(dn_graph *g);

/* scan_hoist.c: accumulators of a loop scan that add a batch reduction of per-step values
 * each step (parameter gradients in BPTT) become one reduction over the stacked values after
 * the loop. Simplify afterwards. */
void dn_hoist_scan_reductions(dn_graph *g);

/* simplify.c: CSE, constant folding, algebraic identities, dead-code elimination. Keeps
 * outputs, loss, loss_mean, grads and side effects alive; renumbers ids. */
void dn_simplify(dn_graph *g, int opt_level);

#endif
