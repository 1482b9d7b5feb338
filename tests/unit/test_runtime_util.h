/* test_runtime_util.h - fixtures shared by the runtime's unit tests: a temp directory,
 * raw file writers and an "expect this call to fail with this message" check. */
#ifndef TEST_RUNTIME_UTIL_H
#define TEST_RUNTIME_UTIL_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dnrt.h"

static char tr_dir[256];  /* this test's temp directory */

/* Creates the temp directory (a Check fixture). */
static inline void tr_setup(void) {
  snprintf(tr_dir, sizeof tr_dir, "/tmp/dnrt_test_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(tr_dir));
}

/* Removes the temp directory and everything in it. */
static inline void tr_teardown(void) {
  DIR *d = opendir(tr_dir);
  struct dirent *e;
  char p[600];
  while (d && (e = readdir(d)))
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
      snprintf(p, sizeof p, "%s/%s", tr_dir, e->d_name);
      unlink(p);
    }
  if (d) closedir(d);
  rmdir(tr_dir);
}

/* The path of name inside the temp directory (static buffer rotation of 4). */
static inline const char *tr_path(const char *name) {
  static char bufs[4][600];
  static int k;
  char *b = bufs[k++ & 3];
  snprintf(b, 600, "%s/%s", tr_dir, name);
  return b;
}

/* Writes raw bytes to name in the temp directory; returns its path. */
static inline const char *tr_write(const char *name, const void *data, size_t len) {
  const char *p = tr_path(name);
  FILE *f = fopen(p, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  fclose(f);
  return p;
}

/* Asserts rc is -1 and the message contains every given fragment. */
#define tr_fails(rc, ...) do { \
    const char *frags_[] = {__VA_ARGS__}; \
    ck_assert_int_eq((rc), -1); \
    for (size_t i_ = 0; i_ < sizeof frags_ / sizeof frags_[0]; i_++) \
      ck_assert_msg(strstr(dnrt_error(), frags_[i_]), "message '%s' lacks '%s'", dnrt_error(), frags_[i_]); \
  } while (0)

/* Counts directory entries whose name starts with prefix. */
static inline int tr_count_prefix(const char *prefix) {
  DIR *d = opendir(tr_dir);
  struct dirent *e;
  int n = 0;
  while (d && (e = readdir(d))) n += !strncmp(e->d_name, prefix, strlen(prefix));
  if (d) closedir(d);
  return n;
}

#endif
