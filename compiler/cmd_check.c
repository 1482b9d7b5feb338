/* cmd_check.c - `dnncc check` (summary table) and `dnncc graph` (Graphviz drawing).
 *
 * check: runs the pipeline at batch 1 and prints, Keras summary() style, each top-level
 * binding with its per-sample shape, the parameters it creates and its forward FLOPs per
 * sample, then the totals. graph: draws the inference graph (or with --grad the training
 * graph with its gradients) as a dot file, written atomically.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "dnrt.h"
#include "driver.h"
#include "pipeline.h"

/* Shape text of a summary row: "[1, 28, 28]", "class(10)", "class(4)[6]". */
static const char *row_shape(const dn_binding *b, const dn_graph *g) {
  if (!b->is_class) return dn_shape_str(b->sample);
  for (int i = 0; i < g->inputs.n; i++) {
    const dn_input *in = g->inputs.v[i];
    if (strcmp(in->name, b->name) == 0)
      return in->sample.rank ? dn_fmt("class(%lld)%s", (long long)in->classes, dn_shape_str(in->sample))
                             : dn_fmt("class(%lld)", (long long)in->classes);
  }
  return dn_fmt("class%s", dn_shape_str(b->sample));
}

/* Prints the summary table of a checked graph. */
static void print_summary(const dn_graph *g) {
  int64_t total = 0, trainable = 0, flops = 0;
  for (int i = 0; i < g->params.n; i++) {
    const dn_param *p = g->params.v[i];
    int64_t c = dn_shape_count(p->shape);
    total += c;
    if (p->trainable) trainable += c;
  }
  printf("model %s\n", g->model);
  printf("%-28s %-22s %14s %16s\n", "binding", "shape (per sample)", "params", "FLOPs/sample");
  printf("%.*s\n", 83, "-----------------------------------------------------------------------------------------");
  for (int i = 0; i < g->inputs.n; i++) {
    const dn_input *in = g->inputs.v[i];
    const char *sh = in->is_class ? (in->sample.rank ? dn_fmt("class(%lld)%s", (long long)in->classes, dn_shape_str(in->sample))
                                                     : dn_fmt("class(%lld)", (long long)in->classes))
                                  : dn_shape_str(in->sample);
    printf("%-28s %-22s %14s %16s\n", dn_fmt("%s (input)", in->name), sh, "0", "0");
  }
  for (int i = 0; i < g->bindings.n; i++) {
    const dn_binding *b = g->bindings.v[i];
    flops += b->flops;
    printf("%-28s %-22s %14" PRId64 " %16" PRId64 "\n", b->name, row_shape(b, g), b->n_params, b->flops);
  }
  printf("%.*s\n", 83, "-----------------------------------------------------------------------------------------");
  printf("total parameters: %" PRId64 " (trainable %" PRId64 ", state %" PRId64 ")\n", total, trainable, total - trainable);
  printf("total FLOPs per sample: %" PRId64 "\n", flops);
  for (int i = 0; i < g->outputs.n; i++) {
    const dn_output *o = g->outputs.v[i];
    printf("output %s: %s\n", o->name, dn_shape_str(dn_sample_shape(o->node)));
  }
}

int dn_cmd_check(const dn_options *o) {
  if (o->outs.n) return dn_usage_error("'check' writes no file; drop -o");
  dn_pipeline_opts po = {.file = o->file, .batch = 1, .opt_level = o->opt_level, .dump = o->dump};
  dn_unit u;
  if (dn_pipeline(&po, &u)) return 1;
  print_summary(u.infer);
  return 0;
}

/* --- graph ------------------------------------------------------------------------- */

/* Escapes a label for a double-quoted dot string. */
static const char *dot_escape(const char *s) {
  dn_buf b = {0};
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') dn_buf_append(&b, "\\", 1);
    dn_buf_append(&b, s, 1);
  }
  const char *r = dn_strdup(b.s ? b.s : "");
  dn_buf_free(&b);
  return r;
}

