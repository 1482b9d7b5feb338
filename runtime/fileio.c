/* fileio.c - whole-file reading with limits, atomic writing, and a growable buffer.
 *
 * dnrt_write_atomic never leaves a half-written file under the final name: it writes a
 * temporary `.NAME.XXXXXX` in the same directory (so rename is atomic), fsyncs it,
 * renames it over the target and fsyncs the directory. Any failure removes the temporary.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "rt_internal.h"

/* Splits path into a malloc'd directory ("." if none) and a pointer to the base name. */
static char *split_dir(const char *path, const char **base) {
  const char *slash = strrchr(path, '/');
  *base = slash ? slash + 1 : path;
  if (!slash) return strdup(".");
  if (slash == path) return strdup("/");
  return strndup(path, (size_t)(slash - path));
}

/* Writes all of len bytes to fd, retrying short writes. */
static int write_all(int fd, const void *data, size_t len) {
  const char *p = data;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

/* fsyncs a directory so a rename inside it is durable (best effort on odd file systems). */
static void sync_dir(const char *dir) {
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return;
  (void)fsync(fd);
  close(fd);
}

int dnrt_write_atomic(const char *path, const void *data, size_t len) {
  const char *base;
  char *dir = split_dir(path, &base);
  if (!dir) return dnrt_fail("%s: out of memory", path);
  if (!*base) { free(dir); return dnrt_fail("%s: not a file name", path); }
  size_t cap = strlen(dir) + strlen(base) + 16;
  char *tmp = malloc(cap);
  if (!tmp) { free(dir); return dnrt_fail("%s: out of memory", path); }
  snprintf(tmp, cap, "%s/.%s.XXXXXX", dir, base);
  int fd = mkstemp(tmp), rc = -1;
  if (fd < 0) {
    dnrt_fail("%s: cannot create a temporary file in %s: %s", path, dir, strerror(errno));
  } else if (fchmod(fd, 0644) || write_all(fd, data, len) || fsync(fd)) {
    dnrt_fail("%s: write failed: %s", path, strerror(errno));
    close(fd);
  } else if (close(fd)) {
    dnrt_fail("%s: write failed: %s", path, strerror(errno));
  } else if (rename(tmp, path)) {
    dnrt_fail("%s: cannot rename the temporary file into place: %s", path, strerror(errno));
  } else {
    sync_dir(dir);
    rc = 0;
  }
  if (rc && fd >= 0) unlink(tmp);
  free(tmp);
  free(dir);
  return rc;
}

int dnrt__file_size(FILE *f, const char *path, int64_t *size) {
  struct stat st;
  if (fstat(fileno(f), &st)) return dnrt_fail("%s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return dnrt_fail("%s: not a regular file", path);
  *size = (int64_t)st.st_size;
  return 0;
}

int dnrt__read_exact(FILE *f, void *buf, size_t n, const char *path, const char *what) {
  if (n && fread(buf, 1, n, f) != n)
    return dnrt_fail("%s: truncated %s (%s)", path, what, ferror(f) ? strerror(errno) : "unexpected end of file");
  return 0;
}

int dnrt_read_file(const char *path, size_t limit, char **data, size_t *len) {
  int64_t size = 0;
  *data = NULL;
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return dnrt_fail("%s: cannot open: %s", path, strerror(errno));
  if (dnrt__file_size(f, path, &size)) { fclose(f); return -1; }
  if ((uint64_t)size > limit) {
    fclose(f);
    return dnrt_fail("%s: file is %lld bytes, more than the limit of %zu", path, (long long)size, limit);
  }
  char *buf = malloc((size_t)size + 1);
  if (!buf) { fclose(f); return dnrt_fail("%s: out of memory (%lld bytes)", path, (long long)size); }
  if (dnrt__read_exact(f, buf, (size_t)size, path, "file")) { free(buf); fclose(f); return -1; }
  fclose(f);
  buf[size] = 0;
  *data = buf;
  *len = (size_t)size;
  return 0;
}

/* Grows *buf (capacity *cap) to hold at least need bytes, doubling. */
static int grow(unsigned char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 65536;
  while (c < need) c *= 2;
  unsigned char *p = realloc(*buf, c);
  if (!p) return -1;
  *buf = p;
  *cap = c;
  return 0;
}

int dnrt__read_gz(const char *path, size_t limit, unsigned char **data, size_t *len) {
  *data = NULL;
  *len = 0;
  gzFile g = gzopen(path, "rb");
  if (!g) return dnrt_fail("%s: cannot open: %s", path, strerror(errno));
  unsigned char *buf = NULL;
  size_t n = 0, cap = 0;
  for (;;) {
    if (grow(&buf, &cap, n + 65536)) { dnrt_fail("%s: out of memory", path); goto fail; }
    int r = gzread(g, buf + n, 65536);
    if (r < 0) {
      int e;
      const char *m = gzerror(g, &e);
      dnrt_fail("%s: %s", path, e == Z_ERRNO ? strerror(errno) : m);
      goto fail;
    }
    if (r == 0) break;
    n += (size_t)r;
    if (n > limit) { dnrt_fail("%s: more than %zu bytes of data", path, limit); goto fail; }
  }
  gzclose(g);
  *data = buf;
  *len = n;
  return 0;
fail:
  gzclose(g);
  free(buf);
  return -1;
}

void dnrt__buf_add(dnrt_buf *b, const void *p, size_t n) {
  if (b->oom || n == 0) return;
  if (b->n + n + 1 > b->cap) {
    size_t c = b->cap ? b->cap : 256;
    while (c < b->n + n + 1) c *= 2;
    char *q = realloc(b->p, c);
    if (!q) { b->oom = 1; return; }
    b->p = q;
    b->cap = c;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  b->p[b->n] = 0;
}

void dnrt__buf_printf(dnrt_buf *b, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof tmp) { b->oom = 1; return; }
  dnrt__buf_add(b, tmp, (size_t)n);
}
