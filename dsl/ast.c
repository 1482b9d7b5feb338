/* ast.c - syntax tree builders, the structural checks after parsing, and the tree dump.
 *
 * Builders are what grammar actions call (one call per action); they allocate from the
 * compilation arena and never fail. dn_ast_validate runs once the whole program is parsed:
 * it bounds the tree height (later passes recurse over the tree), checks which statements
 * each block may hold and that keyword arguments come last. dn_ast_dump prints the
 * `--dump ast` form: statements one per line, expressions as one-line s-expressions.
 */
#include "parse_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* --- builders --------------------------------------------------------------- */

dn_ast *dn_ast_new(dn_ast_kind kind, dn_loc loc) {
  dn_ast *n = dn_alloc(sizeof *n);
  n->kind = kind;
  n->loc = loc;
  n->name_loc = loc;
  return n;
}

/* Whether a literal is written as an integer (no '.', no exponent). */
static int literal_is_int(const char *text) { return strpbrk(text, ".eE") == NULL; }

dn_ast *dn_ast_num(dn_loc loc, const char *text) {
  dn_ast *n = dn_ast_new(DN_AST_NUM, loc);
  n->is_int = literal_is_int(text);
  errno = 0;
  n->num = strtod(text, NULL);
  if (n->is_int && n->num > 9007199254740992.0) {
    dn_error(loc, "integer literal '%s' is too large (at most 2^53 = 9007199254740992)", text);
    n->num = 0;
  } else if (!n->is_int && (isinf(n->num) || n->num > FLT_MAX)) {
    dn_error(loc, "number '%s' is out of range for float32 (at most %g)", text, (double)FLT_MAX);
    n->num = 0;
  }
  return n;
}

dn_ast *dn_ast_name(dn_loc loc, const char *name) {
  dn_ast *n = dn_ast_new(DN_AST_NAME, loc);
  n->name = name;
  return n;
}

dn_ast *dn_ast_binop(dn_loc loc, int op, dn_ast *a, dn_ast *b) {
  dn_ast *n = dn_ast_new(DN_AST_BINOP, loc);
  n->op = op;
  n->a = a;
  n->b = b;
  return n;
}

dn_ast *dn_ast_unary(dn_ast_kind kind, dn_loc loc, dn_ast *a) {
  dn_ast *n = dn_ast_new(kind, loc);
  n->a = a;
  return n;
}

dn_ast *dn_ast_named(dn_ast_kind kind, dn_loc loc, const char *name, dn_ast *a, dn_ast *b) {
  return dn_ast_decl(kind, loc, loc, name, a, b);
}

dn_ast *dn_ast_decl(dn_ast_kind kind, dn_loc loc, dn_loc name_loc, const char *name, dn_ast *a, dn_ast *b) {
  dn_ast *n = dn_ast_new(kind, loc);
  n->name = name;
  n->name_loc = name_loc;
  n->a = a;
  n->b = b;
  return n;
}

dn_ast *dn_ast_append(dn_ast *list_owner, dn_ast *item) {
  dn_vec_push(&list_owner->args, item);
  return list_owner;
}

dn_ast *dn_ast_append_body(dn_ast *owner, dn_ast *stmt) {
  if (stmt) dn_vec_push(&owner->body, stmt);
  return owner;
}

dn_ast *dn_ast_retag(dn_ast *list, dn_ast_kind kind, dn_loc loc) {
  list->kind = kind;
  list->loc = list->name_loc = loc;
  return list;
}

dn_ast *dn_ast_call(dn_loc loc, const char *name, dn_ast *args) {
  dn_ast *n = dn_ast_named(DN_AST_CALL, loc, name, NULL, NULL);
  n->args = args->args;
  return n;
}

dn_ast *dn_ast_index(dn_loc loc, dn_ast *base, dn_ast *items) {
  dn_ast *n = dn_ast_unary(DN_AST_INDEX, loc, base);
  n->args = items->args;
  return n;
}

dn_ast *dn_ast_slice(dn_loc loc, dn_ast *lo, dn_ast *hi) {
  dn_ast *n = dn_ast_new(DN_AST_SLICE, loc);
  n->a = lo;
  n->b = hi;
  return n;
}

