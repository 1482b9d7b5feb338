/* parser.y - grammar of the .dnn language (SPEC 2.3, 2.4, 2.7, 2.8), a pure bison parser.
 *
 * Statements need no separator: no expression can be followed by a token that starts a
 * statement, so `h = a` followed by `output y` is unambiguous, and `;` is an empty
 * statement. Every action is one call into the builders of ast.h / parse_internal.h.
 * Blocks accept any statement; which ones are allowed where (state only in scan, return
 * last in a def, ...) is checked after parsing (dn_ast_validate) with clearer messages
 * than a syntax error could give.
 *
 * Errors: parse.error is `custom`: bison's verbose message ("syntax error, unexpected X,
 * expecting Y or Z") with readable token names, "an expression" / "a statement" instead of
 * a list of twelve tokens, and a note pointing at the unclosed bracket; no message at all
 * for a token the lexer already reported. parse.lac makes the expected set exact despite
 * default reductions.
 *
 * Recovery is at statement level: `stmt: error SYNC`. After reporting, dn_yylex drops
 * tokens up to one that starts a line (or `;`, or a `}` closing an enclosing block), where
 * the next statement most likely begins, and hands the parser a made-up SYNC token before
 * it. When the offending token itself starts a statement (`output` after a line missing
 * its ')'), it is handed back once after SYNC. `yyerrok` then re-arms messages at once, so
 * each broken line gets its own message, while a token never gets two.
 */
%define api.pure full
%define api.prefix {dn_yy}
%define api.token.prefix {TOK_}
%define api.location.type {dn_loc}
%define parse.error custom
%define parse.lac full
%locations
%expect 0
%param {dn_lex_ctx *ctx}

%code requires {
#include "parse_internal.h"
}

%code provides {
int dn_lex_scan(DN_YYSTYPE *lval, dn_loc *lloc, void *scanner);
int dn_yyparse(dn_lex_ctx *ctx);
}

%code {
#include <string.h>

/* A node's location is the location of its first token; an empty rule takes the end of
 * what precedes it. */
#define YYLLOC_DEFAULT(Cur, Rhs, N) ((Cur) = (N) ? YYRHSLOC(Rhs, 1) : YYRHSLOC(Rhs, 0))

static int dn_yylex(DN_YYSTYPE *lval, dn_loc *lloc, dn_lex_ctx *ctx);
static void dn_yyerror(const dn_loc *loc, dn_lex_ctx *ctx, const char *msg);
}

%initial-action { @$ = (dn_loc){ctx->file, 1, 1}; }

%union {
  const char *str; /* NAME, NUM text */
  dn_ast *node;    /* everything built */
}

%token END 0 "end of file"
%token <str> NAME "identifier"
%token <str> NUM "number"
%token MODEL "'model'" INPUT "'input'" PARAM "'param'" OUTPUT "'output'" LOSS "'loss'"
%token DEF "'def'" RETURN "'return'" SCAN "'scan'" IN "'in'" STATE "'state'"
%token TRAIN "'train'" CLASS "'class'" TRUE "'true'" FALSE "'false'" SAME "'same'"
%token VALID "'valid'" INIT "'init'"
%token BAD "invalid character" /* never in a rule: the lexer already reported it */
%token SYNC "end of statement"  /* made up by dn_yylex only after a syntax error */

%type <node> stmts stmt block in_type tensor_type dims expr_list def_params name_list
%type <node> expr term unary power postfix primary args arg_list arg index_items item

%%

program: stmts                                 { ctx->result = $1; }
       ;

stmts: %empty                                  { $$ = dn_ast_new(DN_AST_PROGRAM, @$); }
     | stmts stmt                              { $$ = dn_ast_append_body($1, $2); }
     | stmts ';'                               { $$ = $1; }
     ;

