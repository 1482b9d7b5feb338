/* json.c - a strict recursive-descent JSON parser (see json.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rt_internal.h"

#define JSON_MAX_DEPTH 64
#define JSON_MAX_NODES (1 << 20)  /* ~80 MiB of nodes at most; a header needs ~8 per tensor */

/* Parser state. */
typedef struct jp {
  const char *s;       /* input */
  size_t n, i;         /* length, position */
  const char *what;    /* message prefix */
  dnrt_json_doc *d;    /* output */
} jp;

static int jfail(jp *p, const char *msg) {
  return dnrt_fail("%s: bad JSON header: %s at offset %zu", p->what, msg, p->i);
}

static void jws(jp *p) {
  while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r')) p->i++;
}

/* Appends a zeroed node; returns its index or -1. */
static int jnode(jp *p, dnrt_json_type t) {
  dnrt_json_doc *d = p->d;
  if (d->n >= JSON_MAX_NODES) return jfail(p, "too many values");
  if (d->n == d->cap) {
    int c = d->cap ? d->cap * 2 : 64;
    dnrt_json *v = realloc(d->v, (size_t)c * sizeof *v);
    if (!v) return jfail(p, "out of memory");
    d->v = v;
    d->cap = c;
  }
  dnrt_json *j = &d->v[d->n];
  memset(j, 0, sizeof *j);
  j->type = t;
  j->child = j->next = -1;
  return d->n++;
}

/* Four hex digits. */
static int jhex4(jp *p, unsigned *out) {
  unsigned v = 0;
  if (p->n - p->i < 4) return jfail(p, "truncated \\u escape");
  for (int k = 0; k < 4; k++) {
    char c = p->s[p->i++];
    int h = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (h < 0) return jfail(p, "bad hex digit in \\u escape");
    v = v * 16 + (unsigned)h;
  }
  *out = v;
  return 0;
}

/* Writes code point cp as UTF-8 into the pool. */
static void jutf8(jp *p, unsigned cp) {
  char *o = p->d->pool + p->d->pn;
  if (cp < 0x80) { o[0] = (char)cp; p->d->pn += 1; }
  else if (cp < 0x800) { o[0] = (char)(0xC0 | cp >> 6); o[1] = (char)(0x80 | (cp & 63)); p->d->pn += 2; }
  else if (cp < 0x10000) { o[0] = (char)(0xE0 | cp >> 12); o[1] = (char)(0x80 | (cp >> 6 & 63)); o[2] = (char)(0x80 | (cp & 63)); p->d->pn += 3; }
  else { o[0] = (char)(0xF0 | cp >> 18); o[1] = (char)(0x80 | (cp >> 12 & 63)); o[2] = (char)(0x80 | (cp >> 6 & 63)); o[3] = (char)(0x80 | (cp & 63)); p->d->pn += 4; }
}

/* \uXXXX (the backslash and u already consumed), with surrogate pairs. */
static int jescape_u(jp *p) {
  unsigned cp, lo;
  if (jhex4(p, &cp)) return -1;
  if (cp >= 0xDC00 && cp <= 0xDFFF) return jfail(p, "lone low surrogate");
  if (cp >= 0xD800 && cp <= 0xDBFF) {
    if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') return jfail(p, "lone high surrogate");
    p->i += 2;
    if (jhex4(p, &lo)) return -1;
    if (lo < 0xDC00 || lo > 0xDFFF) return jfail(p, "bad surrogate pair");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
  }
  jutf8(p, cp);
  return 0;
}

/* One escape after a backslash. */
static int jescape(jp *p) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  if (p->i >= p->n) return jfail(p, "unterminated string");
  char c = p->s[p->i++];
  if (c == 'u') return jescape_u(p);
  const char *k = strchr(from, c);
  if (!k || !c) return jfail(p, "bad escape in string");
  p->d->pool[p->d->pn++] = to[k - from];
  return 0;
}

/* A string; sets str and len to its decoded bytes in the pool. */
static int jstring(jp *p, const char **str, size_t *len) {
  size_t start = p->d->pn;
  p->i++;  /* opening quote */
  for (;;) {
    if (p->i >= p->n) return jfail(p, "unterminated string");
    unsigned char c = (unsigned char)p->s[p->i];
    if (c == '"') break;
    if (c < 0x20) return jfail(p, "control character in string");
    p->i++;
    if (c == '\\') { if (jescape(p)) return -1; }
    else p->d->pool[p->d->pn++] = (char)c;
  }
  p->i++;
  *str = p->d->pool + start;
  *len = p->d->pn - start;
  p->d->pool[p->d->pn++] = 0;  /* keep C strings terminated */
  return 0;
}

/* Consumes a run of digits; returns how many. */
static size_t jdigits(jp *p) {
  size_t k = 0;
  while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') { p->i++; k++; }
  return k;
}

