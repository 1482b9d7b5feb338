/* jit.h - turning generated C into callable code in this process.
 *
 * Two back ends behind one interface: LLVM/Clang in memory (jit_llvm.cpp, when dnncc is
 * built with LLVM) and the system C compiler plus dlopen (jit_cc.c). Both cache compiled
 * code under $XDG_CACHE_HOME/dnncc (default ~/.cache/dnncc), keyed by a hash of the C source
 * and the flags. Environment DNNCC_JIT=cc selects the cc back end in an LLVM build.
 */
#ifndef DNNCC_JIT_H
#define DNNCC_JIT_H

#include <stddef.h>

typedef struct dn_jit dn_jit;

typedef struct dn_jit_opts {
  int opt_level;     /* C optimization level (default 2) */
  int openmp;        /* generated code uses OpenMP */
  int openblas;      /* generated code calls cblas_sgemm */
  int no_cache;      /* bypass the cache */
} dn_jit_opts;

/* Compiles C source; NULL after printing the compiler's diagnostics. */
dn_jit *dn_jit_compile(const char *src, size_t len, const dn_jit_opts *o);
void *dn_jit_lookup(dn_jit *j, const char *symbol);   /* NULL if missing */
void dn_jit_free(dn_jit *j);
const char *dn_jit_name(void);                        /* "llvm" or "cc" */

/* Back ends (jit.c picks one). */
dn_jit *dn_jit_cc_compile(const char *src, size_t len, const dn_jit_opts *o);
void *dn_jit_cc_lookup(dn_jit *j, const char *symbol);
void dn_jit_cc_free(dn_jit *j);
int dn_jit_llvm_built(void);      /* dnncc was built with the LLVM back end (no loading) */
int dn_jit_llvm_available(void);  /* ... and its module loads (loads it on first call) */
dn_jit *dn_jit_llvm_compile(const char *src, size_t len, const dn_jit_opts *o);
void *dn_jit_llvm_lookup(dn_jit *j, const char *symbol);
void dn_jit_llvm_free(dn_jit *j);

/* Cache helpers shared by both back ends: the directory (created), and a 64-bit FNV-1a
 * hash of the source and flags as 16 hex digits. */
const char *dn_jit_cache_dir(void);
void dn_jit_hash(const char *src, size_t len, const char *flags, char out[17]);

#endif
