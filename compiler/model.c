/* model.c - a model compiled in-process (model.h): pipeline, emitter, JIT, state.
 *
 * The generated code's prefix is `dnm`. Parameter and gradient offsets are read back from
 * the compiled tables (dnm_params, dnm_grads) so the driver and the code can never disagree
 * about the layout. Weight files go through the runtime's validating safetensors reader;
 * the model insists on an exact match (every parameter, its shape, no extra tensors).
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "dnrt.h"
#include "driver.h"

/* Mirrors of the generated tables (codegen.h). */
typedef struct gen_param { const char *name; int rank; int shape[8]; size_t offset; } gen_param;
typedef struct gen_grad { const char *name; size_t offset; size_t count; } gen_grad;

static int fail(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "dnncc: error: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, "\n");
  return 1;
}

static void *need_sym(dn_jit *j, const char *name, int *err) {
  void *p = dn_jit_lookup(j, name);
  if (!p) *err = fail("compiled model lacks symbol '%s'%s", name, "");
  return p;
}

/* Fills m->params from the compiled tables and the graph's parameter list. */
static int read_tables(dn_model *m, const dn_graph *g) {
  int err = 0;
  const gen_param *gp = need_sym(m->jit, "dnm_params", &err);
  const int *np = need_sym(m->jit, "dnm_n_params", &err);
  const gen_grad *gg = dn_jit_lookup(m->jit, "dnm_grads");
  const int *ng = dn_jit_lookup(m->jit, "dnm_n_grads");
  if (err) return 1;
  m->n_params = *np;
  m->params = calloc((size_t)m->n_params + 1, sizeof *m->params);
  if (!m->params) return fail("out of memory%s%s", "", "");
  for (int i = 0; i < m->n_params; i++) {
    dn_model_param *p = &m->params[i];
    p->name = gp[i].name;
    p->rank = gp[i].rank;
    p->count = 1;
    for (int k = 0; k < p->rank; k++) p->count *= p->shape[k] = gp[i].shape[k];
    p->offset = gp[i].offset;
    for (int k = 0; k < g->params.n; k++)
      if (strcmp(((dn_param *)g->params.v[k])->name, p->name) == 0) p->trainable = ((dn_param *)g->params.v[k])->trainable;
    for (int k = 0; gg && ng && k < *ng; k++)
      if (strcmp(gg[k].name, p->name) == 0) p->grad_offset = gg[k].offset;
  }
  return 0;
}

static int compile_and_link(const dn_model_opts *o, dn_model *m) {
  dn_emit_opts eo = {0};
  eo.prefix = "dnm";
  eo.opt_level = o->opt_level;
  eo.blas = o->blas;
  eo.threads = o->threads > 1 ? o->threads : 0;
  eo.use_double = o->use_double;
  eo.dump_plan = o->dump && strcmp(o->dump, "plan") == 0 ? stdout : NULL;
  eo.train_part = m->unit.train_part;
  eo.infer_part = m->unit.infer_part;
  dn_buf c = {0};
  if (dn_emit_c(m->unit.infer, m->unit.train, &eo, &c, NULL)) {
    dn_buf_free(&c);
    return 1;
  }
  /* Double precision is gradcheck's, where the model runs a few hundred times on batch 2:
   * the C compiler's -O1 suffices, and its -O2 vectorizers took 80 s instead of 8 s on the
   * unrolled char_lstm example. */
  dn_jit_opts jo = {o->use_double ? 1 : 2, eo.threads > 1, o->blas, o->no_cache};
  m->jit = dn_jit_compile(c.s, c.n, &jo);
  dn_buf_free(&c);
  if (!m->jit) return 1;
  int err = 0;
  m->init = (void (*)(void *, uint64_t))need_sym(m->jit, "dnm_init", &err);
  m->forward_v = (void (*)(void *, void *const *, void *const *))need_sym(m->jit, "dnm_forward_v", &err);
  m->evaluate_v = (double (*)(void *, void *const *, void *const *))dn_jit_lookup(m->jit, "dnm_evaluate_v");
  if (m->unit.train) {
    m->grad_v = (double (*)(void *, void *const *))need_sym(m->jit, "dnm_grad_v", &err);
    m->train_step_v = (double (*)(void *, void *const *))need_sym(m->jit, "dnm_train_step_v", &err);
  }
  const size_t *sb = need_sym(m->jit, "dnm_state_bytes_v", &err);
  const long long *so = need_sym(m->jit, "dnm_step_offset", &err);
  if (err) return 1;
  m->state_bytes = *sb;
  m->step_offset = (size_t)*so;
  return 0;
}

