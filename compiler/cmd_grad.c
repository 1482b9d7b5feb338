/* cmd_grad.c - `dnncc grad` and `dnncc gradcheck` (SPEC 3).
 *
 * grad: compiles the training graph for the inputs' batch, loads the weights, runs
 * P_grad_v once and writes the gradient of the batch-mean loss for every trainable
 * parameter (under the parameter's name) to a safetensors file; prints `loss <value>`.
 *
 * gradcheck: compiles the same model in double precision, initializes it with P_init(seed),
 * draws random inputs (floats N(0,1), class labels uniform in [0, K)) and compares the
 * analytic gradients of grad_v with central differences of the training-mode loss at up
 * to DN_GC_SAMPLES elements per parameter. The error of one element is
 *
 *     |a - n| / max(|a|, |n|, tau),   tau = max(1e-2 * max_j |a_j|, 1e-8)
 *
 * where the max runs over the sampled elements of the same parameter, so an element whose
 * gradient is much smaller than its parameter's largest is judged on that scale instead of
 * amplifying noise; a wrong rule moves the dominant elements by O(1) relative error.
 *
 * No single step h suits every model. The roundoff of a central difference is absolute,
 * about eps * |loss| / h, and deep recurrences (char_lstm, seq2seq_attention) have weight
 * gradients of 1e-6 and less, where h = 1e-6 leaves a relative error of 1e-4 to 1e-3 that
 * falls as 1/h (measured: 5.4e-4, 7.2e-5, 7.0e-6 at h = 1e-6, 1e-5, 1e-4). A larger step
 * crosses the kinks of relu and max (the CIFAR CNN fails at h = 1e-4 with a 6e-2 error on
 * one element). So an element is tried at h = 1e-6 first and, only while its error is above
 * a tenth of the tolerance, at 1e-5 and 1e-4; its error is the smallest of the tries. A
 * wrong rule misses at every step.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnrt.h"
#include "driver.h"
#include "model.h"

#define DN_GC_SAMPLES 30     /* elements checked per parameter */
#define DN_GC_STEPS 3       /* central-difference steps tried: 1e-6, 1e-5, 1e-4 (times max(1, |w|)) */
#define DN_GC_TOL 1e-4       /* default tolerance */

/* Options shared by both commands' model builds. */
static dn_model_opts base_opts(const dn_options *o, int64_t batch) {
  dn_model_opts mo = {0};
  mo.file = o->file;
  mo.batch = batch;
  mo.train = 1;
  mo.opt_level = o->opt_level;
  mo.blas = o->blas && strcmp(o->blas, "openblas") == 0;
  mo.threads = (int)o->threads;
  mo.no_cache = o->no_cache;
  mo.seed = o->seed_set ? o->seed : 1;
  mo.dump = o->dump;
  return mo;
}

/* Parses the model once (batch 1) to learn its inputs; NULL after reporting errors. */
static dn_graph *probe_model(const dn_options *o, dn_unit *u) {
  dn_pipeline_opts po = {o->file, 1, 0, o->opt_level, NULL, 0};
  return dn_pipeline(&po, u) ? NULL : u->infer;
}

static void free_inputs(void **in, int n) {
  for (int i = 0; in && i < n; i++) free(in[i]);
  free(in);
}

/* --- grad --------------------------------------------------------------------------- */