dn_ast *dn_ast_class_type(dn_loc loc, dn_ast *k, dn_ast *dims) {
  dn_ast *n = dn_ast_unary(DN_AST_CLASS_TYPE, loc, k);
  if (dims) n->args = dims->args;
  return n;
}

dn_ast *dn_ast_with_params(dn_ast *def, dn_ast *params) {
  def->params = params->args;
  return def;
}

dn_ast *dn_ast_with_body(dn_ast *owner, dn_ast *block) {
  owner->body = block->body;
  return owner;
}

dn_ast *dn_ast_bool(dn_loc loc, int value) {
  dn_ast *n = dn_ast_new(DN_AST_BOOL, loc);
  n->num = value ? 1 : 0;
  n->is_int = 1;
  return n;
}

/* --- kind names --------------------------------------------------------------- */

const char *dn_ast_kind_name(dn_ast_kind kind) {
  switch (kind) {
  case DN_AST_NUM: return "num";
  case DN_AST_NAME: return "name";
  case DN_AST_BINOP: return "binop";
  case DN_AST_NEG: return "neg";
  case DN_AST_CALL: return "call";
  case DN_AST_KWARG: return "kw";
  case DN_AST_INDEX: return "index";
  case DN_AST_SLICE: return "slice";
  case DN_AST_LIST: return "list";
  case DN_AST_SAME: return "same";
  case DN_AST_VALID: return "valid";
  case DN_AST_BOOL: return "bool";
  case DN_AST_TENSOR_TYPE: return "tensor";
  case DN_AST_CLASS_TYPE: return "class";
  case DN_AST_MODEL: return "model";
  case DN_AST_INPUT: return "input";
  case DN_AST_PARAM: return "param";
  case DN_AST_BIND: return "bind";
  case DN_AST_OUTPUT: return "output";
  case DN_AST_LOSS: return "loss";
  case DN_AST_DEF: return "def";
  case DN_AST_RETURN: return "return";
  case DN_AST_SCAN: return "scan";
  case DN_AST_STATE: return "state";
  case DN_AST_TRAIN: return "train";
  case DN_AST_PROGRAM: return "program";
  }
  return "?";
}

/* --- structural checks -------------------------------------------------------- */

typedef struct height_item {
  const dn_ast *node; /* node to visit */
  int depth;          /* its depth (root = 1) */
} height_item;

/* Pushes the children of `n` (a, b, args, params, body) at depth `d` on `stack`. */
static void push_children(const dn_ast *n, int d, height_item **stack, size_t *sp, size_t *cap) {
  const dn_ast *kids[2] = {n->a, n->b};
  const dn_vec *vecs[3] = {&n->args, &n->params, &n->body};
  size_t need = *sp + 2 + (size_t)n->args.n + (size_t)n->params.n + (size_t)n->body.n;
  if (need > *cap) {
    size_t cap2 = need * 2;
    height_item *s = realloc(*stack, cap2 * sizeof *s);
    if (!s) dn_die("out of memory in the tree height check");
    *stack = s;
    *cap = cap2;
  }
  for (int i = 0; i < 2; i++)
    if (kids[i]) (*stack)[(*sp)++] = (height_item){kids[i], d};
  for (int v = 0; v < 3; v++)
    for (int i = 0; i < vecs[v]->n; i++)
      if (vecs[v]->v[i]) (*stack)[(*sp)++] = (height_item){vecs[v]->v[i], d};
}

/* Reports the first node deeper than DN_AST_MAX_HEIGHT, without recursing (the tree may be
 * a million levels deep: a + a + a + ...). Returns 1 if one was found. */
static int check_height(const dn_ast *root) {
  size_t sp = 0, cap = 0;
  height_item *stack = NULL;
  push_children(root, 1, &stack, &sp, &cap);
  int bad = 0;
  while (sp > 0 && !bad) {
    height_item it = stack[--sp];
    if (it.depth > DN_AST_MAX_HEIGHT) {
      dn_error(it.node->loc, "expression too deeply nested (more than %d levels); split it into several bindings",
               DN_AST_MAX_HEIGHT);
      bad = 1;
    } else {
      push_children(it.node, it.depth + 1, &stack, &sp, &cap);
    }
  }
  free(stack);
  return bad;
}

