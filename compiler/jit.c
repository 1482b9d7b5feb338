/* jit.c - picks the JIT back end: LLVM when built in (unless DNNCC_JIT=cc), else cc+dlopen. */
#include "jit.h"

#include <stdlib.h>
#include <string.h>

/* A handle remembers which back end made it. */
typedef struct handle {
  int llvm;       /* made by the LLVM back end */
  dn_jit *impl;   /* the back end's handle */
} handle;

static int use_llvm(void) {
  const char *e = getenv("DNNCC_JIT");
  if (e && strcmp(e, "cc") == 0) return 0;
  return dn_jit_llvm_available();
}

const char *dn_jit_name(void) { return dn_jit_llvm_built() ? "llvm" : "cc"; }

dn_jit *dn_jit_compile(const char *src, size_t len, const dn_jit_opts *o) {
  int llvm = use_llvm();
  dn_jit *impl = llvm ? dn_jit_llvm_compile(src, len, o) : dn_jit_cc_compile(src, len, o);
  if (!impl) return NULL;
  handle *h = malloc(sizeof *h);
  if (!h) return NULL;
  h->llvm = llvm;
  h->impl = impl;
  return (dn_jit *)h;
}

void *dn_jit_lookup(dn_jit *j, const char *symbol) {
  handle *h = (handle *)j;
  return h->llvm ? dn_jit_llvm_lookup(h->impl, symbol) : dn_jit_cc_lookup(h->impl, symbol);
}

void dn_jit_free(dn_jit *j) {
  handle *h = (handle *)j;
  if (!h) return;
  if (h->llvm) dn_jit_llvm_free(h->impl);
  else dn_jit_cc_free(h->impl);
  free(h);
}
