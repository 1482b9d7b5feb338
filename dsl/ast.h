/* ast.h - the syntax tree of a .dnn program (SPEC 2), built by parser.y.
 *
 * One node type for everything: expressions, types and statements. Each node keeps the
 * location of its representative token so every later error can point at it. Lists
 * (call arguments, statement blocks, def parameters, list literals, index items) are dn_vec
 * of dn_ast*. Constants and bindings are both DN_AST_BIND: the checker decides which is
 * which (a binding whose value is a compile-time number is a constant).
 */
#ifndef DNNCC_AST_H
#define DNNCC_AST_H

#include <stdio.h>

#include "diag.h"

typedef enum dn_ast_kind {
  /* expressions */
  DN_AST_NUM,      /* num, is_int */
  DN_AST_NAME,     /* name */
  DN_AST_BINOP,    /* op one of + - * / @ ^ (a op b) */
  DN_AST_NEG,      /* -a */
  DN_AST_CALL,     /* name(args): positional exprs, then DN_AST_KWARG nodes */
  DN_AST_KWARG,    /* name = a (only inside CALL args) */
  DN_AST_INDEX,    /* a[args]: each item an expression (index) or DN_AST_SLICE */
  DN_AST_SLICE,    /* a:b inside an index; a and/or b may be NULL (x[:3], x[1:], x[:]) */
  DN_AST_LIST,     /* [args] */
  DN_AST_SAME,     /* keyword same */
  DN_AST_VALID,    /* keyword valid */
  DN_AST_BOOL,     /* true/false: num = 1 or 0 */
  /* types */
  DN_AST_TENSOR_TYPE, /* [args]: per-sample dims (expressions) */
  DN_AST_CLASS_TYPE,  /* class(a)[args]: a = number of classes, args = dims (may be empty) */
  /* statements */
  DN_AST_MODEL,    /* model name */
  DN_AST_INPUT,    /* input name : a (a TENSOR_TYPE or CLASS_TYPE) */
  DN_AST_PARAM,    /* param name : a (TENSOR_TYPE) [init = b]  (b: expression, NULL = default) */
  DN_AST_BIND,     /* name = a (constant or binding) */
  DN_AST_OUTPUT,   /* output name [= a]  (a NULL: marks an existing binding) */
  DN_AST_LOSS,     /* loss = a */
  DN_AST_DEF,      /* def name(params) = a   or   def name(params) { body }   (a NULL then) */
  DN_AST_RETURN,   /* return a (last statement of a block def) */
  DN_AST_SCAN,     /* scan name in a { body }: a = sequence expression (NAME, reverse(...), range(...)) */
  DN_AST_STATE,    /* state name : a (TENSOR_TYPE) = b (initial value expression) */
  DN_AST_TRAIN,    /* train { body }: body holds DN_AST_BIND settings */
  DN_AST_PROGRAM,  /* body: top-level statements in source order */
} dn_ast_kind;

typedef struct dn_ast dn_ast;
struct dn_ast {
  dn_ast_kind kind; /* what this node is */
  dn_loc loc;       /* representative token: operator, callee name, statement keyword or name */
  const char *name; /* NAME, CALL callee, KWARG key, statement's declared name */
  dn_loc name_loc;  /* location of `name` for statements (where it is declared) */
  double num;       /* NUM value, BOOL 0/1 */
  int is_int;       /* NUM written without '.', 'e' or 'E' */
  int op;           /* BINOP operator character */
  dn_ast *a, *b;    /* children (see kinds) */
  dn_vec args;      /* CALL args, LIST/TYPE dims, INDEX items */
  dn_vec params;    /* DEF parameter names (DN_AST_NAME nodes) */
  dn_vec body;      /* PROGRAM, DEF, SCAN, TRAIN statements */
};

/* Builders used by the grammar actions (one call per action). */
dn_ast *dn_ast_new(dn_ast_kind kind, dn_loc loc);
dn_ast *dn_ast_num(dn_loc loc, const char *text);            /* parses the literal */
dn_ast *dn_ast_name(dn_loc loc, const char *name);
dn_ast *dn_ast_binop(dn_loc loc, int op, dn_ast *a, dn_ast *b);
dn_ast *dn_ast_unary(dn_ast_kind kind, dn_loc loc, dn_ast *a);
dn_ast *dn_ast_named(dn_ast_kind kind, dn_loc loc, const char *name, dn_ast *a, dn_ast *b);
dn_ast *dn_ast_append(dn_ast *list_owner, dn_ast *item);     /* pushes to args; returns owner */
dn_ast *dn_ast_append_body(dn_ast *owner, dn_ast *stmt);     /* pushes to body (NULL ignored) */

/* Parses a whole file (text registered with diagnostics). Returns the PROGRAM node, or NULL
 * after reporting syntax errors (several in one run, at most one per token, at most 20). */
dn_ast *dn_parse(const char *file, const char *text, size_t len);

/* Reads and parses a file; reports unreadable files as errors. */
dn_ast *dn_parse_file(const char *path);

/* Prints the tree in an indented s-expression form (--dump ast). */
void dn_ast_dump(const dn_ast *node, FILE *out);

const char *dn_ast_kind_name(dn_ast_kind kind);

#endif
