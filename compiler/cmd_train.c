/* cmd_train.c - stub. */
#include "driver.h"
int dn_cmd_train(const dn_options *o) { (void)o; return dn_usage_error("'train' is not implemented yet"); }
int dn_cmd_eval(const dn_options *o) { (void)o; return dn_usage_error("'eval' is not implemented yet"); }
int dn_cmd_sample(const dn_options *o) { (void)o; return dn_usage_error("'sample' is not implemented yet"); }
