/* emit.c - stub. */
#include "codegen.h"
int dn_emit_c(dn_graph *infer, dn_graph *train, const dn_emit_opts *o, dn_buf *c, dn_buf *h) {
  (void)infer, (void)train, (void)o, (void)c, (void)h;
  dn_error((dn_loc){0}, "code generation not implemented yet");
  return 1;
}
