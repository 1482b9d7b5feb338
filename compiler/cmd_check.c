/* cmd_check.c - stub. */
#include "driver.h"
int dn_cmd_check(const dn_options *o) { (void)o; return dn_usage_error("'check' is not implemented yet"); }
int dn_cmd_graph(const dn_options *o) { (void)o; return dn_usage_error("'graph' is not implemented yet"); }
