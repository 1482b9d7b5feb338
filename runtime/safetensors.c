/* safetensors.c - safetensors reader and writer.
 *
 * Layout: an 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {...}}
 * then the data section; offsets are relative to its start. The reader bounds N by the
 * file size and a fixed limit before reading it, checks every tensor's dtype, shape,
 * offsets (inside the data section, non-overlapping, end - begin = bytes of the shape)
 * and rejects duplicate names, all before allocating tensor data.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rt_internal.h"

#define ST_HEADER_LIMIT ((uint64_t)100 << 20)  /* 100 MiB, as the reference implementation */

/* One tensor's header entry, validated. */
typedef struct st_entry {
  dnrt_tensor t;       /* name, dtype, shape (data not yet read) */
  int64_t begin, end;  /* data offsets */
} st_entry;

/* Parses a dtype name. */
static int st_dtype(const char *path, const char *name, const dnrt_json *j, dnrt_dtype *dt) {
  static const char *names[] = {"F32", "F64", "I32", "I64", "U8"};
  static const dnrt_dtype types[] = {DNRT_F32, DNRT_F64, DNRT_I32, DNRT_I64, DNRT_U8};
  if (j->type != DNRT_JSON_STR) return dnrt_fail("%s: tensor '%s': dtype is not a string", path, name);
  for (int i = 0; i < 5; i++)
    if (j->len == strlen(names[i]) && !memcmp(j->str, names[i], j->len)) { *dt = types[i]; return 0; }
  return dnrt_fail("%s: tensor '%s': unsupported dtype '%.32s' (supported: F32 F64 I32 I64 U8)", path, name, j->str);
}

/* Reads an array of non-negative integers (at most cap of them). */
static int st_ints(const char *path, const char *name, const char *field, const dnrt_json_doc *d, int k,
                   int64_t *out, int cap, int *n) {
  if (d->v[k].type != DNRT_JSON_ARR) return dnrt_fail("%s: tensor '%s': %s is not an array", path, name, field);
  if (d->v[k].count > cap) return dnrt_fail("%s: tensor '%s': %s has %d entries (at most %d)", path, name, field, d->v[k].count, cap);
  *n = 0;
  for (int e = d->v[k].child; e >= 0; e = d->v[e].next) {
    if (d->v[e].type != DNRT_JSON_NUM || !d->v[e].is_int || d->v[e].ival < 0)
      return dnrt_fail("%s: tensor '%s': %s holds something other than a non-negative integer", path, name, field);
    out[(*n)++] = d->v[e].ival;
  }
  return 0;
}

/* Checks a tensor entry's members: exactly dtype, shape, data_offsets. */
static int st_members(const char *path, const char *name, const dnrt_json_doc *d, int k, int idx[3]) {
  static const char *want[] = {"dtype", "shape", "data_offsets"};
  if (d->v[k].type != DNRT_JSON_OBJ) return dnrt_fail("%s: tensor '%s': entry is not an object", path, name);
  for (int i = 0; i < 3; i++) {
    idx[i] = dnrt_json_get(d, k, want[i]);
    if (idx[i] < 0) return dnrt_fail("%s: tensor '%s': missing \"%s\"", path, name, want[i]);
  }
  for (int m = d->v[k].child; m >= 0; m = d->v[m].next)
    if (m != idx[0] && m != idx[1] && m != idx[2])
      return dnrt_fail("%s: tensor '%s': unexpected or repeated member \"%.64s\"", path, name, d->v[m].key);
  return 0;
}

/* Validates one tensor entry k against the data section length. */
static int st_entry_parse(const char *path, const dnrt_json_doc *d, int k, int64_t dlen, st_entry *e) {
  const char *name = d->v[k].key;
  int idx[3], n = 0;
  int64_t off[2], nbytes;
  char s[256];
  if (memchr(name, 0, d->v[k].keylen)) return dnrt_fail("%s: a tensor name contains a NUL character", path);
  /* an empty name could not be written back (nor name a parameter): found by fuzz_safetensors */
  if (d->v[k].keylen == 0) return dnrt_fail("%s: a tensor has an empty name", path);
  if (st_members(path, name, d, k, idx) || st_dtype(path, name, &d->v[idx[0]], &e->t.dtype) ||
      st_ints(path, name, "shape", d, idx[1], e->t.shape, DNRT_MAX_RANK, &e->t.rank) ||
      st_ints(path, name, "data_offsets", d, idx[2], off, 2, &n))
    return -1;
  if (n != 2) return dnrt_fail("%s: tensor '%s': data_offsets must hold 2 integers, not %d", path, name, n);
  char what[300];
  snprintf(what, sizeof what, "%s: tensor '%s'", path, name);
  if (dnrt__shape_bytes(what, e->t.dtype, e->t.rank, e->t.shape, &nbytes)) return -1;
  if (off[0] > off[1] || off[1] > dlen)
    return dnrt_fail("%s: tensor '%s': data_offsets [%lld, %lld] lie outside the data section of %lld bytes",
                     path, name, (long long)off[0], (long long)off[1], (long long)dlen);
  if (off[1] - off[0] != nbytes)
    return dnrt_fail("%s: tensor '%s': data_offsets [%lld, %lld] span %lld bytes, but shape %s of %s needs %lld",
                     path, name, (long long)off[0], (long long)off[1], (long long)(off[1] - off[0]),
                     dnrt__shape_str(e->t.rank, e->t.shape, s, sizeof s), dnrt__dtype_name(e->t.dtype), (long long)nbytes);
  e->begin = off[0];
  e->end = off[1];
  e->t.nbytes = (size_t)nbytes;
  e->t.name = strdup(name);
  return e->t.name ? 0 : dnrt_fail("%s: out of memory", path);
}

