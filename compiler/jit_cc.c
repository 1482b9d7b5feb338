/* jit_cc.c - stub. */
#include "jit.h"
dn_jit *dn_jit_cc_compile(const char *src, size_t len, const dn_jit_opts *o) { (void)src, (void)len, (void)o; return NULL; }
void *dn_jit_cc_lookup(dn_jit *j, const char *symbol) { (void)j, (void)symbol; return NULL; }
void dn_jit_cc_free(dn_jit *j) { (void)j; }
const char *dn_jit_cache_dir(void) { return NULL; }
void dn_jit_hash(const char *src, size_t len, const char *flags, char out[17]) { (void)src, (void)len, (void)flags; out[0] = 0; }