stmt: MODEL NAME                               { $$ = dn_ast_decl(DN_AST_MODEL, @1, @2, $2, NULL, NULL); }
    | INPUT NAME ':' in_type                   { $$ = dn_ast_decl(DN_AST_INPUT, @1, @2, $2, $4, NULL); }
    | PARAM NAME ':' tensor_type               { $$ = dn_ast_decl(DN_AST_PARAM, @1, @2, $2, $4, NULL); }
    | PARAM NAME ':' tensor_type INIT '=' expr { $$ = dn_ast_decl(DN_AST_PARAM, @1, @2, $2, $4, $7); }
    | NAME '=' expr                            { $$ = dn_ast_decl(DN_AST_BIND, @1, @1, $1, $3, NULL); }
    | OUTPUT NAME                              { $$ = dn_ast_decl(DN_AST_OUTPUT, @1, @2, $2, NULL, NULL); }
    | OUTPUT NAME '=' expr                     { $$ = dn_ast_decl(DN_AST_OUTPUT, @1, @2, $2, $4, NULL); }
    | LOSS '=' expr                            { $$ = dn_ast_unary(DN_AST_LOSS, @1, $3); }
    | DEF NAME '(' def_params ')' '=' expr     { $$ = dn_ast_with_params(dn_ast_decl(DN_AST_DEF, @1, @2, $2, $7, NULL), $4); }
    | DEF NAME '(' def_params ')' block        { $$ = dn_ast_with_body(dn_ast_with_params(dn_ast_decl(DN_AST_DEF, @1, @2, $2, NULL, NULL), $4), $6); }
    | RETURN expr                              { $$ = dn_ast_unary(DN_AST_RETURN, @1, $2); }
    | SCAN NAME IN expr block                  { $$ = dn_ast_with_body(dn_ast_decl(DN_AST_SCAN, @1, @2, $2, $4, NULL), $5); }
    | STATE NAME ':' tensor_type '=' expr      { $$ = dn_ast_decl(DN_AST_STATE, @1, @2, $2, $4, $6); }
    | TRAIN block                              { $$ = dn_ast_with_body(dn_ast_new(DN_AST_TRAIN, @1), $2); }
    | error SYNC                               { $$ = NULL; yyerrok; }
    ;

block: '{' stmts '}'                           { $$ = $2; }
     ;

/* types: [dims], class(K), class(K)[dims] */
in_type: tensor_type                           { $$ = $1; }
       | CLASS '(' expr ')'                    { $$ = dn_ast_class_type(@1, $3, NULL); }
       | CLASS '(' expr ')' '[' dims ']'       { $$ = dn_ast_class_type(@1, $3, $6); }
       ;

tensor_type: '[' dims ']'                      { $$ = dn_ast_retag($2, DN_AST_TENSOR_TYPE, @1); }
           ;

/* dims, list elements: expressions, a trailing comma allowed */
dims: %empty                                   { $$ = dn_ast_new(DN_AST_LIST, @$); }
    | expr_list                                { $$ = $1; }
    | expr_list ','                            { $$ = $1; }
    ;

expr_list: expr                                { $$ = dn_ast_append(dn_ast_new(DN_AST_LIST, @1), $1); }
         | expr_list ',' expr                  { $$ = dn_ast_append($1, $3); }
         ;

def_params: %empty                             { $$ = dn_ast_new(DN_AST_LIST, @$); }
          | name_list                          { $$ = $1; }
          | name_list ','                      { $$ = $1; }
          ;

name_list: NAME                                { $$ = dn_ast_append(dn_ast_new(DN_AST_LIST, @1), dn_ast_name(@1, $1)); }
         | name_list ',' NAME                  { $$ = dn_ast_append($1, dn_ast_name(@3, $3)); }
         ;

/* expressions, lowest precedence first: + - ; * / @ ; unary - ; ^ (right) ; postfix */
expr: expr '+' term                            { $$ = dn_ast_binop(@2, '+', $1, $3); }
    | expr '-' term                            { $$ = dn_ast_binop(@2, '-', $1, $3); }
    | term                                     { $$ = $1; }
    ;

term: term '*' unary                           { $$ = dn_ast_binop(@2, '*', $1, $3); }
    | term '/' unary                           { $$ = dn_ast_binop(@2, '/', $1, $3); }
    | term '@' unary                           { $$ = dn_ast_binop(@2, '@', $1, $3); }
    | unary                                    { $$ = $1; }
    ;

unary: '-' unary                               { $$ = dn_ast_unary(DN_AST_NEG, @1, $2); }
     | power                                   { $$ = $1; }
     ;

