/* dataset.c - data set dispatch and the image formats: MNIST-style IDX and CIFAR-10.
 *
 * IDX files are big-endian: a magic number (0x00000803 for u8 images [n, rows, cols],
 * 0x00000801 for u8 labels [n]), the dimensions, then the bytes. They are read whole
 * (gunzipped when compressed; zlib passes raw files through), and every size the header
 * claims is checked against the bytes actually read. CIFAR-10's binary version is a
 * sequence of 3073-byte records: one label byte, then 3x32x32 pixel bytes (R, G, B planes).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rt_internal.h"

#define IDX_LIMIT ((size_t)2 << 30)  /* decompressed bytes accepted per IDX file */

char *dnrt__join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* Big-endian u32 at p. */
static uint32_t be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Finds DIR/base or DIR/base.gz; returns the malloc'd path or NULL with a message. */
static char *idx_find(const char *dir, const char *base) {
  char gz[128];
  snprintf(gz, sizeof gz, "%s.gz", base);
  char *a = dnrt__join(dir, base), *b = dnrt__join(dir, gz);
  if (!a || !b) { free(a); free(b); dnrt_fail("%s: out of memory", dir); return NULL; }
  if (access(a, F_OK) == 0) { free(b); return a; }
  if (access(b, F_OK) == 0) { free(a); return b; }
  dnrt_fail("%s: neither %s nor %s exists", dir, base, gz);
  free(a);
  free(b);
  return NULL;
}

/* Reads an IDX file with the given magic and rank; dims[] gets its dimensions and
 * *body the data after the header (inside *buf, which the caller frees). */
static int idx_read(const char *path, uint32_t magic, int rank, int64_t *dims, unsigned char **buf,
                    const unsigned char **body) {
  size_t len = 0;
  int64_t need = 1;
  if (dnrt__read_gz(path, IDX_LIMIT, buf, &len)) return -1;
  size_t hdr = 4 + 4 * (size_t)rank;
  if (len < hdr) return dnrt_fail("%s: truncated IDX header (%zu bytes)", path, len);
  if (be32(*buf) != magic)
    return dnrt_fail("%s: bad IDX magic 0x%08x (expected 0x%08x)", path, be32(*buf), magic);
  for (int i = 0; i < rank; i++) {
    dims[i] = be32(*buf + 4 + 4 * i);
    if (dnrt__mul(need, dims[i], &need)) return dnrt_fail("%s: IDX dimensions overflow", path);
  }
  if ((uint64_t)need != len - hdr)
    return dnrt_fail("%s: the IDX header promises %lld data bytes, the file holds %zu%s", path, (long long)need,
                     len - hdr, (uint64_t)need > len - hdr ? " (truncated)" : " (trailing bytes)");
  *body = *buf + hdr;
  return 0;
}

/* Loads an image file into out->x and out->shape. */
static int idx_images(const char *path, dnrt_dataset *out) {
  unsigned char *buf = NULL;
  const unsigned char *px = NULL;
  int64_t d[3] = {0, 0, 0};
  int64_t per = 0;
  int rc = idx_read(path, 0x00000803, 3, d, &buf, &px);
  /* with n = 0 the total is 0 however large rows x cols is: check the image size alone */
  if (!rc && (d[1] == 0 || d[2] == 0 || dnrt__mul(d[1], d[2], &per) || per > INT32_MAX))
    rc = dnrt_fail("%s: images of size %lldx%lld are not supported", path, (long long)d[1], (long long)d[2]);
  if (!rc) {
    size_t cnt = (size_t)(d[0] * per);
    out->x = malloc(cnt ? cnt * sizeof(float) : 1);
    if (!out->x) rc = dnrt_fail("%s: out of memory", path);
    for (size_t i = 0; i < cnt && out->x; i++) out->x[i] = px[i] / 255.0f;
    out->n = d[0];
    out->rank = 3;
    out->shape[0] = 1, out->shape[1] = d[1], out->shape[2] = d[2];
    out->sample_elems = per;
  }
  free(buf);
  return rc;
}

/* Loads a label file into out->y; the count must equal out->n. */
static int idx_labels(const char *path, dnrt_dataset *out) {
  unsigned char *buf = NULL;
  const unsigned char *lb = NULL;
  int64_t d[1] = {0};
  int rc = idx_read(path, 0x00000801, 1, d, &buf, &lb);
  if (!rc && d[0] != out->n)
    rc = dnrt_fail("%s: %lld labels for %lld images", path, (long long)d[0], (long long)out->n);
  if (!rc) {
    out->y = malloc(d[0] ? (size_t)d[0] * sizeof(int32_t) : 1);
    if (!out->y) rc = dnrt_fail("%s: out of memory", path);
    out->classes = 10;
    for (int64_t i = 0; i < d[0] && out->y; i++) {
      out->y[i] = lb[i];
      if (lb[i] + 1 > out->classes) out->classes = lb[i] + 1;
    }
  }
  free(buf);
  return rc;
}

