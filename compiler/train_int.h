/* train_int.h - internals shared by the train/eval/sample commands (cmd_train.c,
 * train_feed.c): how a data set is fed to a compiled model, batch by batch.
 *
 * Feeding (SPEC 3): the model's first float input receives the features (reshaped when
 * the element counts agree), its first class input the labels; for text: data the
 * class-typed sequence input receives the character indices and the next class input the
 * next-character labels. Every other input is an error, as is a size or label-range
 * mismatch, all reported before any training starts.
 */
#ifndef DNNCC_TRAIN_INT_H
#define DNNCC_TRAIN_INT_H

#include "dnrt.h"
#include "model.h"

typedef struct dn_feed {
  dn_model *m;            /* the compiled model */
  const dn_graph *g;      /* graph whose inputs (declaration order) the _v entry points take */
  int n_in;               /* inputs */
  void **in;              /* n_in batch buffers (float or int32) */
  int x_in, y_in, xi_in;  /* input index of features, labels, text indices (-1: none) */
  int64_t x_elems;        /* floats per sample for x */
  int64_t y_elems;        /* labels per sample */
  int64_t xi_elems;       /* indices per sample (text) */
  int64_t classes;        /* K of the label input */
  int n_out;              /* outputs of the inference graph */
  void **out;             /* n_out batch buffers */
  int64_t out0_elems;     /* elements per sample of the first output */
  int infer_only;         /* feed only the inference inputs (forward_v) */
} dn_feed;

/* Binds a data set to the model's inputs, checking shapes and label ranges. 0, or 1 after
 * printing a message. `infer_only`: only the for_inference inputs are fed (sample). */
int dn_feed_init(dn_feed *f, dn_model *m, const dn_graph *g, const dnrt_dataset *ds, int infer_only);
/* Checks every label (and text index) of a data set against the classes. 0, or 1. */
int dn_feed_check_labels(const dn_feed *f, const dnrt_dataset *ds, const char *what);
void dn_feed_free(dn_feed *f);
/* Copies samples idx[0..B) into the input buffers (B = the model's batch). */
void dn_feed_gather(dn_feed *f, const dnrt_dataset *ds, const int64_t *idx);

/* Evaluation of n samples (idx) with evaluate_v in batches; the last partial batch is
 * padded and its loss recovered exactly. acc is NaN when the model has no accuracy. */
typedef struct dn_eval_result {
  double loss;   /* mean per-sample loss */
  double acc;    /* fraction correct (argmax of the first output vs the labels) */
} dn_eval_result;
dn_eval_result dn_feed_evaluate(dn_feed *f, const dnrt_dataset *ds, const int64_t *idx, int64_t n);

/* First class input with a sequence shape (text models): its per-sample length, else 0. */
int64_t dn_feed_text_len(const dn_graph *g);

/* Prints `dnncc: error: MESSAGE` (for data and file errors, exit status 1); returns 1. */
int dn_train_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