/* like Python's **: right associative, and the exponent may be negated (2 ^ -1) */
power: postfix '^' unary                       { $$ = dn_ast_binop(@2, '^', $1, $3); }
     | postfix                                 { $$ = $1; }
     ;

postfix: primary                               { $$ = $1; }
       | postfix '[' index_items ']'           { $$ = dn_ast_index(@2, $1, $3); }
       ;

primary: NUM                                   { $$ = dn_ast_num(@1, $1); }
       | NAME                                  { $$ = dn_ast_name(@1, $1); }
       | NAME '(' args ')'                     { $$ = dn_ast_call(@1, $1, $3); }
       | '(' expr ')'                          { $$ = $2; }
       | '[' dims ']'                          { $$ = dn_ast_retag($2, DN_AST_LIST, @1); }
       | SAME                                  { $$ = dn_ast_new(DN_AST_SAME, @1); }
       | VALID                                 { $$ = dn_ast_new(DN_AST_VALID, @1); }
       | TRUE                                  { $$ = dn_ast_bool(@1, 1); }
       | FALSE                                 { $$ = dn_ast_bool(@1, 0); }
       ;

/* call arguments: positional, then name = value (the order is checked after parsing) */
args: %empty                                   { $$ = dn_ast_new(DN_AST_LIST, @$); }
    | arg_list                                 { $$ = $1; }
    | arg_list ','                             { $$ = $1; }
    ;

arg_list: arg                                  { $$ = dn_ast_append(dn_ast_new(DN_AST_LIST, @1), $1); }
        | arg_list ',' arg                     { $$ = dn_ast_append($1, $3); }
        ;

arg: expr                                      { $$ = $1; }
   | NAME '=' expr                             { $$ = dn_ast_named(DN_AST_KWARG, @1, $1, $3, NULL); }
   ;

/* index items: x[i], x[a:b], x[:, 2:5] */
index_items: item                              { $$ = dn_ast_append(dn_ast_new(DN_AST_LIST, @1), $1); }
           | index_items ',' item              { $$ = dn_ast_append($1, $3); }
           ;

item: expr                                     { $$ = $1; }
    | expr ':' expr                            { $$ = dn_ast_slice(@2, $1, $3); }
    | expr ':'                                 { $$ = dn_ast_slice(@2, $1, NULL); }
    | ':' expr                                 { $$ = dn_ast_slice(@1, NULL, $2); }
    | ':'                                      { $$ = dn_ast_slice(@1, NULL, NULL); }
    ;

%%

/* Names of the tokens that begin an expression / a statement, to shorten long lists of
 * expected tokens into "an expression" / "a statement". */
static const char *const expr_start[] = {
  "identifier", "number", "'('", "'['", "'-'", "'same'", "'valid'", "'true'", "'false'",
};
static const char *const stmt_start[] = {
  "'model'", "'input'", "'param'", "'output'", "'loss'",
  "'def'", "'return'", "'scan'", "'state'", "'train'", "identifier", "';'",
};

/* Operators that may continue an expression: left out of "expecting ..." when anything
 * else is expected too (after `f(x` the user means ')' or ',', rarely '*'). */
static const char *const operators[] = {"'+'", "'-'", "'*'", "'/'", "'@'", "'^'", "'['"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Whether token kind `k` is named `name`. */
static int is_sym(yysymbol_kind_t k, const char *name) { return strcmp(yysymbol_name(k), name) == 0; }

/* Whether every token named in `set` is in `kinds` (n of them). */
static int has_all(const yysymbol_kind_t *kinds, int n, const char *const *set, int m) {
  for (int j = 0; j < m; j++) {
    int found = 0;
    for (int i = 0; i < n; i++) found |= is_sym(kinds[i], set[j]);
    if (!found) return 0;
  }
  return 1;
}

/* Removes the tokens named in `set` from `kinds`; returns the new count. */
static int remove_all(yysymbol_kind_t *kinds, int n, const char *const *set, int m) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    int drop = 0;
    for (int j = 0; j < m; j++) drop |= is_sym(kinds[i], set[j]);
    if (!drop) kinds[k++] = kinds[i];
  }
  return k;
}

