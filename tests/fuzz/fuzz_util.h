/* fuzz_util.h - helpers for the libFuzzer targets: the runtime reads paths, so each input
 * is written to a per-process scratch file (in /dev/shm when available) first. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dnrt.h"

static char fz_dirname[256];  /* this process's scratch directory */

/* Removes the scratch directory at exit. */
static inline void fz_cleanup(void) {
  char p[600];
  DIR *d = opendir(fz_dirname);
  for (struct dirent *e; d && (e = readdir(d));)
    if (e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))) {
      snprintf(p, sizeof p, "%s/%s", fz_dirname, e->d_name);
      unlink(p);
    }
  if (d) closedir(d);
  rmdir(fz_dirname);
}

/* The scratch directory of this process (created once). */
static inline const char *fz_dir(void) {
  if (!fz_dirname[0]) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(fz_dirname, sizeof fz_dirname, "%s/dnrt_fuzz_%d", base, (int)getpid());
    mkdir(fz_dirname, 0700);
    atexit(fz_cleanup);
  }
  return fz_dirname;
}

/* Writes data to name in the scratch directory; returns the (static) path. */
static inline const char *fz_file(const char *name, const uint8_t *data, size_t len) {
  static char bufs[2][512];
  static int k;
  char *p = bufs[k++ & 1];
  snprintf(p, 512, "%s/%s", fz_dir(), name);
  FILE *f = fopen(p, "wb");
  if (!f) abort();
  if (len && fwrite(data, 1, len, f) != len) abort();
  fclose(f);
  return p;
}

#endif
