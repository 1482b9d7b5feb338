/* jit_cc.c - the JIT back end that needs nothing but the system C compiler and dlopen.
 *
 * The C goes to $XDG_CACHE_HOME/dnncc/<hash>.c (default ~/.cache/dnncc; a private temp
 * directory when that is not writable), where <hash> covers the source and the compiler
 * flags. `cc -std=c99 -O2 -march=native -fPIC -shared` (+ -fopenmp, the cblas include
 * directory and -lopenblas as needed) builds a temporary .so that is renamed into place,
 * so concurrent dnncc processes never see a half-written library; a cached .so with the
 * same hash is reused unless no_cache. The compiler's diagnostics are passed through.
 * $CC overrides the compiler.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "diag.h"
#include "jit.h"

#ifndef DNNCC_CBLAS_INCLUDE
#define DNNCC_CBLAS_INCLUDE ""
#endif

struct dn_jit {
  void *so;  /* dlopen handle */
};

void dn_jit_hash(const char *src, size_t len, const char *flags, char out[17]) {
  uint64_t h = 0xcbf29ce484222325u;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)src[i]) * 0x100000001b3u;
  for (const char *p = flags ? flags : ""; *p; p++) h = (h ^ (unsigned char)*p) * 0x100000001b3u;
  snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* mkdir -p for a path of our own making; 0 when it exists and is writable afterwards. */
static int make_dirs(char *path) {
  for (char *p = path + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0755);
      *p = '/';
    }
  if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
  return access(path, W_OK | X_OK);
}

const char *dn_jit_cache_dir(void) {
  static char dir[4096];
  if (dir[0]) return dir;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  if (xdg && *xdg) snprintf(dir, sizeof dir, "%s/dnncc", xdg);
  else if (home && *home) snprintf(dir, sizeof dir, "%s/.cache/dnncc", home);
  if (dir[0] && make_dirs(dir) == 0) return dir;
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/dnncc-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    snprintf(dir, sizeof dir, ".");
  }
  return dir;
}

static int write_file(const char *path, const char *s, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(s, 1, len, f) == len;
  if (fclose(f) != 0) ok = 0;
  return ok ? 0 : -1;
}

/* The compiler command line without input and output. */
static const char *cc_flags(const dn_jit_opts *o) {
  const char *cc = getenv("CC");
  int lvl = o && o->opt_level >= 0 && o->opt_level <= 3 ? o->opt_level : 2;
  if (o && o->opt_level == 0) lvl = 2;
  return dn_fmt("%s -std=c99 -O%d -march=native -ffp-contract=off -fPIC -shared -w%s%s%s", cc && *cc ? cc : "cc", lvl,
                o && o->openmp ? " -fopenmp" : "",
                o && o->openblas && DNNCC_CBLAS_INCLUDE[0] ? " -I" DNNCC_CBLAS_INCLUDE : "",
                o && o->openblas ? " -lopenblas" : "");
}

/* Runs the compiler; its diagnostics go to stderr. */
static int run_cc(const char *flags, const char *c_path, const char *so_path) {
  const char *cmd = dn_fmt("%s -o '%s' '%s' -lm", flags, so_path, c_path);
  fflush(stdout);
  int rc = system(cmd);
  if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
    fprintf(stderr, "dnncc: error: the C compiler failed on the generated code (%s)\n", c_path);
    return -1;
  }
  return 0;
}

dn_jit *dn_jit_cc_compile(const char *src, size_t len, const dn_jit_opts *o) {
  const char *flags = cc_flags(o), *dir = dn_jit_cache_dir();
  char hash[17];
  dn_jit_hash(src, len, flags, hash);
  const char *so_path = dn_fmt("%s/%s.so", dir, hash), *c_path = dn_fmt("%s/%s.c", dir, hash);
  int cached = !(o && o->no_cache) && access(so_path, R_OK) == 0;
  if (!cached) {
    const char *tmp_c = dn_fmt("%s/%s.%ld.c", dir, hash, (long)getpid());
    const char *tmp_so = dn_fmt("%s/%s.%ld.so", dir, hash, (long)getpid());
    if (write_file(tmp_c, src, len) != 0) {
      fprintf(stderr, "dnncc: error: cannot write %s: %s\n", tmp_c, strerror(errno));
      return NULL;
    }
    int rc = run_cc(flags, tmp_c, tmp_so);
    if (rc == 0 && (rename(tmp_c, c_path) != 0 || rename(tmp_so, so_path) != 0)) rc = -1;
    if (rc != 0) {
      remove(tmp_so);
      return NULL;
    }
  }
  /* OpenMP code: the library stays mapped after dlclose, and with it libgomp, whose idle
   * worker threads outlive the model (unmapping them crashed dnncc at exit) */
  void *so = dlopen(so_path, RTLD_NOW | RTLD_LOCAL | (o && o->openmp ? RTLD_NODELETE : 0));
  if (!so) {
    fprintf(stderr, "dnncc: error: cannot load %s: %s\n", so_path, dlerror());
    return NULL;
  }
  dn_jit *j = malloc(sizeof *j);
  if (!j) {
    dlclose(so);
    return NULL;
  }
  j->so = so;
  return j;
}

void *dn_jit_cc_lookup(dn_jit *j, const char *symbol) { return j ? dlsym(j->so, symbol) : NULL; }

void dn_jit_cc_free(dn_jit *j) {
  if (!j) return;
  dlclose(j->so);
  free(j);
}
