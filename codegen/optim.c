/* optim.c - stub. */
#include "optim.h"
int dn_cg_optim_nstate(const dn_train_cfg *cfg) { (void)cfg; return 0; }
void dn_cg_emit_update(dn_buf *c, const dn_train_cfg *cfg, const dn_cg_slot *slots, int n, const char *real,
                       const char *state, const char *step) {
  (void)c, (void)cfg, (void)slots, (void)n, (void)real, (void)state, (void)step;
}