int dn_model_build(const dn_model_opts *o, dn_model *m) {
  memset(m, 0, sizeof *m);
  dn_pipeline_opts po = {o->file, o->batch, o->train, o->opt_level, o->dump, o->split_step ? o->threads : 0};
  if (dn_pipeline(&po, &m->unit)) return 1;
  if (o->train_cfg && m->unit.train) m->unit.train->train = *o->train_cfg;
  m->batch = m->unit.infer->batch;
  m->use_double = o->use_double;
  if (compile_and_link(o, m)) return 1;
  if (read_tables(m, m->unit.train ? m->unit.train : m->unit.infer)) return 1;
  m->state = aligned_alloc(64, (m->state_bytes + 63) & ~(size_t)63);
  if (!m->state) return fail("cannot allocate %s bytes of model state%s", dn_fmt("%zu", m->state_bytes), "");
  m->init(m->state, o->seed);
  return 0;
}

static size_t esize(const dn_model *m) { return m->use_double ? 8 : 4; }

/* Checks one weights tensor against parameter p. */
static int check_tensor(const dn_model_param *p, const dnrt_tensor *t, const char *path) {
  int same = t->rank == p->rank;
  for (int k = 0; same && k < p->rank; k++) same = t->shape[k] == p->shape[k];
  if (same) return 0;
  char want[128] = "[", got[128] = "[";
  for (int k = 0; k < p->rank; k++) snprintf(want + strlen(want), sizeof want - strlen(want), "%s%lld", k ? ", " : "", (long long)p->shape[k]);
  for (int k = 0; k < t->rank; k++) snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", k ? ", " : "", (long long)t->shape[k]);
  strcat(want, "]");
  strcat(got, "]");
  fprintf(stderr, "dnncc: error: %s: tensor '%s' has shape %s, the model's parameter is %s\n", path, p->name, got, want);
  return 1;
}

int dn_model_load_weights(dn_model *m, const char *path) {
  dnrt_tensors ts = {0};
  if (dnrt_safetensors_read(path, &ts) != 0) return fail("%s%s", dnrt_error(), "");
  int err = 0;
  for (int i = 0; i < ts.n && !err; i++) {
    int found = 0;
    for (int k = 0; k < m->n_params; k++) found |= strcmp(m->params[k].name, ts.t[i].name) == 0;
    if (!found) err = fail("%s: tensor '%s' is not a parameter of this model", path, ts.t[i].name);
  }
  for (int k = 0; k < m->n_params && !err; k++) {
    dn_model_param *p = &m->params[k];
    dnrt_tensor *t = (dnrt_tensor *)dnrt_tensors_find(&ts, p->name);
    if (!t) err = fail("%s: parameter '%s' is missing", path, p->name);
    else if (check_tensor(p, t, path)) err = 1;
    else if (dnrt_tensor_to_f32(t) != 0) err = fail("%s%s", dnrt_error(), "");
  }
  for (int k = 0; k < m->n_params && !err; k++) {
    const dnrt_tensor *t = dnrt_tensors_find(&ts, m->params[k].name);
    const float *src = t->data;
    char *dst = (char *)m->state + m->params[k].offset;
    for (int64_t j = 0; j < m->params[k].count; j++) {
      if (m->use_double) ((double *)dst)[j] = src[j];
      else ((float *)dst)[j] = src[j];
    }
  }
  dnrt_tensors_free(&ts);
  return err;
}

/* Writes tensors (name, offset) taken from the state as F32. */
static int save_from(const dn_model *m, const char *path, int grads) {
  dnrt_tensor *ts = calloc((size_t)m->n_params + 1, sizeof *ts);
  int n = 0, rc = 0;
  if (!ts) return fail("out of memory%s%s", "", "");
  for (int k = 0; k < m->n_params && !rc; k++) {
    const dn_model_param *p = &m->params[k];
    if (grads && !p->trainable) continue;
    dnrt_tensor *t = &ts[n++];
    t->name = (char *)p->name;
    t->dtype = DNRT_F32;
    t->rank = p->rank;
    for (int d = 0; d < p->rank; d++) t->shape[d] = p->shape[d];
    t->nbytes = (size_t)p->count * 4;
    t->data = malloc(t->nbytes + 4);
    if (!t->data) rc = fail("out of memory%s%s", "", "");
    const char *src = (const char *)m->state + (grads ? p->grad_offset : p->offset);
    for (int64_t j = 0; t->data && j < p->count; j++)
      ((float *)t->data)[j] = m->use_double ? (float)((const double *)src)[j] : ((const float *)src)[j];
  }
  if (!rc && dnrt_safetensors_write(path, ts, n) != 0) rc = fail("%s%s", dnrt_error(), "");
  for (int k = 0; k < n; k++) free(ts[k].data);
  free(ts);
  (void)esize;
  return rc;
}

int dn_model_save_weights(const dn_model *m, const char *path) { return save_from(m, path, 0); }
int dn_model_save_grads(const dn_model *m, const char *path) { return save_from(m, path, 1); }

void dn_model_free(dn_model *m) {
  free(m->state);
  free(m->params);
  if (m->jit) dn_jit_free(m->jit);
  memset(m, 0, sizeof *m);
}

