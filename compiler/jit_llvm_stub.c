/* jit_llvm_stub.c - the LLVM back end when dnncc is built without LLVM.
 *
 * CMake compiles compiler/jit_llvm.cpp and defines DNNCC_HAVE_LLVM when LLVM 14 and Clang
 * are found (DNNCC_JIT=AUTO|LLVM); otherwise these definitions make jit.c fall back to the
 * system C compiler back end.
 */
#include "jit.h"
#include "jit_llvm.h"

#include <string.h>

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
void dn_jit_llvm_get_stats(dn_jit_llvm_stats *out) { memset(out, 0, sizeof *out); }
#endif
