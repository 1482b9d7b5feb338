/* diag.c - diagnostics with source lines and carets, the arena, small helpers. */
#include "diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct source {
  const char *file;   /* path */
  const char *text;   /* contents */
  size_t len;         /* length in bytes */
  struct source *next;
} source;

static source *sources;
static int n_errors;

void dn_source_register(const char *file, const char *text, size_t len) {
  source *s = dn_alloc(sizeof *s);
  s->file = file;
  s->text = text;
  s->len = len;
  s->next = sources;
  sources = s;
}

/* Prints line `line` of `file` and a caret under column `col`, if the text is known. */
static void print_source_line(dn_loc loc) {
  for (source *s = sources; s; s = s->next) {
    if (strcmp(s->file, loc.file) != 0) continue;
    const char *p = s->text, *end = s->text + s->len;
    for (int l = 1; l < loc.line && p < end; p++)
      if (*p == '\n') l++;
    const char *e = p;
    while (e < end && *e != '\n') e++;
    fprintf(stderr, "%5d | %.*s\n      | ", loc.line, (int)(e - p), p);
    for (int c = 1; c < loc.col && p + c - 1 < e; c++) fputc(p[c - 1] == '\t' ? '\t' : ' ', stderr);
    fputs("^\n", stderr);
    return;
  }
}

static void report(dn_loc loc, const char *kind, const char *fmt, va_list ap) {
  if (loc.file)
    fprintf(stderr, "%s:%d:%d: %s: ", loc.file, loc.line, loc.col, kind);
  else
    fprintf(stderr, "dnncc: %s: ", kind);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  if (loc.file && loc.line > 0) print_source_line(loc);
}

void dn_verror(dn_loc loc, const char *fmt, va_list ap) {
  if (n_errors >= DN_MAX_ERRORS) return;
  report(loc, "error", fmt, ap);
  if (++n_errors == DN_MAX_ERRORS) fprintf(stderr, "dnncc: too many errors, stopping\n");
}

void dn_error(dn_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dn_verror(loc, fmt, ap);
  va_end(ap);
}

void dn_warning(dn_loc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(loc, "warning", fmt, ap);
  va_end(ap);
}

void dn_note(dn_loc loc, const char *fmt, ...) {
  if (n_errors >= DN_MAX_ERRORS) return;
  va_list ap;
  va_start(ap, fmt);
  report(loc, "note", fmt, ap);
  va_end(ap);
}

int dn_error_count(void) { return n_errors; }
int dn_error_limit_reached(void) { return n_errors >= DN_MAX_ERRORS; }
void dn_diag_reset(void) { n_errors = 0; sources = NULL; }

void dn_die_at(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "dnncc: internal error at %s:%d: ", file, line);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(3);
}

/* --- arena ------------------------------------------------------------------ */

typedef struct chunk {
  struct chunk *next;
  size_t used, size;
  _Alignas(64) unsigned char data[];
} chunk;

static chunk *chunks;

void *dn_alloc(size_t size) {
  size = (size + 15) & ~(size_t)15;
  if (!chunks || chunks->used + size > chunks->size) {
    size_t cap = size > (1u << 20) ? size : (1u << 20);
    chunk *c = malloc(sizeof(chunk) + cap);
    if (!c) {
      fprintf(stderr, "dnncc: error: out of memory\n");
      exit(1);
    }
    c->next = chunks;
    c->used = 0;
    c->size = cap;
    chunks = c;
  }
  void *p = chunks->data + chunks->used;
  chunks->used += size;
  memset(p, 0, size);
  return p;
}

char *dn_strndup(const char *s, size_t n) {
  char *p = dn_alloc(n + 1);
  memcpy(p, s, n);
  return p;
}

char *dn_strdup(const char *s) { return dn_strndup(s, strlen(s)); }

char *dn_fmt(const char *fmt, ...) {
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  char probe[1];
  int n = vsnprintf(probe, sizeof probe, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  char *p = dn_alloc((size_t)n + 1);
  vsnprintf(p, (size_t)n + 1, fmt, aq);
  va_end(aq);
  return p;
}

void dn_arena_reset(void) {
  while (chunks) {
    chunk *c = chunks;
    chunks = c->next;
    free(c);
  }
  sources = NULL;
}

void dn_vec_push(dn_vec *vec, void *p) {
  if (vec->n == vec->cap) {
    int cap = vec->cap ? vec->cap * 2 : 8;
    void **v = dn_alloc(sizeof(void *) * (size_t)cap);
    if (vec->n) memcpy(v, vec->v, sizeof(void *) * (size_t)vec->n);
    vec->v = v;
    vec->cap = cap;
  }
  vec->v[vec->n++] = p;
}

int dn_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return 1000;
  int d[65][65];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < c) c = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < c) c = d[i][j - 1] + 1;
      d[i][j] = c;
    }
  return d[la][lb];
}

/* --- text buffer ------------------------------------------------------------ */

void dn_buf_append(dn_buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->s, cap);
    if (!p) {
      fprintf(stderr, "dnncc: error: out of memory\n");
      exit(1);
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->n, s, n);
  b->n += n;
  b->s[b->n] = 0;
}

void dn_buf_printf(dn_buf *b, const char *fmt, ...) {
  char small[1024];
  va_list ap, aq;
  va_start(ap, fmt);
  va_copy(aq, ap);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < (int)sizeof small) {
    dn_buf_append(b, small, (size_t)n);
  } else {
    char *big = malloc((size_t)n + 1);
    if (!big) {
      fprintf(stderr, "dnncc: error: out of memory\n");
      exit(1);
    }
    vsnprintf(big, (size_t)n + 1, fmt, aq);
    dn_buf_append(b, big, (size_t)n);
    free(big);
  }
  va_end(aq);
}

void dn_buf_free(dn_buf *b) {
  free(b->s);
  b->s = NULL;
  b->n = b->cap = 0;
}
