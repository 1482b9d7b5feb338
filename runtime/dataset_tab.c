/* dataset_tab.c - the non-image data sets: CSV tables, .npy pairs and character text.
 *
 * csv:FILE   numeric columns, the last one the integer class; a first line that is not
 *            numeric is a header; every row has the same number of columns.
 * npy:X,Y    X float or u8 [N, ...] (u8 scaled to [0, 1]), Y integer [N].
 * text:FILE  character level: the vocabulary is the sorted set of bytes in the file, the
 *            first 90% is the training text, the last 10% the test text; sample k is the
 *            window starting at k * seq_len: xi = seq_len indices, y = the next characters.
 * csv and npy have no test split: DNRT_TEST yields n = 0 (with shape and classes set).
 */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

#define CSV_MAX_COLS (1 << 24)  /* columns per row accepted */

/* Growable storage for CSV rows. */
typedef struct csv_rows {
  float *x;          /* features */
  int32_t *y;        /* labels */
  int64_t n, cap;    /* rows, allocated rows */
  int cols;          /* columns per row (features + 1), 0 until the first row */
  double *vals;      /* scratch for one line */
  int vcap;          /* its capacity */
} csv_rows;

/* Parses one field [s, e) as a finite number. */
static int csv_number(const char *s, const char *e, double *v) {
  while (s < e && isspace((unsigned char)*s)) s++;
  while (e > s && isspace((unsigned char)e[-1])) e--;
  if (s == e || e - s > 63) return -1;
  char buf[64], *end;
  memcpy(buf, s, (size_t)(e - s));
  buf[e - s] = 0;
  *v = strtod(buf, &end);
  return *end || !isfinite(*v) ? -1 : 0;
}

/* Splits a line into numbers in r->vals; returns the column count, or -1 if a field is
 * not a number (*bad = its column, 1-based), -2 out of memory, -3 too many columns. */
static int csv_split(csv_rows *r, const char *s, const char *e, int *bad) {
  int n = 0;
  for (const char *f = s;; ) {
    const char *c = memchr(f, ',', (size_t)(e - f));
    const char *fe = c ? c : e;
    if (n == CSV_MAX_COLS) return -3;
    if (n == r->vcap) {
      int cap = r->vcap ? r->vcap * 2 : 16;
      double *v = realloc(r->vals, (size_t)cap * sizeof *v);
      if (!v) return -2;
      r->vals = v;
      r->vcap = cap;
    }
    if (csv_number(f, fe, &r->vals[n++])) { *bad = n; return -1; }
    if (!c) return n;
    f = c + 1;
  }
}

/* Appends the parsed row to r. */
static int csv_append(csv_rows *r, const char *path, int line) {
  double lab = r->vals[r->cols - 1];
  if (lab < 0 || lab != floor(lab) || lab > INT32_MAX - 1)
    return dnrt_fail("%s:%d: the class %g is not a non-negative integer", path, line, lab);
  if (r->n == r->cap) {
    int64_t c = r->cap ? r->cap * 2 : 256;
    float *x = realloc(r->x, (size_t)c * (size_t)(r->cols - 1) * sizeof(float) + 1);
    if (x) r->x = x;
    int32_t *y = realloc(r->y, (size_t)c * sizeof(int32_t));
    if (y) r->y = y;
    if (!x || !y) return dnrt_fail("%s: out of memory", path);
    r->cap = c;
  }
  for (int i = 0; i + 1 < r->cols; i++) r->x[r->n * (r->cols - 1) + i] = (float)r->vals[i];
  r->y[r->n++] = (int32_t)lab;
  return 0;
}

/* Handles one line [s, e) (line number line, first = no row or header seen yet). */
static int csv_line(csv_rows *r, const char *path, int line, int first, const char *s, const char *e) {
  int bad = 0, n = csv_split(r, s, e, &bad);
  if (n == -2) return dnrt_fail("%s: out of memory", path);
  if (n == -3) return dnrt_fail("%s:%d: more than %d columns", path, line, CSV_MAX_COLS);
  if (n < 0 && first) return 0;  /* a header line */
  if (n < 0) return dnrt_fail("%s:%d: column %d is not a number", path, line, bad);
  if (n < 2) return dnrt_fail("%s:%d: a row needs at least one feature and a class, found %d column", path, line, n);
  if (r->cols && n != r->cols)
    return dnrt_fail("%s:%d: %d columns, but the first row has %d", path, line, n, r->cols);
  r->cols = n;
  return csv_append(r, path, line);
}