/* Which block a statement sits in. */
typedef enum block_kind { BLOCK_TOP, BLOCK_DEF, BLOCK_SCAN, BLOCK_TRAIN } block_kind;

static void validate_node(const dn_ast *n);

/* Checks the argument order of a call: positional ones, then distinct keywords. */
static void validate_call(const dn_ast *n) {
  const dn_ast *first_kw = NULL;
  for (int i = 0; i < n->args.n; i++) {
    const dn_ast *a = n->args.v[i];
    if (a->kind != DN_AST_KWARG && first_kw) {
      dn_error(a->loc, "positional argument after keyword argument '%s' in call to '%s'", first_kw->name, n->name);
      dn_note(first_kw->loc, "keyword argument '%s' is here", first_kw->name);
    }
    if (a->kind == DN_AST_KWARG && !first_kw) first_kw = a;
    for (int j = 0; j < i && a->kind == DN_AST_KWARG; j++) {
      const dn_ast *b = n->args.v[j];
      if (b->kind == DN_AST_KWARG && strcmp(a->name, b->name) == 0) {
        dn_error(a->loc, "keyword argument '%s' given twice in call to '%s'", a->name, n->name);
        break;
      }
    }
  }
}

/* Whether statement kind `k` may appear in block kind `b`. */
static int allowed_in(dn_ast_kind k, block_kind b) {
  switch (b) {
  case BLOCK_TOP: return k != DN_AST_STATE && k != DN_AST_RETURN;
  case BLOCK_DEF: return k == DN_AST_BIND || k == DN_AST_PARAM || k == DN_AST_SCAN || k == DN_AST_RETURN;
  case BLOCK_SCAN: return k == DN_AST_BIND || k == DN_AST_PARAM || k == DN_AST_SCAN || k == DN_AST_STATE;
  case BLOCK_TRAIN: return k == DN_AST_BIND;
  }
  return 0;
}

/* The message for a statement that its block does not allow. */
static void report_misplaced(const dn_ast *s, block_kind b) {
  static const char *const where[] = {"at the top level", "inside a def body", "inside a scan block",
                                      "inside a train block"};
  if (s->kind == DN_AST_STATE)
    dn_error(s->loc, "'state' is only allowed inside a scan block");
  else if (s->kind == DN_AST_RETURN)
    dn_error(s->loc, "'return' is only allowed at the end of a def body");
  else if (b == BLOCK_TRAIN)
    dn_error(s->loc, "a train block holds only settings 'KEY = VALUE'");
  else
    dn_error(s->loc, "'%s' is not allowed %s", dn_ast_kind_name(s->kind), where[b]);
}

/* Checks the statements of one block; a def body must end with its only `return`. */
static void validate_block(const dn_ast *owner, const dn_vec *body, block_kind b) {
  for (int i = 0; i < body->n; i++) {
    const dn_ast *s = body->v[i];
    if (!allowed_in(s->kind, b))
      report_misplaced(s, b);
    else if (s->kind == DN_AST_RETURN && i != body->n - 1)
      dn_error(s->loc, "'return' must be the last statement of a def body");
    validate_node(s);
  }
  int ends_with_return = body->n > 0 && ((const dn_ast *)body->v[body->n - 1])->kind == DN_AST_RETURN;
  if (b == BLOCK_DEF && !ends_with_return)
    dn_error(owner->loc, "def '%s' has a block body without 'return' at its end", owner->name);
}

/* Checks one node and everything below it (recursion depth is bounded by check_height). */
static void validate_node(const dn_ast *n) {
  if (!n || dn_error_limit_reached()) return;
  if (n->kind == DN_AST_CALL) validate_call(n);
  if (n->kind == DN_AST_DEF && !n->a) validate_block(n, &n->body, BLOCK_DEF);
  if (n->kind == DN_AST_SCAN) validate_block(n, &n->body, BLOCK_SCAN);
  if (n->kind == DN_AST_TRAIN) validate_block(n, &n->body, BLOCK_TRAIN);
  validate_node(n->a);
  validate_node(n->b);
  for (int i = 0; i < n->args.n; i++) validate_node(n->args.v[i]);
}

int dn_ast_validate(dn_ast *program) {
  int before = dn_error_count();
  if (check_height(program)) return dn_error_count() - before;
  validate_block(program, &program->body, BLOCK_TOP);
  return dn_error_count() - before;
}

