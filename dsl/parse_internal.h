/* parse_internal.h - state shared by the flex lexer, the bison parser and parse.c.
 *
 * Not a public interface: the rest of dnncc sees only ast.h. The lexer keeps the position
 * of the next character, a stack of open brackets (for nesting limits and for notes such as
 * "to match this '('"), and what the previous token was (line starts drive error recovery
 * and the contextual keyword `init`). The extra builders here keep grammar actions to one
 * call each.
 */
#ifndef DNNCC_PARSE_INTERNAL_H
#define DNNCC_PARSE_INTERNAL_H

#include <stdio.h>

#include "ast.h"

#define DN_LEX_MAX_DEPTH 200   /* nested ( [ { before "nesting too deep" */
#define DN_LEX_MAX_IDENT 256   /* longest identifier, in bytes */
#define DN_AST_MAX_HEIGHT 1000 /* deepest expression/statement tree the parser accepts */
#define DN_PARSE_MAX_BYTES ((size_t)16 << 20) /* largest source file */

typedef struct dn_lex_bracket {
  char c;     /* the opening character: ( [ or { */
  dn_loc loc; /* where it was opened */
} dn_lex_bracket;

typedef struct dn_lex_ctx {
  const char *file;        /* file name for locations */
  void *scanner;           /* the flex scanner (yyscan_t) */
  int line, col;           /* position of the next character */
  int prev_tok;            /* previous token returned to the parser (0 = none yet) */
  int prev_line;           /* line of the previous token */
  int tok_before;          /* the token before the previous one (for hints like `**`) */
  dn_loc prev_loc;         /* where the previous token starts */
  dn_loc before_loc;       /* where the token before it starts */
  dn_loc prev_end;         /* just past the previous token (where end of file is reported) */
  int tok_bol;             /* the last token is the first on its line */
  int param_state;         /* progress through `param NAME : [...]` (5: `init` may follow) */
  int param_depth;         /* bracket depth at the '[' of that type */
  const char *last_text;   /* text of the last NAME/NUM token (for messages) */
  dn_lex_bracket brackets[DN_LEX_MAX_DEPTH]; /* open brackets, innermost last */
  int depth;               /* number of open brackets */
  int depth_before;        /* depth before the last token was scanned */
  int last_tok;            /* kind of the last token scanned */
  dn_loc last_loc;         /* its location */
  int recovering;          /* after a syntax error: dn_yylex must hand out SYNC next */
  int replay;              /* ... followed again by the offending token (else skip to a line start) */
  int stray_close;         /* the last closing bracket matched no opener */
  int recover_depth;       /* open brackets when recovery began */
  dn_loc last_err_loc;     /* the token the last error (lexical or syntax) was about */
  dn_loc replayed_loc;     /* the last token handed back (never twice) */
  int have_pending;        /* a token is waiting behind SYNC */
  int pending_tok;         /* its kind */
  const char *pending_text; /* its text (NAME, NUM) */
  dn_loc pending_loc;      /* its location */
  int stop;                /* fatal condition: feed end of file from now on */
  dn_ast *result;          /* the PROGRAM node built by the parser */
} dn_lex_ctx;

/* Lexer helpers (parse.c), called from lexer.l actions. */
void dn_lex_advance(dn_lex_ctx *ctx, dn_loc *loc, const char *text, size_t len);
dn_loc dn_lex_here(const dn_lex_ctx *ctx);
void dn_lex_open(dn_lex_ctx *ctx, char c, dn_loc loc);
void dn_lex_close(dn_lex_ctx *ctx, char c);
void dn_lex_unwind(dn_lex_ctx *ctx);
void dn_lex_bad_chars(dn_lex_ctx *ctx, dn_loc loc, const char *text, size_t len);
const char *dn_lex_bad_number(dn_lex_ctx *ctx, dn_loc loc, const char *text);
const char *dn_lex_ident(dn_lex_ctx *ctx, dn_loc loc, const char *text, size_t len);
int dn_lex_is_init(const dn_lex_ctx *ctx, dn_loc loc);
void dn_lex_track(dn_lex_ctx *ctx, int tok, dn_loc loc);

/* Prints every token of `text` as `line:col kind [text]`, one per line (lexer tests). */
int dn_lex_dump(const char *file, const char *text, size_t len, FILE *out);

/* Extra builders for the grammar (ast.c). */
dn_ast *dn_ast_decl(dn_ast_kind kind, dn_loc loc, dn_loc name_loc, const char *name, dn_ast *a, dn_ast *b);
dn_ast *dn_ast_retag(dn_ast *list, dn_ast_kind kind, dn_loc loc);   /* a LIST becomes kind */
dn_ast *dn_ast_call(dn_loc loc, const char *name, dn_ast *args);    /* args: a LIST */
dn_ast *dn_ast_index(dn_loc loc, dn_ast *base, dn_ast *items);      /* items: a LIST */
dn_ast *dn_ast_slice(dn_loc loc, dn_ast *lo, dn_ast *hi);
dn_ast *dn_ast_class_type(dn_loc loc, dn_ast *k, dn_ast *dims);     /* dims: LIST or NULL */
dn_ast *dn_ast_with_params(dn_ast *def, dn_ast *params);            /* params: LIST of NAMEs */
dn_ast *dn_ast_with_body(dn_ast *owner, dn_ast *block);             /* block: PROGRAM container */
dn_ast *dn_ast_bool(dn_loc loc, int value);

/* Structural checks after parsing (ast.c): tree height, statements allowed in each block,
 * call argument order. Reports errors; returns the number reported. */
int dn_ast_validate(dn_ast *program);

#endif
