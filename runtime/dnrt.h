/* dnrt.h - the dnncc runtime: tensor files, data sets, the training loop's helpers.
 *
 * Everything here validates its input completely: a malformed or truncated file, a
 * header that lies about sizes, a shape that does not match, all end in -1 and a message
 * from dnrt_error() (naming the file and the tensor), never in a crash. Files are written
 * atomically: a temporary name in the same directory, fsync, rename.
 */
#ifndef DNRT_H
#define DNRT_H

#include <stddef.h>
#include <stdint.h>

#define DNRT_MAX_RANK 8

typedef enum dnrt_dtype { DNRT_F32, DNRT_F64, DNRT_I32, DNRT_I64, DNRT_U8 } dnrt_dtype;

typedef struct dnrt_tensor {
  char *name;                     /* malloc'd; NULL for .npy */
  dnrt_dtype dtype;               /* element type as stored */
  int rank;                       /* 0..DNRT_MAX_RANK */
  int64_t shape[DNRT_MAX_RANK];   /* sizes */
  void *data;                     /* malloc'd, little-endian host order, C order */
  size_t nbytes;                  /* bytes of data */
} dnrt_tensor;

/* The message of the last failure (thread-local buffer). */
const char *dnrt_error(void);
int dnrt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* sets it; returns -1 */

int64_t dnrt_count(const dnrt_tensor *t);
size_t dnrt_dtype_size(dnrt_dtype d);
void dnrt_tensor_free(dnrt_tensor *t);
/* Converts in place to F32 (from F64/I32/I64/U8) or to I32 (from I64/I32, range-checked). */
int dnrt_tensor_to_f32(dnrt_tensor *t);
int dnrt_tensor_to_i32(dnrt_tensor *t);
/* 0 when the n floats of x (samples of per_sample elements) are all finite, else -1 with
 * "WHAT holds NaN|an infinity at element I (sample S)". */
int dnrt_check_finite(const char *what, const float *x, int64_t n, int64_t per_sample);

/* NumPy .npy v1.0/2.0/3.0, little-endian, C order; dtypes <f4 <f8 <i4 <i8 |u1. */
int dnrt_npy_read(const char *path, dnrt_tensor *out);
int dnrt_npy_write(const char *path, const dnrt_tensor *t);

/* safetensors: dtypes F32 F64 I32 I64 U8. A file holds n tensors. */
typedef struct dnrt_tensors {
  dnrt_tensor *t;   /* array */
  int n;            /* count */
} dnrt_tensors;
int dnrt_safetensors_read(const char *path, dnrt_tensors *out);
int dnrt_safetensors_write(const char *path, const dnrt_tensor *ts, int n);
const dnrt_tensor *dnrt_tensors_find(const dnrt_tensors *ts, const char *name);
void dnrt_tensors_free(dnrt_tensors *ts);

/* Writes len bytes atomically (temp file in the same directory, fsync, rename). */
int dnrt_write_atomic(const char *path, const void *data, size_t len);
/* Reads a whole file (malloc'd, NUL-terminated); limit: max bytes accepted. */
int dnrt_read_file(const char *path, size_t limit, char **data, size_t *len);

/* Data sets (SPEC 3 --data). x holds n samples of sample_elems floats (pixels in [0, 1]);
 * y holds n labels in [0, classes) (or, for text, n sequences of seq_len class indices). */
typedef struct dnrt_dataset {
  int64_t n;                      /* samples */
  int rank;                       /* per-sample shape of x */
  int64_t shape[4];
  int64_t sample_elems;           /* floats per sample */
  float *x;                       /* n * sample_elems */
  int32_t *y;                     /* n labels (text: n * seq_len) */
  int64_t classes;                /* number of classes (text: vocabulary size) */
  int64_t seq_len;                /* text: characters per sequence, else 0 */
  int32_t *xi;                    /* text: n * seq_len input indices, else NULL */
  char *vocab;                    /* text: the characters, classes of them */
} dnrt_dataset;

typedef enum dnrt_split { DNRT_TRAIN, DNRT_TEST } dnrt_split;

/* spec: idx:DIR, mnist, fashion-mnist, cifar10:DIR, csv:FILE, npy:X.npy,Y.npy, text:FILE.
 * seq_len is used by text: only. csv and npy have no test split: DNRT_TEST returns n = 0. */
int dnrt_dataset_load(const char *spec, dnrt_split split, int64_t seq_len, dnrt_dataset *out);
void dnrt_dataset_free(dnrt_dataset *d);

/* Augmentation for images [C, H, W] in place: "flip,crop=P,brightness=B,contrast=C". */
typedef struct dnrt_augment {
  int flip;          /* random horizontal flip */
  int crop;          /* pad P then random crop back (0 = off) */
  float brightness;  /* add uniform(-B, B) */
  float contrast;    /* scale around the mean by uniform(1-C, 1+C) */
} dnrt_augment;
int dnrt_augment_parse(const char *spec, dnrt_augment *out);
void dnrt_augment_apply(const dnrt_augment *a, float *x, int c, int h, int w, uint64_t *rng);

/* Deterministic RNG (splitmix64 / xoshiro-style; documented in docs/). */
uint64_t dnrt_rng_next(uint64_t *s);
double dnrt_rng_uniform(uint64_t *s);             /* [0, 1) */
void dnrt_shuffle(int64_t *idx, int64_t n, uint64_t *s);

#endif