/* Parses the whole text into r. */
static int csv_parse(csv_rows *r, const char *path, const char *text, size_t len) {
  const char *p = text, *end = text + len;
  int line = 0, first = 1;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *e = nl ? nl : end;
    const char *t = p;
    line++;
    while (t < e && isspace((unsigned char)*t)) t++;
    if (t < e) {
      if (csv_line(r, path, line, first, p, e)) return -1;
      first = 0;
    }
    p = nl ? nl + 1 : end;
  }
  if (r->n == 0) return dnrt_fail("%s: no data rows", path);
  return 0;
}

int dnrt__load_csv(const char *file, dnrt_split split, dnrt_dataset *out) {
  char *text = NULL;
  size_t len = 0;
  csv_rows r = {0};
  if (dnrt_read_file(file, DNRT_FILE_LIMIT, &text, &len)) return -1;
  int rc = csv_parse(&r, file, text, len);
  free(text);
  free(r.vals);
  out->x = r.x;
  out->y = r.y;
  if (rc) return -1;
  out->n = r.n;
  out->rank = 1;
  out->shape[0] = out->sample_elems = r.cols - 1;
  for (int64_t i = 0; i < r.n; i++)
    if (r.y[i] + 1 > out->classes) out->classes = r.y[i] + 1;
  if (split == DNRT_TEST) { free(out->x); free(out->y); out->x = NULL; out->y = NULL; out->n = 0; }
  return 0;
}

/* Loads and checks X into out (floats, per-sample shape). */
static int npy_x(const char *path, dnrt_dataset *out) {
  dnrt_tensor t;
  if (dnrt_npy_read(path, &t)) return -1;
  int rc = 0;
  if (t.rank < 1 || t.rank > 5)
    rc = dnrt_fail("%s: X must have rank 1 to 5 ([N, ...]), it has rank %d", path, t.rank);
  else if (t.dtype == DNRT_I32 || t.dtype == DNRT_I64)
    rc = dnrt_fail("%s: X must be float (<f4, <f8) or u8, got %s", path, t.dtype == DNRT_I32 ? "<i4" : "<i8");
  else if (t.shape[0] == 0)
    rc = dnrt_fail("%s: X holds no samples", path);
  int u8 = t.dtype == DNRT_U8;
  if (!rc) rc = dnrt_tensor_to_f32(&t);
  if (!rc) {
    out->n = t.shape[0];
    out->rank = t.rank - 1;
    out->sample_elems = 1;
    for (int i = 1; i < t.rank; i++) out->sample_elems *= out->shape[i - 1] = t.shape[i];
    out->x = t.data;
    t.data = NULL;
    if (u8) for (int64_t i = 0; i < out->n * out->sample_elems; i++) out->x[i] /= 255.0f;
    char what[600];
    snprintf(what, sizeof what, "%s: X", path);
    rc = dnrt_check_finite(what, out->x, out->n * out->sample_elems, out->sample_elems);
    if (rc) {
      free(out->x);
      out->x = NULL;
    }
  }
  dnrt_tensor_free(&t);
  return rc;
}

