/* jit_llvm.h - introspection for the LLVM JIT back end (jit_llvm.cpp via jit_llvm_load.c).
 *
 * The back end itself is reached through jit.h. This header only exposes counters so that
 * tests (and curious users of --verbose style output) can tell whether a compile went
 * through Clang or was served from the persistent object cache.
 */
#ifndef DNNCC_JIT_LLVM_H
#define DNNCC_JIT_LLVM_H

/* Counters since process start (all zero without LLVM). */
typedef struct dn_jit_llvm_stats {
  long clang_runs;    /* sources compiled by the Clang frontend */
  long cache_hits;    /* objects loaded from the cache instead */
  long cache_writes;  /* objects stored into the cache */
} dn_jit_llvm_stats;

void dn_jit_llvm_get_stats(dn_jit_llvm_stats *out);

#endif