/* A number: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int jnumber(jp *p, dnrt_json *j) {
  size_t st = p->i;
  int integral = 1;
  if (p->s[p->i] == '-') p->i++;
  if (p->i < p->n && p->s[p->i] == '0') p->i++;
  else if (!jdigits(p)) return jfail(p, "bad number");
  if (p->i < p->n && p->s[p->i] == '.') { p->i++; integral = 0; if (!jdigits(p)) return jfail(p, "bad number"); }
  if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
    p->i++;
    integral = 0;
    if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-')) p->i++;
    if (!jdigits(p)) return jfail(p, "bad number");
  }
  char buf[64];
  size_t len = p->i - st;
  if (len >= sizeof buf) { integral = 0; len = sizeof buf - 1; }  /* too long for int64 anyway */
  memcpy(buf, p->s + st, len);
  buf[len] = 0;
  j->num = strtod(buf, NULL);
  if (integral) {
    errno = 0;
    long long v = strtoll(buf, NULL, 10);
    if (errno == 0) { j->is_int = 1; j->ival = v; }
  }
  return 0;
}

static int jvalue(jp *p, int depth);

/* Links node k as the next child of parent, after *last. */
static void jlink(jp *p, int parent, int *last, int k) {
  if (*last < 0) p->d->v[parent].child = k;
  else p->d->v[*last].next = k;
  *last = k;
  p->d->v[parent].count++;
}

/* '[' (value (',' value)*)? ']' */
static int jarray(jp *p, int me, int depth) {
  int last = -1;
  p->i++;
  jws(p);
  if (p->i < p->n && p->s[p->i] == ']') { p->i++; return 0; }
  for (;;) {
    int k = jvalue(p, depth + 1);
    if (k < 0) return -1;
    jlink(p, me, &last, k);
    jws(p);
    if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
    if (p->i < p->n && p->s[p->i] == ']') { p->i++; return 0; }
    return jfail(p, "expected ',' or ']'");
  }
}

/* '{' (string ':' value (',' string ':' value)*)? '}' */
static int jobject(jp *p, int me, int depth) {
  int last = -1;
  p->i++;
  jws(p);
  if (p->i < p->n && p->s[p->i] == '}') { p->i++; return 0; }
  for (;;) {
    const char *key;
    size_t klen;
    jws(p);
    if (p->i >= p->n || p->s[p->i] != '"') return jfail(p, "expected a member name");
    if (jstring(p, &key, &klen)) return -1;
    jws(p);
    if (p->i >= p->n || p->s[p->i] != ':') return jfail(p, "expected ':'");
    p->i++;
    int k = jvalue(p, depth + 1);
    if (k < 0) return -1;
    p->d->v[k].key = key;
    p->d->v[k].keylen = klen;
    jlink(p, me, &last, k);
    jws(p);
    if (p->i < p->n && p->s[p->i] == ',') { p->i++; continue; }
    if (p->i < p->n && p->s[p->i] == '}') { p->i++; return 0; }
    return jfail(p, "expected ',' or '}'");
  }
}

/* Matches a literal word. */
static int jword(jp *p, const char *w) {
  size_t k = strlen(w);
  if (p->n - p->i < k || memcmp(p->s + p->i, w, k)) return jfail(p, "unexpected character");
  p->i += k;
  return 0;
}

/* Any value; returns its node index or -1. */
static int jvalue(jp *p, int depth) {
  if (depth > JSON_MAX_DEPTH) return jfail(p, "nested too deeply");
  jws(p);
  if (p->i >= p->n) return jfail(p, "unexpected end");
  char c = p->s[p->i];
  dnrt_json_type t = c == '{' ? DNRT_JSON_OBJ : c == '[' ? DNRT_JSON_ARR : c == '"' ? DNRT_JSON_STR
                   : c == 't' || c == 'f' ? DNRT_JSON_BOOL : c == 'n' ? DNRT_JSON_NULL : DNRT_JSON_NUM;
  int k = jnode(p, t), rc = 0;
  if (k < 0) return -1;
  switch (t) {
  case DNRT_JSON_OBJ: rc = jobject(p, k, depth); break;
  case DNRT_JSON_ARR: rc = jarray(p, k, depth); break;
  case DNRT_JSON_STR: rc = jstring(p, &p->d->v[k].str, &p->d->v[k].len); break;
  case DNRT_JSON_NULL: rc = jword(p, "null"); break;
  case DNRT_JSON_BOOL: rc = jword(p, c == 't' ? "true" : "false"); p->d->v[k].num = c == 't'; break;
  case DNRT_JSON_NUM:
    if (c != '-' && (c < '0' || c > '9')) return jfail(p, "unexpected character");
    rc = jnumber(p, &p->d->v[k]);
    break;
  }
  return rc ? -1 : k;
}

int dnrt_json_parse(const char *what, const char *text, size_t len, dnrt_json_doc *doc) {
  memset(doc, 0, sizeof *doc);
  doc->pool = malloc(len + 1);
  if (!doc->pool) return dnrt_fail("%s: out of memory", what);
  jp p = {text, len, 0, what, doc};
  if (jvalue(&p, 0) < 0) { dnrt_json_free(doc); return -1; }
  jws(&p);
  if (p.i != p.n) { jfail(&p, "junk after the value"); dnrt_json_free(doc); return -1; }
  return 0;
}

void dnrt_json_free(dnrt_json_doc *doc) {
  free(doc->v);
  free(doc->pool);
  memset(doc, 0, sizeof *doc);
}

int dnrt_json_get(const dnrt_json_doc *doc, int o, const char *key) {
  size_t kl = strlen(key);
  for (int k = doc->v[o].child; k >= 0; k = doc->v[k].next)
    if (doc->v[k].keylen == kl && !memcmp(doc->v[k].key, key, kl)) return k;
  return -1;
}
