/* autodiff.c - stub. */
#include "pipeline.h"
int dn_autodiff(dn_graph *g) { (void)g; dn_error((dn_loc){0}, "autodiff not implemented yet"); return 1; }
