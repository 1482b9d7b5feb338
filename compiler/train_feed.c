/* train_feed.c - binds a data set to a compiled model and evaluates it in batches.
 *
 * The generated code has a fixed batch B, so evaluation of n samples runs n/B full
 * batches and, for the remainder r, one batch padded with copies of its first sample.
 * evaluate_v only returns the batch mean, so the padded copies' loss is measured with one
 * more batch made entirely of that sample: tail sum = B*mean - (B-r)*loss(first). Models
 * are batch-independent in inference (batchnorm uses running statistics, dropout is off),
 * which makes this exact.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train_int.h"

int dn_train_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("dnncc: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return 1;
}

static const dn_input *dn_feed_input(const dn_graph *g, int i) { return (const dn_input *)g->inputs.v[i]; }

int64_t dn_feed_text_len(const dn_graph *g) {
  for (int i = 0; i < g->inputs.n; i++) {
    const dn_input *in = dn_feed_input(g, i);
    if (in->is_class && in->sample.rank >= 1) return dn_shape_count(in->sample);
  }
  return 0;
}

/* Human-readable shape of the data set's samples. */
static const char *dn_feed_ds_shape(const dnrt_dataset *ds) {
  int64_t d[4];
  for (int i = 0; i < ds->rank && i < 4; i++) d[i] = ds->shape[i];
  return dn_shape_str(dn_shape_make(ds->rank, d));
}

/* Assigns each input its role; 0, or 1 after a message. */
static int dn_feed_roles(dn_feed *f, const dnrt_dataset *ds) {
  int text = ds->xi != NULL;
  f->x_in = f->y_in = f->xi_in = -1;
  for (int i = 0; i < f->n_in; i++) {
    const dn_input *in = dn_feed_input(f->g, i);
    if (f->infer_only && !in->for_inference) continue;
    if (!in->is_class && !text && f->x_in < 0) f->x_in = i;
    else if (in->is_class && text && f->xi_in < 0) f->xi_in = i;
    else if (in->is_class && f->y_in < 0) f->y_in = i;
    else
      return dn_train_fail("input '%s' %s cannot be fed from the data set (it gives %s)", in->name,
                           dn_shape_str(in->sample),
                           text ? "character indices and next-character labels" : "features and one label");
  }
  return 0;
}

/* Checks the per-sample sizes of each bound input against the data set. */
static int dn_feed_sizes(dn_feed *f, const dnrt_dataset *ds) {
  if (f->x_in >= 0) {
    const dn_input *in = dn_feed_input(f->g, f->x_in);
    f->x_elems = dn_shape_count(in->sample);
    if (f->x_elems != ds->sample_elems)
      return dn_train_fail("input '%s' expects samples of shape %s (%lld values), but the data set's samples are %s "
                           "(%lld values)", in->name, dn_shape_str(in->sample), (long long)f->x_elems,
                           dn_feed_ds_shape(ds), (long long)ds->sample_elems);
  }
  int64_t per = ds->xi ? ds->seq_len : 1;
  if (f->xi_in >= 0) {
    const dn_input *in = dn_feed_input(f->g, f->xi_in);
    f->xi_elems = dn_shape_count(in->sample);
    if (f->xi_elems != per)
      return dn_train_fail("input '%s' expects %s indices per sample, the text data set gives sequences of %lld",
                           in->name, dn_shape_str(in->sample), (long long)per);
  }
  if (f->y_in >= 0) {
    const dn_input *in = dn_feed_input(f->g, f->y_in);
    f->y_elems = dn_shape_count(in->sample);
    f->classes = in->classes;
    if (f->y_elems != per)
      return dn_train_fail("label input '%s' expects %s labels per sample, the data set gives %lld", in->name,
                           dn_shape_str(in->sample), (long long)per);
  }
  return 0;
}

int dn_feed_check_labels(const dn_feed *f, const dnrt_dataset *ds, const char *what) {
  if (f->y_in >= 0 && ds->y) {
    const dn_input *in = dn_feed_input(f->g, f->y_in);
    for (int64_t i = 0; i < ds->n * f->y_elems; i++)
      if (ds->y[i] < 0 || ds->y[i] >= in->classes)
        return dn_train_fail("%s: label %d of sample %lld is out of range for input '%s' : class(%lld)", what,
                             (int)ds->y[i], (long long)(i / f->y_elems), in->name, (long long)in->classes);
  }
  if (f->xi_in >= 0 && ds->xi) {
    const dn_input *in = dn_feed_input(f->g, f->xi_in);
    for (int64_t i = 0; i < ds->n * f->xi_elems; i++)
      if (ds->xi[i] < 0 || ds->xi[i] >= in->classes)
        return dn_train_fail("%s: the vocabulary has %lld characters, more than input '%s' : class(%lld) accepts",
                             what, (long long)ds->classes, in->name, (long long)in->classes);
  }
  return 0;
}

