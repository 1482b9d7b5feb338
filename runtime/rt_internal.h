/* rt_internal.h - helpers shared by the runtime's source files (not part of the public API).
 *
 * Overflow-checked size arithmetic, whole-file and whole-stream readers with hard limits,
 * and a growable byte buffer. Every reader of untrusted data sizes its allocations with
 * these, after checking a header's claims against what the file really holds.
 */
#ifndef DNRT_INTERNAL_H
#define DNRT_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "dnrt.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the dnncc runtime assumes a little-endian host (tensor files are little-endian)"
/* Data set loaders, one per kind (dataset*.c); arg is the text after "kind:". */
int dnrt__load_idx(const char *dir, dnrt_split split, dnrt_dataset *out);
int dnrt__load_cifar10(const char *dir, dnrt_split split, dnrt_dataset *out);
int dnrt__load_csv(const char *file, dnrt_split split, dnrt_dataset *out);
int dnrt__load_npy(const char *arg, dnrt_split split, dnrt_dataset *out);
int dnrt__load_text(const char *file, dnrt_split split, int64_t seq_len, dnrt_dataset *out);
/* Joins dir and name into a malloc'd path (NULL when out of memory). */
char *dnrt__join(const char *dir, const char *name);

#endif

/* Upper bound on any single file the runtime reads whole (4 GiB). */
#define DNRT_FILE_LIMIT ((size_t)4 << 30)

/* *out = a * b; returns -1 (without failing) on overflow or negative operands. */
int dnrt__mul(int64_t a, int64_t b, int64_t *out);
/* Bytes of a dtype/shape; -1 with a message naming `what` on overflow or bad dims. */
int dnrt__shape_bytes(const char *what, dnrt_dtype dt, int rank, const int64_t *shape, int64_t *out);
/* Formats a shape as "[2, 3]" into buf. */
const char *dnrt__shape_str(int rank, const int64_t *shape, char *buf, size_t cap);
/* Name of a dtype in safetensors spelling ("F32"). */
const char *dnrt__dtype_name(dnrt_dtype d);

/* The size of an open regular file, or -1 with a message naming path. */
int dnrt__file_size(FILE *f, const char *path, int64_t *size);
/* Reads exactly n bytes or fails with a message naming path and what. */
int dnrt__read_exact(FILE *f, void *buf, size_t n, const char *path, const char *what);
/* Reads a whole file, transparently gunzipping it; at most limit decompressed bytes. */
int dnrt__read_gz(const char *path, size_t limit, unsigned char **data, size_t *len);

/* A growable byte buffer for writers. */
typedef struct dnrt_buf {
  char *p;      /* bytes (malloc'd) */
  size_t n;     /* used */
  size_t cap;   /* allocated */
  int oom;      /* an allocation failed: the contents are incomplete */
} dnrt_buf;
void dnrt__buf_add(dnrt_buf *b, const void *p, size_t n);
void dnrt__buf_printf(dnrt_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Data set loaders, one per kind (dataset*.c); arg is the text after "kind:". */
int dnrt__load_idx(const char *dir, dnrt_split split, dnrt_dataset *out);
int dnrt__load_cifar10(const char *dir, dnrt_split split, dnrt_dataset *out);
int dnrt__load_csv(const char *file, dnrt_split split, dnrt_dataset *out);
int dnrt__load_npy(const char *arg, dnrt_split split, dnrt_dataset *out);
int dnrt__load_text(const char *file, dnrt_split split, int64_t seq_len, dnrt_dataset *out);
/* Joins dir and name into a malloc'd path (NULL when out of memory). */
char *dnrt__join(const char *dir, const char *name);

#endif
