/* npy.c - NumPy .npy reader (versions 1.0, 2.0, 3.0) and writer (version 1.0).
 *
 * Layout: "\x93NUMPY", major, minor, a header length (u16 for 1.x, u32 for 2.x/3.x), then
 * a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and a newline, then the raw C-order data. The reader parses the dict
 * strictly (known keys, each once), accepts only little-endian <f4 <f8 <i4 <i8 |u1 <u1,
 * and requires the data to fill the rest of the file exactly.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rt_internal.h"

#define NPY_HEADER_LIMIT (1u << 20)  /* no real header comes near 1 MiB */

/* The header dict parser's state. */
typedef struct npy_parser {
  const char *s;       /* header text */
  size_t n, i;         /* length, position */
  const char *path;    /* for messages */
} npy_parser;

static void np_ws(npy_parser *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

/* Consumes character c (after blanks) or fails. */
static int np_expect(npy_parser *p, char c) {
  np_ws(p);
  if (p->i < p->n && p->s[p->i] == c) { p->i++; return 0; }
  return dnrt_fail("%s: malformed .npy header: expected '%c' at offset %zu", p->path, c, p->i);
}

/* Consumes c if it is next (after blanks); returns whether it did. */
static int np_accept(npy_parser *p, char c) {
  np_ws(p);
  if (p->i < p->n && p->s[p->i] == c) { p->i++; return 1; }
  return 0;
}

/* A quoted string ('...' or "...") without escapes, copied into out. */
static int np_string(npy_parser *p, char *out, size_t cap) {
  np_ws(p);
  if (p->i >= p->n || (p->s[p->i] != '\'' && p->s[p->i] != '"'))
    return dnrt_fail("%s: malformed .npy header: expected a string at offset %zu", p->path, p->i);
  char q = p->s[p->i++];
  size_t k = 0;
  while (p->i < p->n && p->s[p->i] != q) {
    if (k + 1 >= cap || p->s[p->i] == '\\')
      return dnrt_fail("%s: malformed .npy header: unexpected string at offset %zu", p->path, p->i);
    out[k++] = p->s[p->i++];
  }
  if (p->i >= p->n) return dnrt_fail("%s: malformed .npy header: unterminated string", p->path);
  p->i++;
  out[k] = 0;
  return 0;
}

/* A non-negative decimal integer (a shape entry), overflow-checked. */
static int np_int(npy_parser *p, int64_t *out) {
  np_ws(p);
  if (p->i >= p->n || !isdigit((unsigned char)p->s[p->i]))
    return dnrt_fail("%s: malformed .npy header: expected a non-negative integer at offset %zu", p->path, p->i);
  int64_t v = 0;
  while (p->i < p->n && isdigit((unsigned char)p->s[p->i])) {
    int d = p->s[p->i++] - '0';
    if (v > (INT64_MAX - d) / 10) return dnrt_fail("%s: .npy shape entry is too large", p->path);
    v = v * 10 + d;
  }
  if (p->i < p->n && p->s[p->i] == 'L') p->i++;  /* Python 2 long suffix */
  *out = v;
  return 0;
}

/* shape: '(' [int (',' int)* [','] ] ')' */
static int np_shape(npy_parser *p, dnrt_tensor *t) {
  if (np_expect(p, '(')) return -1;
  t->rank = 0;
  while (!np_accept(p, ')')) {
    if (t->rank == DNRT_MAX_RANK)
      return dnrt_fail("%s: .npy rank is more than %d", p->path, DNRT_MAX_RANK);
    if (np_int(p, &t->shape[t->rank++])) return -1;
    if (!np_accept(p, ',')) { if (np_expect(p, ')')) return -1; break; }
  }
  return 0;
}

/* True/False */
static int np_bool(npy_parser *p, int *out) {
  np_ws(p);
  if (p->n - p->i >= 4 && !memcmp(p->s + p->i, "True", 4)) { p->i += 4; *out = 1; return 0; }
  if (p->n - p->i >= 5 && !memcmp(p->s + p->i, "False", 5)) { p->i += 5; *out = 0; return 0; }
  return dnrt_fail("%s: malformed .npy header: expected True or False at offset %zu", p->path, p->i);
}

/* Maps a descr string to a dtype, explaining what is unsupported. */
static int np_descr(const char *path, const char *d, dnrt_dtype *dt) {
  static const struct { const char *s; dnrt_dtype t; } ok[] = {
    {"<f4", DNRT_F32}, {"<f8", DNRT_F64}, {"<i4", DNRT_I32}, {"<i8", DNRT_I64}, {"|u1", DNRT_U8}, {"<u1", DNRT_U8}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!strcmp(d, ok[i].s)) { *dt = ok[i].t; return 0; }
  if (d[0] == '>') return dnrt_fail("%s: big-endian .npy data ('%s') is not supported", path, d);
  return dnrt_fail("%s: unsupported .npy dtype '%s' (supported: <f4 <f8 <i4 <i8 |u1)", path, d);
}

/* One dict entry 'key': value; seen is a bit set of keys already read. */
static int np_entry(npy_parser *p, dnrt_tensor *t, int *seen) {
  char key[32], descr[32];
  int fortran = 0, bit;
  if (np_string(p, key, sizeof key) || np_expect(p, ':')) return -1;
  if (!strcmp(key, "descr")) bit = 1;
  else if (!strcmp(key, "fortran_order")) bit = 2;
  else if (!strcmp(key, "shape")) bit = 4;
  else return dnrt_fail("%s: unexpected key '%s' in the .npy header", p->path, key);
  if (*seen & bit) return dnrt_fail("%s: key '%s' appears twice in the .npy header", p->path, key);
  *seen |= bit;
  if (bit == 1) return np_string(p, descr, sizeof descr) || np_descr(p->path, descr, &t->dtype) ? -1 : 0;
  if (bit == 4) return np_shape(p, t);
  if (np_bool(p, &fortran)) return -1;
  if (fortran) return dnrt_fail("%s: Fortran-order .npy arrays are not supported (fortran_order is True)", p->path);
  return 0;
}

/* The whole header dict. */
static int np_dict(npy_parser *p, dnrt_tensor *t) {
  int seen = 0;
  if (np_expect(p, '{')) return -1;
  while (!np_accept(p, '}')) {
    if (np_entry(p, t, &seen)) return -1;
    if (!np_accept(p, ',')) { if (np_expect(p, '}')) return -1; break; }
  }
  np_ws(p);
  if (p->i != p->n) return dnrt_fail("%s: malformed .npy header: junk after the dict", p->path);
  if (seen != 7) return dnrt_fail("%s: .npy header lacks '%s'", p->path,
                                  !(seen & 1) ? "descr" : !(seen & 2) ? "fortran_order" : "shape");
  return 0;
}

/* Reads the preamble; sets the header length and the offset of the header text. */
static int np_preamble(FILE *f, const char *path, int64_t fsize, size_t *hlen, size_t *hoff) {
  unsigned char pre[12];
  if (fsize < 10) return dnrt_fail("%s: not a .npy file (only %lld bytes)", path, (long long)fsize);
  if (dnrt__read_exact(f, pre, 10, path, ".npy preamble")) return -1;
  if (memcmp(pre, "\x93NUMPY", 6)) return dnrt_fail("%s: not a .npy file (bad magic)", path);
  if (pre[6] == 1) {
    *hlen = pre[8] | (size_t)pre[9] << 8;
    *hoff = 10;
  } else if (pre[6] == 2 || pre[6] == 3) {
    if (dnrt__read_exact(f, pre + 10, 2, path, ".npy preamble")) return -1;
    *hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    *hoff = 12;
  } else {
    return dnrt_fail("%s: unsupported .npy version %d.%d", path, pre[6], pre[7]);
  }
  if (*hlen > NPY_HEADER_LIMIT || (int64_t)(*hoff + *hlen) > fsize)
    return dnrt_fail("%s: .npy header length %zu exceeds the file size %lld", path, *hlen, (long long)fsize);
  return 0;
}

/* Reads and parses the header; on success the file is positioned at the data. */
static int np_header(FILE *f, const char *path, int64_t fsize, dnrt_tensor *t, int64_t *doff) {
  size_t hlen = 0, hoff = 0;
  if (np_preamble(f, path, fsize, &hlen, &hoff)) return -1;
  char *h = malloc(hlen + 1);
  if (!h) return dnrt_fail("%s: out of memory", path);
  int rc = dnrt__read_exact(f, h, hlen, path, ".npy header");
  if (!rc) {
    npy_parser p = {h, hlen, 0, path};
    rc = np_dict(&p, t);
  }
  free(h);
  *doff = (int64_t)(hoff + hlen);
  return rc;
}

int dnrt_npy_read(const char *path, dnrt_tensor *out) {
  dnrt_tensor t = {0};
  int64_t fsize = 0, doff = 0, nbytes = 0;
  char s[256];
  memset(out, 0, sizeof *out);
  FILE *f = fopen(path, "rb");
  if (!f) return dnrt_fail("%s: cannot open: %s", path, strerror(errno));
  if (dnrt__file_size(f, path, &fsize) || np_header(f, path, fsize, &t, &doff) ||
      dnrt__shape_bytes(path, t.dtype, t.rank, t.shape, &nbytes))
    goto fail;
  if (nbytes != fsize - doff) {
    dnrt_fail("%s: the header's shape %s of %s needs %lld data bytes, the file has %lld%s", path,
              dnrt__shape_str(t.rank, t.shape, s, sizeof s), dnrt__dtype_name(t.dtype),
              (long long)nbytes, (long long)(fsize - doff),
              nbytes > fsize - doff ? " (truncated)" : " (trailing bytes)");
    goto fail;
  }
  t.data = malloc(nbytes ? (size_t)nbytes : 1);
  if (!t.data) { dnrt_fail("%s: out of memory (%lld bytes)", path, (long long)nbytes); goto fail; }
  t.nbytes = (size_t)nbytes;
  if (dnrt__read_exact(f, t.data, t.nbytes, path, ".npy data")) goto fail;
  fclose(f);
  *out = t;
  return 0;
fail:
  fclose(f);
  dnrt_tensor_free(&t);
  return -1;
}

/* The descr spelling of a dtype. */
static const char *np_descr_name(dnrt_dtype d) {
  switch (d) {
  case DNRT_F32: return "<f4";
  case DNRT_F64: return "<f8";
  case DNRT_I32: return "<i4";
  case DNRT_I64: return "<i8";
  case DNRT_U8: return "|u1";
  }
  return "?";
}

int dnrt_npy_write(const char *path, const dnrt_tensor *t) {
  int64_t nbytes = 0;
  if (dnrt__shape_bytes(path, t->dtype, t->rank, t->shape, &nbytes)) return -1;
  if ((size_t)nbytes != t->nbytes)
    return dnrt_fail("%s: tensor holds %zu bytes but its shape needs %lld", path, t->nbytes, (long long)nbytes);
  dnrt_buf b = {0};
  dnrt__buf_printf(&b, "{'descr': '%s', 'fortran_order': False, 'shape': (", np_descr_name(t->dtype));
  for (int i = 0; i < t->rank; i++)  /* NumPy's spelling: (5,) and (2, 3) */
    dnrt__buf_printf(&b, "%lld%s", (long long)t->shape[i], t->rank == 1 ? "," : i + 1 < t->rank ? ", " : "");
  dnrt__buf_printf(&b, "), }");
  while ((10 + b.n + 1) % 64) dnrt__buf_add(&b, " ", 1);
  dnrt__buf_add(&b, "\n", 1);
  size_t hlen = b.n;
  char pre[10] = {'\x93', 'N', 'U', 'M', 'P', 'Y', 1, 0, (char)(hlen & 0xff), (char)(hlen >> 8)};
  dnrt_buf all = {0};
  dnrt__buf_add(&all, pre, 10);
  dnrt__buf_add(&all, b.p, b.n);
  dnrt__buf_add(&all, t->data, t->nbytes);
  int rc = all.oom || b.oom ? dnrt_fail("%s: out of memory", path) : dnrt_write_atomic(path, all.p, all.n);
  free(b.p);
  free(all.p);
  return rc;
}
