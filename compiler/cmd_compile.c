/* cmd_compile.c - stub. */
#include "driver.h"
int dn_cmd_compile(const dn_options *o) { (void)o; return dn_usage_error("'compile' is not implemented yet"); }
int dn_cmd_run(const dn_options *o) { (void)o; return dn_usage_error("'run' is not implemented yet"); }
