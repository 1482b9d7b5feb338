/* cmd_grad.c - stub. */
#include "driver.h"
int dn_cmd_grad(const dn_options *o) { (void)o; return dn_usage_error("'grad' is not implemented yet"); }
int dn_cmd_gradcheck(const dn_options *o) { (void)o; return dn_usage_error("'gradcheck' is not implemented yet"); }