int dn_cmd_grad(const dn_options *o) {
  if (o->outs.n != 1) return dn_usage_error("grad needs exactly one -o G.safetensors");
  if (((dn_named_path *)o->outs.v[0])->name) return dn_usage_error("grad: -o takes a path, not NAME=PATH");
  if (!o->weights) return dn_usage_error("grad needs --weights W.safetensors");
  dn_unit probe;
  dn_graph *g = probe_model(o, &probe);
  if (!g) return 1;
  void **in = NULL;
  int64_t batch = 0;
  if (dn_model_read_inputs(g, 1, &o->inputs, 0, &in, &batch)) return 1;
  dn_model_opts mo = base_opts(o, batch ? batch : 1);
  dn_model m;
  int rc = dn_model_build(&mo, &m);
  if (!rc && !m.grad_v) rc = fprintf(stderr, "dnncc: error: %s: the model has no loss to differentiate\n", o->file) > 0;
  if (!rc) rc = dn_model_load_weights(&m, o->weights);
  if (!rc) {
    double loss = m.grad_v(m.state, in);
    printf("loss %.9g\n", loss);
    rc = dn_model_save_grads(&m, ((dn_named_path *)o->outs.v[0])->path);
  }
  dn_model_free(&m);
  free_inputs(in, g->inputs.n);
  return rc;
}

/* --- gradcheck ------------------------------------------------------------------------ */

