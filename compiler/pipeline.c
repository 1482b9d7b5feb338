/* pipeline.c - the whole compilation pipeline in one function (see pipeline.h). */
#include "pipeline.h"

#include <stdio.h>
#include <string.h>

static int dumping(const dn_pipeline_opts *o, const char *what) { return o->dump && strcmp(o->dump, what) == 0; }

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

  u->infer = dn_sema(u->prog, o->file, batch, DN_MODE_INFER);
  if (!u->infer) return 1;
  dn_ir_verify(u->infer);
  if (dn_unroll_scans(u->infer, 0)) return 1;
  dn_hoist_scan_inputs(u->infer);
  dn_simplify(u->infer, o->opt_level);
  dn_ir_verify(u->infer);
  if (dumping(o, "ir")) dn_ir_dump(u->infer, stdout);
  if (!o->want_train) return 0;

  u->train = dn_sema(u->prog, o->file, batch, DN_MODE_TRAIN);
  if (!u->train) return 1;
  if (!u->train->loss) {
    dn_error((dn_loc){o->file, 1, 1}, "the model has no 'loss = ...': nothing to differentiate");
    return 1;
  }
  dn_ir_verify(u->train);
  if (dn_unroll_scans(u->train, cfg.tbptt)) return 1;
  dn_hoist_scan_inputs(u->train);
  if (dn_autodiff(u->train)) return 1;
  dn_ir_verify(u->train);
  dn_simplify(u->train, o->opt_level);
  dn_save_scan_values(u->train);
  dn_simplify(u->train, o->opt_level);
  dn_hoist_scan_reductions(u->train);
  dn_simplify(u->train, o->opt_level);
  dn_ir_verify(u->train);
  if (dumping(o, "grad")) dn_ir_dump(u->train, stdout);
  return 0;
}