/* --- inputs ------------------------------------------------------------------------ */

/* Assigns each given path to an input slot: named ones by name, the rest in order. */
static int match_inputs(const dn_graph *g, int all, const dn_vec *given, const char **paths) {
  for (int i = 0; i < given->n; i++) {
    const dn_named_path *np = given->v[i];
    if (!np->name) continue;
    int k = 0;
    for (; k < g->inputs.n; k++) {
      const dn_input *in = g->inputs.v[k];
      if ((all || in->for_inference) && strcmp(in->name, np->name) == 0) break;
    }
    if (k == g->inputs.n) return fail("--input %s: the model has no %s input of that name", np->name, all ? "" : "inference");
    if (paths[k]) return fail("--input %s given twice%s", np->name, "");
    paths[k] = np->path;
  }
  int k = 0;
  for (int i = 0; i < given->n; i++) {
    const dn_named_path *np = given->v[i];
    if (np->name) continue;
    while (k < g->inputs.n && (paths[k] || !(all || ((dn_input *)g->inputs.v[k])->for_inference))) k++;
    if (k == g->inputs.n) return fail("too many --input values (extra: %s)%s", np->path, "");
    paths[k] = np->path;
  }
  for (int i = 0; i < g->inputs.n; i++) {
    const dn_input *in = g->inputs.v[i];
    if ((all || in->for_inference) && !paths[i]) return fail("missing --input for input '%s'%s", in->name, "");
  }
  return 0;
}

/* Reads one input file and converts it for input `in`. */
static int read_one(const dn_input *in, const char *path, int use_double, void **buf, int64_t *batch) {
  dnrt_tensor t = {0};
  if (dnrt_npy_read(path, &t) != 0) return fail("%s%s", dnrt_error(), "");
  int ok = t.rank == in->sample.rank + 1;
  for (int k = 0; ok && k < in->sample.rank; k++) ok = t.shape[k + 1] == in->sample.dim[k];
  if (!ok || t.shape[0] < 1) {
    fprintf(stderr, "dnncc: error: %s: input '%s' must have shape [batch, %s], got rank %d\n", path, in->name,
            dn_shape_str(in->sample), t.rank);
    dnrt_tensor_free(&t);
    return 1;
  }
  if (*batch && t.shape[0] != *batch) {
    fprintf(stderr, "dnncc: error: %s: batch %lld differs from the other inputs' %lld\n", path, (long long)t.shape[0], (long long)*batch);
    dnrt_tensor_free(&t);
    return 1;
  }
  *batch = t.shape[0];
  int64_t n = dnrt_count(&t);
  if (in->is_class) {
    if (dnrt_tensor_to_i32(&t) != 0) {
      dnrt_tensor_free(&t);
      return fail("%s%s", dnrt_error(), "");
    }
    for (int64_t i = 0; i < n; i++)
      if (((int32_t *)t.data)[i] < 0 || ((int32_t *)t.data)[i] >= in->classes) {
        fprintf(stderr, "dnncc: error: %s: label %d at %lld is outside [0, %lld)\n", path, ((int32_t *)t.data)[i], (long long)i, (long long)in->classes);
        dnrt_tensor_free(&t);
        return 1;
      }
  } else if (dnrt_tensor_to_f32(&t) != 0) {
    dnrt_tensor_free(&t);
    return fail("%s%s", dnrt_error(), "");
  } else if (dnrt_check_finite(dn_fmt("%s: input '%s'", path, in->name), t.data, n, n / t.shape[0]) != 0) {
    dnrt_tensor_free(&t);
    return fail("%s%s", dnrt_error(), "");
  }
  if (use_double && !in->is_class) {
    double *d = malloc(sizeof(double) * (size_t)(n + 1));
    if (!d) { dnrt_tensor_free(&t); return fail("out of memory%s%s", "", ""); }
    for (int64_t i = 0; i < n; i++) d[i] = ((float *)t.data)[i];
    free(t.data);
    t.data = d;
  }
  *buf = t.data;
  t.data = NULL;
  dnrt_tensor_free(&t);
  return 0;
}

int dn_model_read_inputs(const dn_graph *g, int all_inputs, const dn_vec *given, int use_double, void ***bufs,
                         int64_t *batch) {
  const char **paths = calloc((size_t)g->inputs.n + 1, sizeof *paths);
  void **out = calloc((size_t)g->inputs.n + 1, sizeof *out);
  int err = !paths || !out || match_inputs(g, all_inputs, given, paths);
  int k = 0;
  *batch = 0;
  for (int i = 0; !err && i < g->inputs.n; i++)
    if (paths[i]) err = read_one(g->inputs.v[i], paths[i], use_double, &out[k++], batch);
  free(paths);
  if (err) {
    for (int i = 0; out && i < g->inputs.n; i++) free(out[i]);
    free(out);
    return 1;
  }
  *bufs = out;
  return 0;
}
