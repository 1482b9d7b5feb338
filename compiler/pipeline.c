/* pipeline.c - the whole compilation pipeline in one function (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <string.h>

static int dumping(const dn_pipeline_opts *o, const char *what) { return o->dump && strcmp(o->dump, what) == 0; }

/* Unrolling, autodiff and the passes after it, on a training graph fresh from dn_sema. */
static int train_passes(const dn_pipeline_opts *o, const dn_train_cfg *cfg, dn_graph *g) {
  dn_ir_verify(g);
  if (dn_unroll_scans(g, cfg->tbptt)) return 1;
  dn_hoist_scan_inputs(g);
  if (dn_autodiff(g)) return 1;
  dn_ir_verify(g);
  dn_simplify(g, o->opt_level);
  dn_save_scan_values(g);
  dn_simplify(g, o->opt_level);
  dn_hoist_scan_reductions(g);
  dn_simplify(g, o->opt_level);
  dn_ir_verify(g);
  return 0;
}

static int separable_nodes(const dn_graph *g, const char *loss_chain) {
  for (int i = 0; i < g->nodes.n; i++) {
    const dn_node *n = g->nodes.v[i];
    if (n->op == DN_OP_ASSIGN) return 0;
    if (n->op == DN_OP_SCAN && !separable_nodes(n->scan.body, NULL)) return 0;
    if (n->batched || (loss_chain && loss_chain[i])) continue;
    for (int j = 0; j < n->nin; j++)
      if (n->in[j]->batched) return 0;
  }
  return 1;
}

int dn_sample_separable(const dn_graph *g) {
  if (!g->loss || !g->loss_mean) return 0;
  char *chain = dn_alloc((size_t)g->nodes.n + 1);
  /* loss_mean = scale(reshape(sum(loss))): the nodes from loss_mean back to the loss */
  for (const dn_node *n = g->loss_mean; n && n != g->loss;) {
    chain[n->id] = 1;
    const dn_node *next = NULL;
    for (int j = 0; j < n->nin; j++)
      if (n->in[j]->batched || n->in[j]->nin) next = n->in[j];
    n = next;
  }
  return separable_nodes(g, chain);
}

/* An inference graph splits by samples when every output is batched and no node mixes
 * samples (the loss's batch mean aside: the mean of equal parts' means is the batch's). */
static int infer_separable(const dn_graph *g) {
  for (int i = 0; i < g->outputs.n; i++)
    if (!((const dn_output *)g->outputs.v[i])->node->batched) return 0;
  if (!g->loss_mean) return separable_nodes(g, NULL);
  return dn_sample_separable(g);
}

/* The passes of an inference graph fresh from dn_sema. */
static int infer_passes(const dn_pipeline_opts *o, dn_graph *g) {
  dn_ir_verify(g);
  if (dn_unroll_scans(g, 0)) return 1;
  dn_hoist_scan_inputs(g);
  dn_simplify(g, o->opt_level);
  dn_ir_verify(g);
  return 0;
}

int dn_pipeline(const dn_pipeline_opts *o, dn_unit *u) {
  memset(u, 0, sizeof *u);
  u->prog = dn_parse_file(o->file);
  return u->prog ? dn_pipeline_ast(o, u) : 1;
}

int dn_pipeline_ast(const dn_pipeline_opts *o, dn_unit *u) {
  if (dumping(o, "ast")) dn_ast_dump(u->prog, stdout);

  dn_train_cfg cfg;
  if (dn_sema_train_cfg(u->prog, &cfg)) return 1;
  int64_t batch = o->batch ? o->batch : o->want_train ? cfg.batch : 1;

  int divides = o->split > 1 && batch % o->split == 0;  /* parts of batch / split samples */
  u->infer = dn_sema(u->prog, o->file, batch, DN_MODE_INFER);
  if (!u->infer || infer_passes(o, u->infer)) return 1;
  if (divides && infer_separable(u->infer)) {
    u->infer_part = dn_sema(u->prog, o->file, batch / o->split, DN_MODE_INFER);
    if (!u->infer_part || infer_passes(o, u->infer_part)) return 1;
  }
  if (dumping(o, "ir")) dn_ir_dump(u->infer, stdout);
  if (!o->want_train) return 0;

  u->train = dn_sema(u->prog, o->file, batch, DN_MODE_TRAIN);
  if (!u->train) return 1;
  if (!u->train->loss) {
    dn_error((dn_loc){o->file, 1, 1}, "the model has no 'loss = ...': nothing to differentiate");
    return 1;
  }
  int split = divides && dn_sample_separable(u->train);
  if (train_passes(o, &cfg, u->train)) return 1;
  if (split) {
    u->train_part = dn_sema(u->prog, o->file, batch / o->split, DN_MODE_TRAIN);
    if (!u->train_part || train_passes(o, &cfg, u->train_part)) return 1;
  }
  if (dumping(o, "grad")) dn_ir_dump(u->train, stdout);
  return 0;
}