/* A standard normal draw (Box-Muller). */
static double normal(uint64_t *rng) {
  double u = dnrt_rng_uniform(rng), v = dnrt_rng_uniform(rng);
  return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

/* Random inputs for every input of g in declaration order (doubles, or int32 labels). */
static void **random_inputs(const dn_graph *g, int64_t batch, uint64_t *rng) {
  void **in = calloc((size_t)g->inputs.n + 1, sizeof *in);
  for (int i = 0; in && i < g->inputs.n; i++) {
    const dn_input *d = g->inputs.v[i];
    int64_t n = batch * dn_shape_count(d->sample);
    if (d->is_class) {
      int32_t *y = in[i] = malloc(sizeof(int32_t) * (size_t)(n + 1));
      for (int64_t k = 0; y && k < n; k++) y[k] = (int32_t)(dnrt_rng_uniform(rng) * (double)d->classes);
    } else {
      double *x = in[i] = malloc(sizeof(double) * (size_t)(n + 1));
      for (int64_t k = 0; x && k < n; k++) x[k] = normal(rng);
    }
    if (!in[i]) {
      free_inputs(in, i);
      return NULL;
    }
  }
  return in;
}

/* Which elements of a parameter to check: all, or DN_GC_SAMPLES drawn at random. */
static int64_t pick_elements(int64_t count, int64_t *idx, uint64_t *rng) {
  if (count <= DN_GC_SAMPLES) {
    for (int64_t k = 0; k < count; k++) idx[k] = k;
    return count;
  }
  for (int k = 0; k < DN_GC_SAMPLES; k++) idx[k] = (int64_t)(dnrt_rng_uniform(rng) * (double)count);
  return DN_GC_SAMPLES;
}

/* The losses with element *w moved to *w + h and *w - h, where h = step * max(1, |*w|);
 * returns h. *w is restored. */
static double probe(dn_model *m, void **in, double *w, double step, double *up, double *down) {
  double keep = *w, h = step * fmax(1.0, fabs(keep));
  *w = keep + h;
  *up = m->grad_v(m->state, in);
  *w = keep - h;
  *down = m->grad_v(m->state, in);
  *w = keep;
  return h;
}

/* The error of one element against the difference quotient num (INFINITY if not finite). */
static double element_error(double ana, double num, double tau) {
  if (!isfinite(ana) || !isfinite(num)) return INFINITY;
  return fabs(ana - num) / fmax(fmax(fabs(ana), fabs(num)), tau);
}

/* Checks one parameter; returns its worst error (INFINITY for a non-finite value).
 * An element whose central differences all miss is tested for a kink (relu at 0, a tie
 * in max pooling) between w - h and w + h: when the one-sided slopes there disagree by more
 * than the tolerance, the loss is not differentiable in reach of the step, and the analytic
 * value passes if it equals one of the two one-sided slopes (the side PyTorch's rules pick).
 * A wrong gradient at a smooth point has agreeing slopes and still fails. */
static double check_param(dn_model *m, const dn_model_param *p, void **in, double tol, uint64_t *rng,
                          int64_t *checked, int64_t *kinks) {
  int64_t idx[DN_GC_SAMPLES];
  int64_t n = pick_elements(p->count, idx, rng);
  double ana[DN_GC_SAMPLES], scale = 0;
  double *w = (double *)((char *)m->state + p->offset);
  double base = m->grad_v(m->state, in);  /* the loss at the unmoved parameters */
  for (int64_t k = 0; k < n; k++) {
    ana[k] = ((double *)((char *)m->state + p->grad_offset))[idx[k]];
    scale = fmax(scale, fabs(ana[k]));
  }
  double tau = fmax(1e-2 * scale, 1e-8), worst = 0;
  for (int64_t k = 0; k < n; k++) {
    double e = INFINITY, step = 1e-6, up0 = 0, down0 = 0, h0 = 1;
    for (int s = 0; s < DN_GC_STEPS && !(e <= 0.1 * tol); s++, step *= 10) {
      double up, down, h = probe(m, in, &w[idx[k]], step, &up, &down);
      if (s == 0) up0 = up, down0 = down, h0 = h;
      double es = element_error(ana[k], (up - down) / (2 * h), tau);
      if (!isfinite(es)) return INFINITY;  /* a non-finite value fails at once */
      e = fmin(e, es);
    }
    if (e > tol) {  /* one-sided slopes at the smallest step */
      double fwd = (up0 - base) / h0, bwd = (base - down0) / h0;
      double side = fmin(element_error(ana[k], fwd, tau), element_error(ana[k], bwd, tau));
      if (element_error(fwd, bwd, tau) > tol && side <= tol) {
        e = side;
        ++*kinks;
      }
    }
    worst = fmax(worst, e);
  }
  *checked = n;
  return worst;
}

/* Compares every trainable parameter; prints a line each; returns the worst error. */
static double check_all(dn_model *m, void **in, double tol, uint64_t *rng) {
  double worst = 0;
  for (int i = 0; i < m->n_params; i++) {
    const dn_model_param *p = &m->params[i];
    if (!p->trainable) continue;
    int64_t n = 0, kinks = 0;
    double e = check_param(m, p, in, tol, rng, &n, &kinks);
    printf("%-32s %10.3e  (%lld of %lld elements", p->name, e, (long long)n, (long long)p->count);
    if (kinks) printf("; %lld at a kink, checked one-sided", (long long)kinks);
    printf(")\n");
    worst = fmax(worst, e);
  }
  return worst;
}

int dn_cmd_gradcheck(const dn_options *o) {
  if (o->tolerance < 0) return dn_usage_error("gradcheck: --tol must be positive");
  double tol = o->tolerance > 0 ? o->tolerance : DN_GC_TOL;
  dn_model_opts mo = base_opts(o, o->batch ? o->batch : 2);
  mo.use_double = 1;
  dn_model m;
  int rc = dn_model_build(&mo, &m);
  if (!rc && !m.grad_v) rc = fprintf(stderr, "dnncc: error: %s: the model has no loss to differentiate\n", o->file) > 0;
  void **in = NULL;
  dn_graph *g = rc ? NULL : m.unit.train;
  uint64_t rng = (o->seed_set ? o->seed : 1) * 0x9e3779b97f4a7c15ull + 7;
  if (!rc && !(in = random_inputs(g, m.batch, &rng))) rc = fprintf(stderr, "dnncc: error: out of memory\n") > 0;
  if (!rc) {
    double loss = m.grad_v(m.state, in);
    printf("loss %.9g (batch %lld, double precision)\n", loss, (long long)m.batch);
    double worst = isfinite(loss) ? check_all(&m, in, tol, &rng) : INFINITY;
    printf("worst relative error %.3e (tolerance %.1e): %s\n", worst, tol, worst <= tol ? "ok" : "FAILED");
    rc = worst <= tol ? 0 : 1;
  }
  free_inputs(in, g ? g->inputs.n : 0);
  dn_model_free(&m);
  return rc;
}
