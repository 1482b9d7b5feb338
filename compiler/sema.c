/* sema.c - stub. */
#include "pipeline.h"
dn_graph *dn_sema(dn_ast *prog, const char *file, int64_t batch, dn_mode mode) {
  (void)prog, (void)file, (void)batch, (void)mode;
  dn_error((dn_loc){0}, "checker not implemented yet");
  return NULL;
}
int dn_sema_train_cfg(dn_ast *prog, dn_train_cfg *cfg) { (void)prog, (void)cfg; return 1; }
