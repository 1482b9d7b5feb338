/* model.h - a model compiled in-process and ready to call: what `dnncc run`, `grad`,
 * `gradcheck`, `train`, `eval` and `sample` share (model.c).
 *
 * dn_model_build runs the pipeline, emits C (codegen.h) for the requested batch, compiles
 * it with the JIT, looks up the `_v` entry points and allocates the state (64-byte
 * aligned), initialized with P_init(seed). Weight files are read with the runtime's
 * validating safetensors reader: every parameter must be present with its exact shape
 * (messages name the tensor and both shapes); extra tensors are an error too.
 */
#ifndef DNNCC_MODEL_H
#define DNNCC_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "jit.h"
#include "pipeline.h"

typedef struct dn_model_opts {
  const char *file;              /* the .dnn model */
  int64_t batch;                 /* fixed batch (0: 1, or the train block's with train) */
  int train;                     /* build the training graph: grad_v and train_step_v */
  int use_double;                /* every float is double (gradcheck) */
  int opt_level;                 /* dnncc -O level (default 2) */
  int blas;                      /* cblas_sgemm */
  int threads;                   /* OpenMP threads (0/1: none) */
  int split_step;                /* with threads > 1: train_step_v, forward_v and evaluate_v
                                    may split the batch over the threads
                                    (dn_pipeline_opts.split; dnncc train) */
  int no_cache;                  /* JIT cache bypass */
  const dn_train_cfg *train_cfg; /* non-NULL: replaces the train block (command-line overrides) */
  uint64_t seed;                 /* P_init seed */
  const char *dump;              /* --dump forwarded to the pipeline / plan */
} dn_model_opts;

/* One parameter as the state holds it. */
typedef struct dn_model_param {
  const char *name;              /* SPEC 2.6 name */
  int rank;
  int64_t shape[DN_MAX_RANK];
  size_t offset;                 /* bytes into the state */
  int64_t count;                 /* elements */
  int trainable;                 /* has a gradient */
  size_t grad_offset;            /* bytes into the state of its gradient (trainable only) */
} dn_model_param;

typedef struct dn_model {
  dn_unit unit;                  /* the graphs */
  dn_jit *jit;                   /* compiled code */
  void *state;                   /* state_bytes, 64-byte aligned */
  size_t state_bytes;
  int64_t batch;
  int use_double;                /* element size 8 instead of 4 */
  dn_model_param *params;        /* every parameter, P_params order */
  int n_params;
  void (*init)(void *state, uint64_t seed);
  void (*forward_v)(void *state, void *const *in, void *const *out);
  double (*evaluate_v)(void *state, void *const *in, void *const *out);   /* NULL without loss */
  double (*grad_v)(void *state, void *const *in);                         /* NULL unless train */
  double (*train_step_v)(void *state, void *const *in);                   /* NULL unless train */
  size_t step_offset;            /* bytes into the state of the int64 step counter */
} dn_model;

int dn_model_build(const dn_model_opts *o, dn_model *m);            /* 0, or 1 after errors */
int dn_model_load_weights(dn_model *m, const char *path);           /* 0, or 1 with a message */
int dn_model_save_weights(const dn_model *m, const char *path);     /* atomic */
int dn_model_save_grads(const dn_model *m, const char *path);       /* gradients under param names */
void dn_model_free(dn_model *m);

/* Matches --input [NAME=]PATH values to the model's inputs. `which`: the inference inputs
 * (for_inference) or all inputs, in declaration order. Reads each .npy, checks the batch
 * (leading dim, equal across inputs) and per-sample shape, converts to the element type
 * (class inputs: int32, each label range-checked against K). Returns 0 and fills bufs[i]
 * (malloc'd) and *batch, or 1 with a message. */
int dn_model_read_inputs(const dn_graph *g, int all_inputs, const dn_vec *given, int use_double,
                         void ***bufs, int64_t *batch);

#endif