/* The closing bracket for an opening one. */
static char closer(char c) { return c == '(' ? ')' : c == '[' ? ']' : '}'; }

/* Appends "expecting A, B or C" to `msg`, shortening expression/statement starters. */
static void describe_expected(dn_buf *msg, yysymbol_kind_t *kinds, int n) {
  const char *words[YYNTOKENS + 2];
  int w = 0;
  if (has_all(kinds, n, stmt_start, N_OF(stmt_start))) {
    n = remove_all(kinds, n, stmt_start, N_OF(stmt_start));
    words[w++] = "a statement";
  }
  if (has_all(kinds, n, expr_start, N_OF(expr_start))) {
    n = remove_all(kinds, n, expr_start, N_OF(expr_start));
    words[w++] = "an expression";
  }
  int m = remove_all(kinds, n, operators, N_OF(operators));
  if (m < n && has_all(kinds, n, operators, 1) && (m > 0 || w > 0)) n = m;
  for (int i = 0; i < n; i++) words[w++] = yysymbol_name(kinds[i]);
  if (w == 0 || w > 5) return;
  dn_buf_printf(msg, ", expecting ");
  for (int i = 0; i < w; i++)
    dn_buf_printf(msg, "%s%s", i == 0 ? "" : i == w - 1 ? " or " : ", ", words[i]);
}

/* The unexpected token, with its text for names and numbers. */
static void describe_unexpected(dn_buf *msg, yysymbol_kind_t t, const dn_lex_ctx *ctx) {
  if ((t == YYSYMBOL_NAME || t == YYSYMBOL_NUM) && ctx->last_text)
    dn_buf_printf(msg, "unexpected %s '%s'", yysymbol_name(t), ctx->last_text);
  else
    dn_buf_printf(msg, "unexpected %s", yysymbol_name(t));
}

/* Notes the innermost bracket still open before the bad token, if a closer is expected. */
static void note_open_bracket(const dn_lex_ctx *ctx, const yysymbol_kind_t *kinds, int n) {
  if (ctx->depth_before <= 0) return;
  const dn_lex_bracket *b = &ctx->brackets[ctx->depth_before - 1];
  char want[4] = {'\'', closer(b->c), '\'', 0};
  for (int i = 0; i < n; i++)
    if (is_sym(kinds[i], want)) {
      dn_note(b->loc, "to match this '%c'", b->c);
      return;
    }
}

/* `x ** 2` from Python: say how powers are written here. */
static void note_python_power(const dn_lex_ctx *ctx, yysymbol_kind_t t) {
  int adjacent = ctx->before_loc.line == ctx->prev_loc.line && ctx->before_loc.col + 1 == ctx->prev_loc.col;
  if (is_sym(t, "'*'") && ctx->tok_before == '*' && adjacent)
    dn_note(ctx->before_loc, "powers are written 'a ^ b' (not 'a ** b')");
}

/* Whether `t` (just scanned, the offending token) should be handed back after SYNC: a
 * statement keyword, a name at the start of a line, ';', or a '}' that closes a block. */
static int replayable(const dn_lex_ctx *ctx, yysymbol_kind_t t) {
  if (ctx->last_loc.line == ctx->replayed_loc.line && ctx->last_loc.col == ctx->replayed_loc.col) return 0;
  if (t == YYSYMBOL_NAME) return ctx->tok_bol;
  if (is_sym(t, "'}'")) return ctx->depth < ctx->depth_before;
  for (int i = 0; i < N_OF(stmt_start); i++)
    if (is_sym(t, stmt_start[i])) return 1;
  return 0;
}

/* Arms dn_yylex's resynchronization and forgets brackets opened inside the statement. */
static void start_recovery(dn_lex_ctx *ctx, yysymbol_kind_t t) {
  ctx->recovering = 1;
  ctx->replay = replayable(ctx, t);
  if (ctx->depth > ctx->depth_before) ctx->depth = ctx->depth_before; /* a '{' the parser refused */
  dn_lex_unwind(ctx);
  ctx->recover_depth = ctx->depth;
}

