/* codegen.h - from checked (and differentiated) graphs to specialized C (SPEC 4).
 *
 * One C file holds everything for one model at one batch: the SPEC 4 API for prefix P
 * (P_init, P_load, P_save, P_forward, and with a training graph P_train_step), plus entry
 * points the dnncc driver calls through the JIT with inputs as pointer arrays:
 *
 *   void  P_forward_v(void *state, void *const *in, void *const *out);
 *         in: the inference inputs (dn_input.for_inference) in declaration order;
 *         out: the outputs in declaration order.
 *   double P_evaluate_v(void *state, void *const *in, void *const *out);
 *         (models with a loss) inference-mode forward over EVERY input in declaration order:
 *         writes the outputs, returns the batch-mean loss.
 *   double P_grad_v(void *state, void *const *in);      (training graph)
 *         every input in declaration order; forward + backward in training mode; returns the
 *         batch-mean loss and leaves each trainable parameter's gradient in the state at
 *         P_grads[i].offset; does not update anything (batchnorm running stats excepted) and
 *         does not advance the step counter, so random ops (dropout) repeat exactly.
 *   double P_train_step_v(void *state, void *const *in); (training graph)
 *         advances the step counter (random ops draw anew), P_grad_v's work, clipping,
 *         then the optimizer update; returns the loss.
 *   extern const struct P_grad_info { const char *name; size_t offset; size_t count; } P_grads[];
 *   extern const int P_n_grads;
 *   extern const size_t P_state_bytes_v;           (= P_STATE_BYTES)
 *   extern const long long P_step_offset;          (byte offset of the int64 step counter)
 *
 * State layout: parameters first (P_params[i].offset, bytes), then gradients, optimizer
 * state, the step counter, then the liveness-planned activation arena (with a split
 * training step or split inference, dn_emit_opts.train_part and infer_part, also the
 * threads' blocks, over the arena). The
 * `_v` functions return double. With use_double, the element type is double everywhere
 * (gradcheck): float tensors passed through in/out are double arrays then, and offsets
 * count double elements.
 */
#ifndef DNNCC_CODEGEN_H
#define DNNCC_CODEGEN_H

#include "ir.h"

struct dnrt_tensor;

typedef struct dn_emit_opts {
  const char *prefix;          /* C prefix: --prefix or the model name */
  const char *header_name;     /* file name the .c includes ("model.h"); NULL: emit one self-contained file */
  int opt_level;               /* 0: no fusion (one loop nest per node) */
  int blas;                    /* 1: matrix products through cblas_sgemm */
  int threads;                 /* > 1: OpenMP pragmas, this many threads */
  int emit_main;               /* add main() reading .npy inputs, writing .npy outputs */
  int use_double;              /* every float is double (gradcheck) */
  int line_directives;         /* #line back to the .dnn source */
  const struct dnrt_tensor *weights;  /* --weights: embed these as static const data */
  int n_weights;
  FILE *dump_plan;             /* non-NULL: print the memory plan here (--dump plan) */
  dn_graph *train_part;        /* with threads > 1: the training graph for batch / threads
                                  (dn_pipeline_opts.split); the training step then runs
                                  one copy per thread on its part of the batch */
  dn_graph *infer_part;        /* the same for the inference graph: P_forward_v and
                                  P_evaluate_v run one copy per thread */
} dn_emit_opts;

/* Emits C for the inference graph and, when train != NULL, the training graph (which must
 * have been differentiated; its optimizer comes from train->train). The header text goes to
 * h (when header_name is set). Returns 0, or 1 after reporting an error. */
int dn_emit_c(dn_graph *infer, dn_graph *train, const dn_emit_opts *o, dn_buf *c, dn_buf *h);

#endif
