/* kernels.c - stub. */
#include "kernels.h"
int dn_cg_kernel(dn_buf *c, dn_cg_ctx *ctx, const dn_node *n, const char *out, const char *const *in) {
  (void)c, (void)ctx, (void)n, (void)out, (void)in;
  return 1;
}
void dn_cg_helpers(dn_buf *c, const dn_cg_ctx *ctx) { (void)c, (void)ctx; }