/* One node: label "op [shape]" (and its name); inputs, parameters, constants styled apart. */
static void dot_node(dn_buf *b, const dn_graph *g, const dn_node *n) {
  const char *style = "shape=box";
  const char *label = dn_fmt("%s\\n%s%s", dn_ops[n->op].name, n->dtype == DN_I32 ? "i32" : "", dn_shape_str(n->shape));
  if (n->op == DN_OP_INPUT) style = "shape=ellipse, style=filled, fillcolor=lightblue";
  else if (n->op == DN_OP_PARAM) {
    const dn_param *p = g->params.v[n->param];
    style = p->trainable ? "shape=note, style=filled, fillcolor=lightyellow" : "shape=note, style=filled, fillcolor=khaki";
  } else if (n->op == DN_OP_CONST) style = "shape=plaintext";
  else if (dn_ops[n->op].flags & DN_F_SIDE) style = "shape=box, style=dashed";
  if (n->name) label = dn_fmt("%s\\n%s", dot_escape(n->name), label);
  dn_buf_printf(b, "  n%d [label=\"%s\", %s];\n", n->id, label, style);
  for (int i = 0; i < n->nin; i++) dn_buf_printf(b, "  n%d -> n%d;\n", n->in[i]->id, n->id);
}

/* The whole graph as dot text; outputs, loss and gradients as extra sink nodes. */
static void dot_graph(dn_buf *b, const dn_graph *g) {
  dn_buf_printf(b, "digraph \"%s\" {\n  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=10];\n", dot_escape(g->model));
  for (int i = 0; i < g->nodes.n; i++) dot_node(b, g, g->nodes.v[i]);
  for (int i = 0; i < g->outputs.n; i++) {
    const dn_output *o = g->outputs.v[i];
    dn_buf_printf(b, "  out%d [label=\"output %s\", shape=doubleoctagon, style=filled, fillcolor=palegreen];\n", i,
                  dot_escape(o->name));
    dn_buf_printf(b, "  n%d -> out%d;\n", o->node->id, i);
  }
  if (g->loss_mean) {
    dn_buf_printf(b, "  loss [label=\"loss (batch mean)\", shape=doubleoctagon, style=filled, fillcolor=salmon];\n");
    dn_buf_printf(b, "  n%d -> loss;\n", g->loss_mean->id);
  }
  for (int i = 0; i < g->grads.n; i++) {
    const dn_node *d = g->grads.v[i];
    if (!d) continue;
    const dn_param *p = g->params.v[i];
    dn_buf_printf(b, "  grad%d [label=\"d loss / d %s\", shape=octagon, style=filled, fillcolor=orange];\n", i,
                  dot_escape(p->name));
    dn_buf_printf(b, "  n%d -> grad%d;\n", d->id, i);
  }
  dn_buf_printf(b, "}\n");
}

int dn_cmd_graph(const dn_options *o) {
  if (o->outs.n > 1) return dn_usage_error("'graph' writes one file; give -o once");
  const dn_named_path *out = o->outs.n ? o->outs.v[0] : NULL;
  if (out && out->name) return dn_usage_error("'graph' takes -o FILE.dot, not NAME=FILE");
  dn_pipeline_opts po = {.file = o->file, .batch = o->batch, .want_train = o->grad, .opt_level = o->opt_level, .dump = o->dump};
  dn_unit u;
  if (dn_pipeline(&po, &u)) return 1;
  dn_buf b = {0};
  dot_graph(&b, o->grad ? u.train : u.infer);
  int rc = 0;
  if (!out) {
    fputs(b.s, stdout);
  } else if (dnrt_write_atomic(out->path, b.s, b.n)) {
    fprintf(stderr, "dnncc: error: cannot write '%s'\n", out->path);
    rc = 1;
  }
  dn_buf_free(&b);
  return rc;
}