/* Loads and checks Y (n labels) into out. */
static int npy_y(const char *path, dnrt_dataset *out) {
  dnrt_tensor t;
  if (dnrt_npy_read(path, &t)) return -1;
  int rc = 0;
  if (t.rank != 1 || t.shape[0] != out->n)
    rc = dnrt_fail("%s: Y must have shape [%lld] to match X, got rank %d with %lld entries", path,
                   (long long)out->n, t.rank, (long long)(t.rank ? t.shape[0] : 1));
  if (!rc) { t.name = NULL; rc = dnrt_tensor_to_i32(&t); }
  if (rc && !strstr(dnrt_error(), path)) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", dnrt_error());
    dnrt_fail("%s: %s", path, msg);
  }
  int32_t *y = t.data;
  for (int64_t i = 0; !rc && i < out->n; i++) {
    if (y[i] < 0) rc = dnrt_fail("%s: label %lld is negative (%d)", path, (long long)i, y[i]);
    else if (y[i] + (int64_t)1 > out->classes) out->classes = y[i] + (int64_t)1;
  }
  if (!rc) { out->y = y; t.data = NULL; }
  dnrt_tensor_free(&t);
  return rc;
}

int dnrt__load_npy(const char *arg, dnrt_split split, dnrt_dataset *out) {
  const char *c = strchr(arg, ',');
  if (!c || strchr(c + 1, ','))
    return dnrt_fail("npy:%s: expected npy:X.npy,Y.npy (two paths separated by one comma)", arg);
  char *xp = strndup(arg, (size_t)(c - arg));
  if (!xp) return dnrt_fail("out of memory");
  int rc = npy_x(xp, out) || npy_y(c + 1, out) ? -1 : 0;
  free(xp);
  if (!rc && split == DNRT_TEST) { free(out->x); free(out->y); out->x = NULL; out->y = NULL; out->n = 0; }
  return rc;
}

/* Builds the sorted vocabulary of text and the byte -> index map. */
static int text_vocab(const unsigned char *s, size_t len, dnrt_dataset *out, int32_t map[256]) {
  int seen[256] = {0};
  for (size_t i = 0; i < len; i++) seen[s[i]] = 1;
  out->vocab = malloc(257);
  if (!out->vocab) return -1;
  out->classes = 0;
  for (int b = 0; b < 256; b++)
    if (seen[b]) { map[b] = (int32_t)out->classes; out->vocab[out->classes++] = (char)b; }
  out->vocab[out->classes] = 0;
  return 0;
}

/* Cuts part [s, s + len) into windows of seq_len + 1 characters with stride seq_len. */
static int text_windows(const unsigned char *s, size_t len, int64_t T, const int32_t *map, dnrt_dataset *out) {
  int64_t n = len > 0 ? (int64_t)(len - 1) / T : 0;
  size_t cnt = (size_t)(n * T);
  out->xi = malloc(cnt * sizeof(int32_t) + 1);
  out->y = malloc(cnt * sizeof(int32_t) + 1);
  out->x = malloc(cnt * sizeof(float) + 1);
  if (!out->xi || !out->y || !out->x) return -1;
  for (size_t i = 0; i < cnt; i++) {
    out->xi[i] = map[s[i]];
    out->x[i] = (float)out->xi[i];
    out->y[i] = map[s[i + 1]];
  }
  out->n = n;
  return 0;
}

int dnrt__load_text(const char *file, dnrt_split split, int64_t seq_len, dnrt_dataset *out) {
  char *text = NULL;
  size_t len = 0;
  int32_t map[256];
  if (seq_len < 1 || seq_len > (1 << 24))
    return dnrt_fail("%s: a text data set needs a sequence length from 1 to %d, got %lld", file, 1 << 24, (long long)seq_len);
  if (dnrt_read_file(file, (size_t)1 << 30, &text, &len)) return -1;
  const unsigned char *s = (const unsigned char *)text;
  size_t cut = len - len / 10;  /* the test split is the last 10% */
  int rc = 0;
  if (text_vocab(s, len, out, map) ||
      (split == DNRT_TRAIN ? text_windows(s, cut, seq_len, map, out) : text_windows(s + cut, len - cut, seq_len, map, out)))
    rc = dnrt_fail("%s: out of memory", file);
  else if (split == DNRT_TRAIN && out->n == 0)
    rc = dnrt_fail("%s: %zu characters of training text are too few for sequences of %lld (+1)", file, cut, (long long)seq_len);
  out->seq_len = seq_len;
  out->rank = 1;
  out->shape[0] = out->sample_elems = seq_len;
  free(text);
  return rc;
}