static int yyreport_syntax_error(const yypcontext_t *yyctx, dn_lex_ctx *ctx) {
  if (ctx->stop || dn_error_limit_reached()) return 0;
  yysymbol_kind_t t = yypcontext_token(yyctx);
  if (t == YYSYMBOL_BAD) {
    start_recovery(ctx, t);
    return 0;
  }
  const dn_loc *at = yypcontext_location(yyctx);
  if (at->line == ctx->last_err_loc.line && at->col == ctx->last_err_loc.col) {
    start_recovery(ctx, t); /* a token handed back after SYNC failed again: one message is enough */
    return 0;
  }
  ctx->last_err_loc = *at;
  yysymbol_kind_t kinds[YYNTOKENS];
  int n = yypcontext_expected_tokens(yyctx, kinds, YYNTOKENS);
  if (n < 0) n = 0;
  dn_buf msg = {0};
  dn_buf_printf(&msg, "syntax error, ");
  describe_unexpected(&msg, t, ctx);
  yysymbol_kind_t shortened[YYNTOKENS];
  memcpy(shortened, kinds, sizeof(kinds[0]) * (size_t)n);
  describe_expected(&msg, shortened, n);
  dn_error(*at, "%s", msg.s);
  dn_buf_free(&msg);
  note_open_bracket(ctx, kinds, n);
  note_python_power(ctx, t);
  start_recovery(ctx, t);
  return 0;
}

/* Only "memory exhausted" reaches here: the parser stack overflowed. */
static void dn_yyerror(const dn_loc *loc, dn_lex_ctx *ctx, const char *msg) {
  if (ctx->stop) return;
  dn_error(*loc, "program too deeply nested (%s)", msg);
  ctx->stop = 1;
}

/* Scans the next token, keeping what recovery and messages need to know about it. Once
 * stopped (nesting limit, 20 errors), every token is the end of file. */
static int scan_token(DN_YYSTYPE *lval, dn_loc *lloc, dn_lex_ctx *ctx) {
  int tok = TOK_END;
  lval->str = NULL;
  if (!ctx->stop && !dn_error_limit_reached()) {
    ctx->depth_before = ctx->depth;
    tok = dn_lex_scan(lval, lloc, ctx->scanner);
    dn_lex_track(ctx, tok, *lloc);
  }
  if (ctx->stop || dn_error_limit_reached()) {
    ctx->stop = 1;
    tok = TOK_END;
    lval->str = NULL;
  }
  if (tok == TOK_END) *lloc = ctx->prev_end; /* "unexpected end of file" at the last token */
  else ctx->prev_end = dn_lex_here(ctx);
  ctx->last_tok = tok;
  ctx->last_text = lval->str;
  ctx->last_loc = *lloc;
  return tok;
}

/* Whether a token is where a statement can start again after an error: the first on a
 * line, ';', end of file, or a '}' closing a block opened before the error (or opening a
 * line while closing nothing at all). */
static int resync_point(const dn_lex_ctx *ctx, int tok) {
  if (tok == '}') return ctx->depth < ctx->recover_depth || (ctx->tok_bol && ctx->stray_close);
  return ctx->tok_bol || tok == ';' || tok == TOK_END;
}

/* Token source of the parser: the scanner, plus SYNC and the token after it in recovery. */
static int dn_yylex(DN_YYSTYPE *lval, dn_loc *lloc, dn_lex_ctx *ctx) {
  if (ctx->have_pending) {
    ctx->have_pending = 0;
    lval->str = ctx->last_text = ctx->pending_text;
    *lloc = ctx->pending_loc;
    return ctx->pending_tok;
  }
  if (!ctx->recovering) return scan_token(lval, lloc, ctx);
  if (ctx->replay) {
    ctx->replayed_loc = ctx->last_loc;
  } else {
    while (!resync_point(ctx, scan_token(lval, lloc, ctx))) continue;
  }
  ctx->recovering = ctx->replay = 0;
  dn_lex_unwind(ctx);
  ctx->have_pending = 1;
  ctx->pending_tok = ctx->last_tok;
  ctx->pending_text = ctx->last_text;
  ctx->pending_loc = ctx->last_loc;
  *lloc = ctx->last_loc;
  return TOK_SYNC;
}