int dnrt__load_idx(const char *dir, dnrt_split split, dnrt_dataset *out) {
  const char *pre = split == DNRT_TRAIN ? "train" : "t10k";
  char base[64];
  snprintf(base, sizeof base, "%s-images-idx3-ubyte", pre);
  char *ip = idx_find(dir, base);
  snprintf(base, sizeof base, "%s-labels-idx1-ubyte", pre);
  char *lp = ip ? idx_find(dir, base) : NULL;
  int rc = !ip || !lp || idx_images(ip, out) || idx_labels(lp, out) ? -1 : 0;
  free(ip);
  free(lp);
  return rc;
}

#define CIFAR_REC 3073  /* 1 label byte + 3 * 32 * 32 pixels */

/* Appends the records of one CIFAR-10 batch file to out (capacity tracked in *cap). */
static int cifar_file(const char *path, dnrt_dataset *out, int64_t *cap) {
  char *buf = NULL;
  size_t len = 0;
  if (dnrt_read_file(path, DNRT_FILE_LIMIT, &buf, &len)) return -1;
  int rc = 0;
  if (len == 0 || len % CIFAR_REC)
    rc = dnrt_fail("%s: %zu bytes is not a whole number of %d-byte CIFAR-10 records", path, len, CIFAR_REC);
  int64_t m = (int64_t)(len / CIFAR_REC);
  if (!rc && out->n + m > *cap) {
    int64_t c = (out->n + m) * 2;
    float *x = realloc(out->x, (size_t)c * 3072 * sizeof(float));
    if (x) out->x = x;
    int32_t *y = realloc(out->y, (size_t)c * sizeof(int32_t));
    if (y) out->y = y;
    if (!x || !y) rc = dnrt_fail("%s: out of memory", path);
    else *cap = c;
  }
  for (int64_t r = 0; r < m && !rc; r++) {
    const unsigned char *rec = (const unsigned char *)buf + r * CIFAR_REC;
    if (rec[0] >= 10) { rc = dnrt_fail("%s: record %lld has label %d (CIFAR-10 labels are 0..9)", path, (long long)r, rec[0]); break; }
    out->y[out->n] = rec[0];
    for (int i = 0; i < 3072; i++) out->x[out->n * 3072 + i] = rec[1 + i] / 255.0f;
    out->n++;
  }
  free(buf);
  return rc;
}

int dnrt__load_cifar10(const char *dir, dnrt_split split, dnrt_dataset *out) {
  static const char *train[] = {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin",
                                "data_batch_4.bin", "data_batch_5.bin"};
  static const char *test[] = {"test_batch.bin"};
  const char **files = split == DNRT_TRAIN ? train : test;
  int nf = split == DNRT_TRAIN ? 5 : 1;
  char *sub = dnrt__join(dir, "cifar-10-batches-bin"), *probe = sub ? dnrt__join(dir, files[0]) : NULL;
  if (!probe) { free(sub); return dnrt_fail("%s: out of memory", dir); }
  const char *base = access(probe, F_OK) && !access(sub, F_OK) ? sub : dir;  /* the archive's own folder */
  int64_t cap = 0;
  int rc = 0;
  out->rank = 3;
  out->shape[0] = 3, out->shape[1] = 32, out->shape[2] = 32;
  out->sample_elems = 3072;
  out->classes = 10;
  for (int i = 0; i < nf && !rc; i++) {
    char *p = dnrt__join(base, files[i]);
    rc = p ? cifar_file(p, out, &cap) : dnrt_fail("%s: out of memory", dir);
    free(p);
  }
  free(sub);
  free(probe);
  return rc;
}

/* Splits "kind:arg" and resolves the aliases; returns the kind's index or -1. */
static int parse_spec(const char *spec, const char **arg) {
  static const char *kinds[] = {"idx", "cifar10", "csv", "npy", "text"};
  if (!strcmp(spec, "mnist")) { *arg = "/usr/share/datasets/mnist"; return 0; }
  if (!strcmp(spec, "fashion-mnist")) { *arg = "/usr/share/datasets/fashion-mnist"; return 0; }
  const char *colon = strchr(spec, ':');
  for (int k = 0; colon && k < 5; k++)
    if ((size_t)(colon - spec) == strlen(kinds[k]) && !strncmp(spec, kinds[k], strlen(kinds[k]))) {
      *arg = colon + 1;
      return **arg ? k : -1;
    }
  return -1;
}

int dnrt_dataset_load(const char *spec, dnrt_split split, int64_t seq_len, dnrt_dataset *out) {
  const char *arg = NULL;
  int rc;
  memset(out, 0, sizeof *out);
  switch (parse_spec(spec, &arg)) {
  case 0: rc = dnrt__load_idx(arg, split, out); break;
  case 1: rc = dnrt__load_cifar10(arg, split, out); break;
  case 2: rc = dnrt__load_csv(arg, split, out); break;
  case 3: rc = dnrt__load_npy(arg, split, out); break;
  case 4: rc = dnrt__load_text(arg, split, seq_len, out); break;
  default:
    return dnrt_fail("unknown data set '%s' (expected idx:DIR, mnist, fashion-mnist, cifar10:DIR, "
                     "csv:FILE, npy:X.npy,Y.npy or text:FILE)", spec);
  }
  if (rc) dnrt_dataset_free(out);
  return rc;
}

void dnrt_dataset_free(dnrt_dataset *d) {
  if (!d) return;
  free(d->x);
  free(d->y);
  free(d->xi);
  free(d->vocab);
  memset(d, 0, sizeof *d);
}