/* --- dump ------------------------------------------------------------------------ */

/* Prints a number so that it reads back to the same double; floats keep a '.' or 'e'. */
static void dump_num(const dn_ast *n, FILE *out) {
  char buf[64];
  if (n->is_int) {
    fprintf(out, "%.0f", n->num);
    return;
  }
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, n->num);
    if (strtod(buf, NULL) == n->num) break;
  }
  fputs(buf, out);
  if (!n->is_int && !strpbrk(buf, ".eEn")) fputs(".0", out);
}

static void dump_expr(const dn_ast *n, FILE *out);

/* Prints " item item ..." for a vector of expressions. */
static void dump_vec(const dn_vec *v, FILE *out) {
  for (int i = 0; i < v->n; i++) {
    fputc(' ', out);
    dump_expr(v->v[i], out);
  }
}

/* Prints an expression or type on one line. */
static void dump_expr(const dn_ast *n, FILE *out) {
  if (!n) {
    fputs("_", out);
    return;
  }
  switch (n->kind) {
  case DN_AST_NUM: dump_num(n, out); return;
  case DN_AST_NAME: fputs(n->name, out); return;
  case DN_AST_SAME: fputs("same", out); return;
  case DN_AST_VALID: fputs("valid", out); return;
  case DN_AST_BOOL: fputs(n->num != 0 ? "true" : "false", out); return;
  case DN_AST_BINOP: fprintf(out, "(%c ", n->op); dump_expr(n->a, out); fputc(' ', out); dump_expr(n->b, out); break;
  case DN_AST_NEG: fputs("(neg ", out); dump_expr(n->a, out); break;
  case DN_AST_CALL: fprintf(out, "(call %s", n->name); dump_vec(&n->args, out); break;
  case DN_AST_KWARG: fprintf(out, "(kw %s ", n->name); dump_expr(n->a, out); break;
  case DN_AST_INDEX: fputs("(index ", out); dump_expr(n->a, out); dump_vec(&n->args, out); break;
  case DN_AST_SLICE: fputs("(slice ", out); dump_expr(n->a, out); fputc(' ', out); dump_expr(n->b, out); break;
  case DN_AST_CLASS_TYPE: fputs("(class ", out); dump_expr(n->a, out); dump_vec(&n->args, out); break;
  case DN_AST_LIST:
  case DN_AST_TENSOR_TYPE: fprintf(out, "(%s", dn_ast_kind_name(n->kind)); dump_vec(&n->args, out); break;
  default: fprintf(out, "(%s", dn_ast_kind_name(n->kind)); break;
  }
  fputc(')', out);
}

static void dump_stmt(const dn_ast *n, int indent, FILE *out);

/* Prints the statements of a block, one per line, then the closing ')'. */
static void dump_body(const dn_vec *body, int indent, FILE *out) {
  for (int i = 0; i < body->n; i++) {
    fputc('\n', out);
    dump_stmt(body->v[i], indent, out);
  }
}

/* Prints a statement at `indent` spaces. */
static void dump_stmt(const dn_ast *n, int indent, FILE *out) {
  fprintf(out, "%*s(%s", indent, "", dn_ast_kind_name(n->kind));
  if (n->name && n->kind != DN_AST_PROGRAM) fprintf(out, " %s", n->name);
  if (n->kind == DN_AST_DEF) {
    fputs(" (", out);
    for (int i = 0; i < n->params.n; i++) fprintf(out, "%s%s", i ? " " : "", ((const dn_ast *)n->params.v[i])->name);
    fputc(')', out);
  }
  if (n->a) {
    fputc(' ', out);
    dump_expr(n->a, out);
  }
  if (n->b) {
    fputs(n->kind == DN_AST_PARAM ? " (init " : " ", out);
    dump_expr(n->b, out);
    if (n->kind == DN_AST_PARAM) fputc(')', out);
  }
  dump_body(&n->body, indent + 2, out);
  fputc(')', out);
}

void dn_ast_dump(const dn_ast *node, FILE *out) {
  if (!node) {
    fputs("()\n", out);
    return;
  }
  if (node->kind >= DN_AST_MODEL)
    dump_stmt(node, 0, out);
  else
    dump_expr(node, out);
  fputc('\n', out);
}
