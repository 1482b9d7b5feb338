/* jit_llvm_load.c - the LLVM back end as jit.c sees it.
 *
 * With LLVM (DNNCC_HAVE_LLVM), compiler/jit_llvm.cpp is built as a separate module,
 * libdnncc_llvm.so, which this file dlopen()s the first time a model is compiled: linking
 * LLVM and Clang into dnncc itself cost about 100 ms of CPU at every start (their static
 * constructors and relocations), ten times what `dnncc check` or `dnncc -o` need. The
 * module is looked up at $DNNCC_LLVM_MODULE, else at the path CMake built it to
 * (DNNCC_LLVM_MODULE_PATH). When it cannot be loaded, dnncc says so once and uses the
 * system C compiler. Without LLVM, the stubs at the end make jit.c use the C compiler.
 */
#include "jit.h"
#include "jit_llvm.h"

#include <stdio.h>
#include <string.h>

#ifdef DNNCC_HAVE_LLVM
#include <dlfcn.h>
#include <stdlib.h>

/* The module's entry points, resolved once. */
static struct {
  int tried;                                             /* load attempted */
  void *so;                                              /* dlopen handle, NULL if failed */
  dn_jit *(*compile)(const char *, size_t, const dn_jit_opts *);
  void *(*lookup)(dn_jit *, const char *);
  void (*release)(dn_jit *);
  void (*stats)(dn_jit_llvm_stats *);
} mod;

/* Resolves one symbol of the module into *slot; returns 0 or -1. */
static int need(void *slot, const char *name) {
  void *p = dlsym(mod.so, name);
  memcpy(slot, &p, sizeof p);
  return p ? 0 : -1;
}

/* Loads and initializes the module once; returns whether it is usable. */
static int load(void) {
  if (mod.tried) return mod.so != NULL;
  mod.tried = 1;
  const char *path = getenv("DNNCC_LLVM_MODULE");
  if (!path || !*path) path = DNNCC_LLVM_MODULE_PATH;
  mod.so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  const char *why = mod.so ? "a symbol is missing" : dlerror();
  void (*init)(const char *(*)(void), void (*)(const char *, size_t, const char *, char[17])) = NULL;
  if (mod.so && (need(&init, "dnmod_llvm_init") || need(&mod.compile, "dnmod_llvm_compile") ||
                 need(&mod.lookup, "dnmod_llvm_lookup") || need(&mod.release, "dnmod_llvm_free") ||
                 need(&mod.stats, "dnmod_llvm_get_stats"))) {
    dlclose(mod.so);
    mod.so = NULL;
  }
  if (!mod.so) {
    fprintf(stderr, "dnncc: warning: cannot load the LLVM JIT module %s (%s); using the system C compiler\n", path,
            why ? why : "unknown reason");
    return 0;
  }
  init(dn_jit_cache_dir, dn_jit_hash);
  return 1;
}

int dn_jit_llvm_built(void) { return 1; }
int dn_jit_llvm_available(void) { return load(); }
dn_jit *dn_jit_llvm_compile(const char *src, size_t len, const dn_jit_opts *o) {
  return load() ? mod.compile(src, len, o) : NULL;
}
void *dn_jit_llvm_lookup(dn_jit *j, const char *symbol) { return mod.so ? mod.lookup(j, symbol) : NULL; }
void dn_jit_llvm_free(dn_jit *j) {
  if (mod.so) mod.release(j);
}
void dn_jit_llvm_get_stats(dn_jit_llvm_stats *out) {
  if (load()) mod.stats(out);
  else memset(out, 0, sizeof *out);
}

#else

int dn_jit_llvm_built(void) { return 0; }
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
