/* diag.h - source locations, diagnostics and the compilation arena.
 *
 * User errors are diagnostics: `file:line:col: error: message`, the source line and a caret,
 * as GCC and Clang print them (dn_error). Broken invariants inside dnncc are internal errors
 * (dn_die) that name the dnncc source file and line. Memory for one compilation comes from
 * one arena (dn_alloc) and is released at once (dn_arena_reset).
 */
#ifndef DNNCC_DIAG_H
#define DNNCC_DIAG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

typedef struct dn_loc {
  const char *file; /* path as given on the command line; NULL = no location */
  int line;         /* 1-based line */
  int col;          /* 1-based column (bytes) */
} dn_loc;

/* Registers the text of a source file so diagnostics can quote its lines. */
void dn_source_register(const char *file, const char *text, size_t len);

/* Diagnostics. dn_error counts errors; after DN_MAX_ERRORS it prints a note and the
 * compilation is expected to stop (dn_error_limit_reached). */
#define DN_MAX_ERRORS 20
void dn_error(dn_loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dn_verror(dn_loc loc, const char *fmt, va_list ap);
void dn_warning(dn_loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dn_note(dn_loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int dn_error_count(void);
int dn_error_limit_reached(void);
void dn_diag_reset(void);

/* Internal error: a bug in dnncc, never a user's fault. Prints and exits with status 3. */
_Noreturn void dn_die_at(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define dn_die(...) dn_die_at(__FILE__, __LINE__, __VA_ARGS__)

/* Arena: all compiler memory; never returns NULL (out of memory is fatal, status 1). */
void *dn_alloc(size_t size);            /* zeroed */
char *dn_strdup(const char *s);
char *dn_strndup(const char *s, size_t n);
char *dn_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  /* arena sprintf */
void dn_arena_reset(void);

/* Growable array of pointers, arena-backed. */
typedef struct dn_vec {
  void **v;  /* elements */
  int n;     /* count */
  int cap;   /* capacity */
} dn_vec;
void dn_vec_push(dn_vec *vec, void *p);

/* Edit distance for "did you mean" suggestions. */
int dn_edit_distance(const char *a, const char *b);

/* Growable text buffer on the C heap (generated code can be large). */
typedef struct dn_buf {
  char *s;      /* NUL-terminated contents (NULL while empty) */
  size_t n;     /* length */
  size_t cap;   /* capacity */
} dn_buf;
void dn_buf_printf(dn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void dn_buf_append(dn_buf *b, const char *s, size_t n);
void dn_buf_free(dn_buf *b);
#endif
