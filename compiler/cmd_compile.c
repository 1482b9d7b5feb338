/* cmd_compile.c - `dnncc FILE.dnn -o OUT.c` (emit C and its header) and `dnncc run`
 * (JIT inference on .npy inputs).
 *
 * compile: pipeline -> dn_emit_c -> OUT.c and OUT.h, each written atomically, neither when
 * anything fails. run: a first pipeline at batch 1 tells which inputs the model takes; the
 * inputs fix the batch; then the model is built at that batch through model.c, loaded with
 * --weights (or initialized from --seed), run, and each output written as <f4 .npy.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"
#include "dnrt.h"
#include "driver.h"
#include "model.h"

static int is_c_ident(const char *s) {
  if (!s || !(isalpha((unsigned char)*s) || *s == '_')) return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_') return 0;
  return 1;
}

/* OUT.c -> OUT.h (appends .h when the name does not end in .c). */
static const char *header_path(const char *c_path) {
  size_t n = strlen(c_path);
  if (n > 2 && strcmp(c_path + n - 2, ".c") == 0) return dn_fmt("%.*s.h", (int)(n - 2), c_path);
  return dn_fmt("%s.h", c_path);
}

static const char *base_name(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

/* Reads --weights for embedding, converted to F32. */
static int read_weights(const char *path, dnrt_tensors *ts) {
  if (dnrt_safetensors_read(path, ts) != 0) {
    fprintf(stderr, "dnncc: error: %s\n", dnrt_error());
    return 1;
  }
  for (int i = 0; i < ts->n; i++)
    if (dnrt_tensor_to_f32(&ts->t[i]) != 0) {
      fprintf(stderr, "dnncc: error: %s\n", dnrt_error());
      return 1;
    }
  return 0;
}

static int write_outputs(const char *c_path, const dn_buf *c, const dn_buf *h) {
  const char *h_path = header_path(c_path);
  if (dnrt_write_atomic(h_path, h->s ? h->s : "", h->n) != 0) {
    fprintf(stderr, "dnncc: error: %s\n", dnrt_error());
    return 1;
  }
  if (dnrt_write_atomic(c_path, c->s ? c->s : "", c->n) != 0) {
    fprintf(stderr, "dnncc: error: %s\n", dnrt_error());
    remove(h_path);
    return 1;
  }
  return 0;
}

int dn_cmd_compile(const dn_options *o) {
  if (o->outs.n != 1 || ((dn_named_path *)o->outs.v[0])->name) return dn_usage_error("give exactly one output: -o OUT.c");
  if (o->prefix && !is_c_ident(o->prefix)) return dn_usage_error("--prefix '%s' is not a C identifier", o->prefix);
  const char *c_path = ((dn_named_path *)o->outs.v[0])->path;
  dn_pipeline_opts po = {o->file, o->batch, o->train, o->opt_level, o->dump, (int)o->threads};
  dn_unit u;
  if (dn_pipeline(&po, &u)) return 1;
  const char *prefix = o->prefix ? o->prefix : u.infer->model;
  if (!is_c_ident(prefix)) {
    fprintf(stderr, "dnncc: error: the model name '%s' is not a C identifier; use --prefix\n", prefix);
    return 1;
  }
  dnrt_tensors ws = {0};
  if (o->weights && read_weights(o->weights, &ws)) return 1;
  dn_emit_opts eo = {0};
  eo.prefix = prefix;
  eo.header_name = base_name(header_path(c_path));
  eo.opt_level = o->opt_level;
  eo.blas = o->blas && strcmp(o->blas, "openblas") == 0;
  eo.threads = (int)o->threads;
  eo.emit_main = o->emit_main;
  eo.line_directives = 0;
  eo.weights = o->weights ? ws.t : NULL;
  eo.n_weights = ws.n;
  eo.dump_plan = o->dump && strcmp(o->dump, "plan") == 0 ? stdout : NULL;
  eo.train_part = u.train_part;
  eo.infer_part = u.infer_part;
  dn_buf c = {0}, h = {0};
  int rc = dn_emit_c(u.infer, u.train, &eo, &c, &h) ? 1 : write_outputs(c_path, &c, &h);
  dn_buf_free(&c);
  dn_buf_free(&h);
  dnrt_tensors_free(&ws);
  return rc;
}

/* --- run ------------------------------------------------------------------------------ */

/* Which output each -o value names: by name, the unnamed ones in order. */
static int match_outputs(const dn_graph *g, const dn_vec *outs, const char **paths) {
  for (int i = 0; i < outs->n; i++) {
    const dn_named_path *np = outs->v[i];
    if (!np->name) continue;
    int k = 0;
    while (k < g->outputs.n && strcmp(((dn_output *)g->outputs.v[k])->name, np->name) != 0) k++;
    if (k == g->outputs.n) return dn_usage_error("-o %s=...: the model has no output named '%s'", np->name, np->name);
    if (paths[k]) return dn_usage_error("-o %s given twice", np->name);
    paths[k] = np->path;
  }
  int k = 0;
  for (int i = 0; i < outs->n; i++) {
    const dn_named_path *np = outs->v[i];
    if (np->name) continue;
    while (k < g->outputs.n && paths[k]) k++;
    if (k == g->outputs.n) return dn_usage_error("more -o values than the model has outputs (%d)", g->outputs.n);
    paths[k] = np->path;
  }
  return 0;
}

/* Writes output k as <f4 .npy with the node's full shape. */
static int write_npy(const dn_node *n, const char *path, void *data) {
  dnrt_tensor t = {0};
  t.dtype = DNRT_F32;
  t.rank = n->shape.rank;
  for (int k = 0; k < t.rank; k++) t.shape[k] = n->shape.dim[k];
  t.data = data;
  t.nbytes = (size_t)dn_shape_count(n->shape) * 4;
  if (dnrt_npy_write(path, &t) != 0) {
    fprintf(stderr, "dnncc: error: %s\n", dnrt_error());
    return 1;
  }
  return 0;
}

static int run_model(const dn_options *o, dn_model *m, void **in, const char **paths) {
  const dn_graph *g = m->unit.infer;
  int n_out = g->outputs.n, rc = 0;
  void **out = calloc((size_t)n_out + 1, sizeof *out);
  for (int k = 0; out && k < n_out; k++) {
    out[k] = malloc((size_t)dn_shape_count(((dn_output *)g->outputs.v[k])->node->shape) * 4 + 4);
    if (!out[k]) rc = 1;
  }
  if (!out || rc) {
    fprintf(stderr, "dnncc: error: out of memory\n");
    rc = 1;
  }
  if (!rc && o->weights && dn_model_load_weights(m, o->weights)) rc = 1;
  if (!rc) m->forward_v(m->state, in, out);
  for (int k = 0; !rc && k < n_out; k++)
    if (paths[k]) rc = write_npy(((dn_output *)g->outputs.v[k])->node, paths[k], out[k]);
  for (int k = 0; out && k < n_out; k++) free(out[k]);
  free(out);
  return rc;
}

int dn_cmd_run(const dn_options *o) {
  if (!o->outs.n) return dn_usage_error("run needs at least one -o [NAME=]Y.npy");
  dn_pipeline_opts po = {o->file, 1, 0, o->opt_level, NULL, 0};
  dn_unit probe;
  if (dn_pipeline(&po, &probe)) return 1;
  const char **paths = dn_alloc(sizeof(char *) * (size_t)(probe.infer->outputs.n + 1));
  int rc = match_outputs(probe.infer, &o->outs, paths);
  if (rc) return rc;
  void **in = NULL;
  int64_t batch = 0;
  if (dn_model_read_inputs(probe.infer, 0, &o->inputs, 0, &in, &batch)) return 1;
  dn_model_opts mo = {0};
  mo.file = o->file;
  mo.batch = batch ? batch : 1;
  mo.opt_level = o->opt_level;
  mo.blas = o->blas && strcmp(o->blas, "openblas") == 0;
  mo.threads = (int)o->threads;
  mo.no_cache = o->no_cache;
  mo.seed = o->seed_set ? o->seed : 1;
  mo.dump = o->dump;
  dn_model m;
  rc = dn_model_build(&mo, &m) ? 1 : run_model(o, &m, in, paths);
  dn_model_free(&m);
  for (int i = 0; i < probe.infer->inputs.n; i++) free(in[i]);
  free(in);
  return rc;
}