static int dn_feed_alloc(dn_feed *f) {
  int64_t B = f->m->batch;
  f->in = calloc((size_t)f->n_in + 1, sizeof *f->in);
  const dn_graph *infer = f->m->unit.infer;
  f->n_out = infer ? infer->outputs.n : 0;
  f->out = calloc((size_t)f->n_out + 1, sizeof *f->out);
  if (!f->in || !f->out) return dn_train_fail("out of memory");
  for (int i = 0; i < f->n_in; i++) {
    const dn_input *in = dn_feed_input(f->g, i);
    size_t es = in->is_class ? 4 : f->m->use_double ? 8 : 4;
    f->in[i] = calloc((size_t)(dn_shape_count(in->sample) * B) + 1, es);
    if (!f->in[i]) return dn_train_fail("out of memory");
  }
  for (int i = 0; i < f->n_out; i++) {
    const dn_output *o = infer->outputs.v[i];
    int64_t e = dn_shape_count(dn_sample_shape(o->node));
    if (i == 0) f->out0_elems = e;
    f->out[i] = calloc((size_t)(e * B) + 1, f->m->use_double ? 8 : 4);
    if (!f->out[i]) return dn_train_fail("out of memory");
  }
  return 0;
}

int dn_feed_init(dn_feed *f, dn_model *m, const dn_graph *g, const dnrt_dataset *ds, int infer_only) {
  memset(f, 0, sizeof *f);
  f->m = m, f->g = g, f->n_in = g->inputs.n, f->infer_only = infer_only;
  if (dn_feed_roles(f, ds) || dn_feed_sizes(f, ds)) return 1;
  if (f->x_in < 0 && f->xi_in < 0)
    return dn_train_fail("the model has no %s input to receive the data set's samples", ds->xi ? "class" : "float");
  return dn_feed_alloc(f);
}

void dn_feed_free(dn_feed *f) {
  for (int i = 0; f->in && i < f->n_in; i++) free(f->in[i]);
  for (int i = 0; f->out && i < f->n_out; i++) free(f->out[i]);
  free(f->in), free(f->out);
  f->in = f->out = NULL;
}

void dn_feed_gather(dn_feed *f, const dnrt_dataset *ds, const int64_t *idx) {
  int64_t B = f->m->batch;
  for (int64_t b = 0; b < B; b++) {
    int64_t s = idx[b];
    if (f->x_in >= 0) {
      const float *src = ds->x + s * ds->sample_elems;
      if (f->m->use_double) {
        double *dst = (double *)f->in[f->x_in] + b * f->x_elems;
        for (int64_t k = 0; k < f->x_elems; k++) dst[k] = src[k];
      } else {
        memcpy((float *)f->in[f->x_in] + b * f->x_elems, src, (size_t)f->x_elems * sizeof(float));
      }
    }
    if (f->xi_in >= 0)
      memcpy((int32_t *)f->in[f->xi_in] + b * f->xi_elems, ds->xi + s * f->xi_elems, (size_t)f->xi_elems * 4);
    if (f->y_in >= 0)
      memcpy((int32_t *)f->in[f->y_in] + b * f->y_elems, ds->y + s * f->y_elems, (size_t)f->y_elems * 4);
  }
}

/* Correct predictions among the first `r` samples of the batch just evaluated. */
static int64_t dn_feed_correct(const dn_feed *f, int64_t r) {
  int64_t K = f->classes, L = f->y_elems, hits = 0;
  const int32_t *y = f->in[f->y_in];
  for (int64_t b = 0; b < r; b++)
    for (int64_t p = 0; p < L; p++) {
      int64_t base = b * f->out0_elems + p * K, best = 0;
      for (int64_t k = 1; k < K; k++) {
        double v = f->m->use_double ? ((double *)f->out[0])[base + k] : ((float *)f->out[0])[base + k];
        double w = f->m->use_double ? ((double *)f->out[0])[base + best] : ((float *)f->out[0])[base + best];
        if (v > w) best = k;
      }
      hits += best == y[b * L + p];
    }
  return hits;
}

static double dn_feed_eval_batch(dn_feed *f) { return f->m->evaluate_v(f->m->state, f->in, f->out); }

dn_eval_result dn_feed_evaluate(dn_feed *f, const dnrt_dataset *ds, const int64_t *idx, int64_t n) {
  dn_eval_result res = {NAN, NAN};
  int64_t B = f->m->batch, hits = 0;
  int has_acc = f->y_in >= 0 && f->n_out > 0 && f->classes > 0 && f->out0_elems == f->y_elems * f->classes;
  if (n <= 0 || !f->m->evaluate_v) return res;
  int64_t *pad = malloc((size_t)B * sizeof *pad);
  if (!pad) return res;
  double sum = 0;
  for (int64_t s = 0; s < n; s += B) {
    int64_t r = n - s < B ? n - s : B;
    for (int64_t b = 0; b < B; b++) pad[b] = idx[s + (b < r ? b : 0)];
    dn_feed_gather(f, ds, pad);
    double mean = dn_feed_eval_batch(f);
    if (has_acc) hits += dn_feed_correct(f, r);
    if (r < B) {
      for (int64_t b = 0; b < B; b++) pad[b] = idx[s];
      dn_feed_gather(f, ds, pad);
      double first = dn_feed_eval_batch(f);
      mean = (mean * (double)B - (double)(B - r) * first) / (double)r;
    }
    sum += mean * (double)r;
  }
  free(pad);
  res.loss = sum / (double)n;
  if (has_acc) res.acc = (double)hits / (double)(n * f->y_elems);
  return res;
}
