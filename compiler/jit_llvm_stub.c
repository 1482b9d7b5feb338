/* jit_llvm_stub.c - the LLVM back end when dnncc is built without LLVM. */
#include "jit.h"

#ifndef DNNCC_HAVE_LLVM
int dn_jit_llvm_available(void) { return 0; }
dn_jit *dn_jit_llvm_compile(const char *src, size_t len, const dn_jit_opts *o) {
  (void)src, (void)len, (void)o;
  return NULL;
}
void *dn_jit_llvm_lookup(dn_jit *j, const char *symbol) {
  (void)j, (void)symbol;
  return NULL;
}
void dn_jit_llvm_free(dn_jit *j) { (void)j; }
#endif
