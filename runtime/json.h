/* json.h - a small strict JSON parser for safetensors headers (internal to the runtime).
 *
 * RFC 8259 grammar: objects, arrays, strings with all escapes (\uXXXX incl. surrogate
 * pairs, decoded to UTF-8), numbers, true/false/null. Nodes live in one array and link by
 * index; strings are decoded into one pool no larger than the input. Depth and node count
 * are bounded so hostile input cannot exhaust the stack or memory.
 */
#ifndef DNRT_JSON_H
#define DNRT_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef enum dnrt_json_type {
  DNRT_JSON_NULL,    /* null */
  DNRT_JSON_BOOL,    /* true / false */
  DNRT_JSON_NUM,     /* number */
  DNRT_JSON_STR,     /* string */
  DNRT_JSON_ARR,     /* array */
  DNRT_JSON_OBJ      /* object */
} dnrt_json_type;

typedef struct dnrt_json {
  dnrt_json_type type;  /* kind */
  int child;            /* first element/member, -1 if none */
  int next;             /* next sibling, -1 at the end */
  int count;            /* elements/members */
  const char *key;      /* member name (in the pool), NULL for array elements and the root */
  size_t keylen;        /* bytes of key (may hold \u0000) */
  const char *str;      /* string value (in the pool) */
  size_t len;           /* bytes of str */
  double num;           /* numeric value; bool: 0 or 1 */
  int is_int;           /* the number is an integer that fits int64 */
  int64_t ival;         /* its value */
} dnrt_json;

typedef struct dnrt_json_doc {
  dnrt_json *v;   /* nodes; v[0] is the root */
  int n, cap;     /* used, allocated */
  char *pool;     /* decoded strings */
  size_t pn;      /* pool bytes used */
} dnrt_json_doc;

/* Parses text[0..len); -1 with a message (prefixed by what) on any error. */
int dnrt_json_parse(const char *what, const char *text, size_t len, dnrt_json_doc *doc);
void dnrt_json_free(dnrt_json_doc *doc);
/* The member named key of object node o, or -1. */
int dnrt_json_get(const dnrt_json_doc *doc, int o, const char *key);

#endif
