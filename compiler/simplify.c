/* simplify.c - stub. */
#include "pipeline.h"
void dn_simplify(dn_graph *g, int opt_level) { (void)g, (void)opt_level; }