/* Orders entries by begin offset (for the overlap check). */
static int st_cmp_begin(const void *a, const void *b) {
  const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
  return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : x->end < y->end ? -1 : x->end > y->end;
}

/* Orders entries by name (for the duplicate check). */
static int st_cmp_name(const void *a, const void *b) {
  return strcmp((*(st_entry *const *)a)->t.name, (*(st_entry *const *)b)->t.name);
}

/* Rejects duplicate names and overlapping data ranges among n entries. */
static int st_check_all(const char *path, st_entry *e, int n) {
  st_entry **o = malloc((size_t)(n ? n : 1) * sizeof *o);
  if (!o) return dnrt_fail("%s: out of memory", path);
  for (int i = 0; i < n; i++) o[i] = &e[i];
  qsort(o, (size_t)n, sizeof *o, st_cmp_name);
  int rc = 0;
  for (int i = 1; i < n && !rc; i++)
    if (!strcmp(o[i]->t.name, o[i - 1]->t.name)) rc = dnrt_fail("%s: tensor '%s' appears twice", path, o[i]->t.name);
  qsort(o, (size_t)n, sizeof *o, st_cmp_begin);
  for (int i = 1; i < n && !rc; i++)
    if (o[i]->begin < o[i - 1]->end)
      rc = dnrt_fail("%s: tensors '%s' and '%s' overlap in the data section", path, o[i - 1]->t.name, o[i]->t.name);
  free(o);
  return rc;
}

/* Walks the header object, filling entries (n of them); __metadata__ is skipped. */
static int st_entries(const char *path, const dnrt_json_doc *d, int64_t dlen, st_entry **out, int *n) {
  if (d->v[0].type != DNRT_JSON_OBJ) return dnrt_fail("%s: bad safetensors header: not a JSON object", path);
  st_entry *e = calloc((size_t)d->v[0].count + 1, sizeof *e);
  if (!e) return dnrt_fail("%s: out of memory", path);
  *out = e;
  *n = 0;
  int metas = 0;
  for (int k = d->v[0].child; k >= 0; k = d->v[k].next) {
    if (d->v[k].keylen == 12 && !memcmp(d->v[k].key, "__metadata__", 12)) {
      if (d->v[k].type != DNRT_JSON_OBJ || metas++)
        return dnrt_fail("%s: bad safetensors header: __metadata__ must be one object", path);
      continue;
    }
    if (st_entry_parse(path, d, k, dlen, &e[*n])) return -1;
    (*n)++;
  }
  return st_check_all(path, e, *n);
}

/* Reads the 8-byte length and the JSON header text. */
static int st_header(FILE *f, const char *path, int64_t fsize, char **text, uint64_t *hlen) {
  unsigned char b[8];
  if (fsize < 8) return dnrt_fail("%s: not a safetensors file (only %lld bytes)", path, (long long)fsize);
  if (dnrt__read_exact(f, b, 8, path, "safetensors header length")) return -1;
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = n << 8 | b[i];
  if (n > ST_HEADER_LIMIT || n > (uint64_t)fsize - 8)
    return dnrt_fail("%s: safetensors header length %llu exceeds the file size %lld (or the %llu-byte limit)",
                     path, (unsigned long long)n, (long long)fsize, (unsigned long long)ST_HEADER_LIMIT);
  *text = malloc(n + 1);
  if (!*text) return dnrt_fail("%s: out of memory", path);
  *hlen = n;
  return dnrt__read_exact(f, *text, n, path, "safetensors header");
}

/* Reads each entry's data from the data section at doff. */
static int st_read_data(FILE *f, const char *path, int64_t doff, st_entry *e, int n) {
  for (int i = 0; i < n; i++) {
    e[i].t.data = malloc(e[i].t.nbytes ? e[i].t.nbytes : 1);
    if (!e[i].t.data) return dnrt_fail("%s: out of memory for tensor '%s'", path, e[i].t.name);
    if (fseeko(f, (off_t)(doff + e[i].begin), SEEK_SET))
      return dnrt_fail("%s: seek failed: %s", path, strerror(errno));
    if (dnrt__read_exact(f, e[i].t.data, e[i].t.nbytes, path, "tensor data")) return -1;
  }
  return 0;
}

int dnrt_safetensors_read(const char *path, dnrt_tensors *out) {
  int64_t fsize = 0;
  char *text = NULL;
  uint64_t hlen = 0;
  st_entry *e = NULL;
  int n = 0, rc = -1;
  dnrt_json_doc doc = {0};
  out->t = NULL;
  out->n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return dnrt_fail("%s: cannot open: %s", path, strerror(errno));
  if (!dnrt__file_size(f, path, &fsize) && !st_header(f, path, fsize, &text, &hlen) &&
      !dnrt_json_parse(path, text, hlen, &doc) &&
      !st_entries(path, &doc, fsize - 8 - (int64_t)hlen, &e, &n) &&
      !st_read_data(f, path, 8 + (int64_t)hlen, e, n))
    rc = 0;
  fclose(f);
  free(text);
  dnrt_json_free(&doc);
  if (rc == 0) {
    out->t = malloc((size_t)(n ? n : 1) * sizeof *out->t);
    if (!out->t) rc = dnrt_fail("%s: out of memory", path);
    for (int i = 0; i < n && out->t; i++) out->t[i] = e[i].t;
    if (out->t) out->n = n;
  }
  if (rc && e)
    for (int i = 0; i < n + 1; i++) dnrt_tensor_free(&e[i].t);  /* n + 1: a half-parsed entry */
  free(e);
  return rc;
}

/* Appends s as a JSON string literal. */
static void st_quote(dnrt_buf *b, const char *s) {
  dnrt__buf_add(b, "\"", 1);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { dnrt__buf_add(b, "\\", 1); dnrt__buf_add(b, s, 1); }
    else if (c < 0x20) dnrt__buf_printf(b, "\\u%04x", c);
    else dnrt__buf_add(b, s, 1);
  }
  dnrt__buf_add(b, "\"", 1);
}

/* Checks the tensors to write: names present and unique, sizes consistent. */
static int st_check_write(const char *path, const dnrt_tensor *ts, int n) {
  for (int i = 0; i < n; i++) {
    int64_t nb = 0;
    if (!ts[i].name || !*ts[i].name) return dnrt_fail("%s: tensor %d has no name", path, i);
    if (!strcmp(ts[i].name, "__metadata__")) return dnrt_fail("%s: '__metadata__' is not a tensor name", path);
    if (dnrt__shape_bytes(ts[i].name, ts[i].dtype, ts[i].rank, ts[i].shape, &nb)) return -1;
    if ((size_t)nb != ts[i].nbytes)
      return dnrt_fail("%s: tensor '%s' holds %zu bytes but its shape needs %lld", path, ts[i].name, ts[i].nbytes, (long long)nb);
    for (int j = 0; j < i; j++)
      if (!strcmp(ts[i].name, ts[j].name)) return dnrt_fail("%s: tensor '%s' appears twice", path, ts[i].name);
  }
  return 0;
}

int dnrt_safetensors_write(const char *path, const dnrt_tensor *ts, int n) {
  if (n < 0 || st_check_write(path, ts, n)) return n < 0 ? dnrt_fail("%s: negative tensor count", path) : -1;
  dnrt_buf h = {0}, all = {0};
  size_t off = 0;
  dnrt__buf_add(&h, "{", 1);
  for (int i = 0; i < n; i++) {
    if (i) dnrt__buf_add(&h, ",", 1);
    st_quote(&h, ts[i].name);
    dnrt__buf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", dnrt__dtype_name(ts[i].dtype));
    for (int d = 0; d < ts[i].rank; d++) dnrt__buf_printf(&h, "%s%lld", d ? "," : "", (long long)ts[i].shape[d]);
    dnrt__buf_printf(&h, "],\"data_offsets\":[%zu,%zu]}", off, off + ts[i].nbytes);
    off += ts[i].nbytes;
  }
  dnrt__buf_add(&h, "}", 1);
  while (h.n % 8) dnrt__buf_add(&h, " ", 1);  /* 8 + header keeps the data 8-byte aligned */
  unsigned char len[8];
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
  dnrt__buf_add(&all, len, 8);
  dnrt__buf_add(&all, h.p, h.n);
  for (int i = 0; i < n; i++) dnrt__buf_add(&all, ts[i].data, ts[i].nbytes);
  int rc = h.oom || all.oom ? dnrt_fail("%s: out of memory", path) : dnrt_write_atomic(path, all.p, all.n);
  free(h.p);
  free(all.p);
  return rc;
}

const dnrt_tensor *dnrt_tensors_find(const dnrt_tensors *ts, const char *name) {
  for (int i = 0; i < ts->n; i++)
    if (ts->t[i].name && !strcmp(ts->t[i].name, name)) return &ts->t[i];
  return NULL;
}

void dnrt_tensors_free(dnrt_tensors *ts) {
  if (!ts) return;
  for (int i = 0; i < ts->n; i++) dnrt_tensor_free(&ts->t[i]);
  free(ts->t);
  ts->t = NULL;
  ts->n = 0;
}
