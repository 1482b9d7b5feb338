/* parse.c - entry points of the front end (dn_parse, dn_parse_file) and the lexer's helpers.
 *
 * dn_parse runs the flex scanner over an in-memory copy of the text (NUL bytes included:
 * they are characters like any other, and errors), then the bison parser, then the
 * structural checks of ast.c. The helpers below keep the lexer's actions short: position
 * tracking, the bracket stack with its nesting limit, identifiers, bad characters.
 */
#include "parse_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "parser.h"
#define YYSTYPE DN_YYSTYPE
#define YYLTYPE DN_YYLTYPE
#include "lexer.h"

/* --- lexer helpers ------------------------------------------------------------ */

void dn_lex_advance(dn_lex_ctx *ctx, dn_loc *loc, const char *text, size_t len) {
  *loc = dn_lex_here(ctx);
  for (size_t i = 0; i < len; i++) {
    if (text[i] == '\n') {
      ctx->line++;
      ctx->col = 1;
    } else {
      ctx->col++;
    }
  }
}

dn_loc dn_lex_here(const dn_lex_ctx *ctx) { return (dn_loc){ctx->file, ctx->line, ctx->col}; }

void dn_lex_open(dn_lex_ctx *ctx, char c, dn_loc loc) {
  if (ctx->depth == DN_LEX_MAX_DEPTH) {
    if (!ctx->stop) dn_error(loc, "brackets nested too deeply (more than %d levels)", DN_LEX_MAX_DEPTH);
    ctx->stop = 1;
    return;
  }
  ctx->brackets[ctx->depth++] = (dn_lex_bracket){c, loc};
}

/* A closer pops up to its matching opener; a stray closer leaves the stack alone (the
 * parser reports it). */
void dn_lex_close(dn_lex_ctx *ctx, char c) {
  char open = c == ')' ? '(' : c == ']' ? '[' : '{';
  ctx->stray_close = 0;
  for (int d = ctx->depth - 1; d >= 0; d--)
    if (ctx->brackets[d].c == open) {
      ctx->depth = d;
      return;
    }
  ctx->stray_close = 1;
}

/* After a syntax error: forget brackets opened since the innermost block '{'. */
void dn_lex_unwind(dn_lex_ctx *ctx) {
  while (ctx->depth > 0 && ctx->brackets[ctx->depth - 1].c != '{') ctx->depth--;
}

/* Length of the UTF-8 character at `s` (at most `len` bytes), 0 if not valid UTF-8. */
static size_t utf8_len(const unsigned char *s, size_t len) {
  size_t n = s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
  if (n == 0 || n > len) return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xC0) != 0x80) return 0;
  return n;
}

/* One error for a run of characters that cannot start a token, naming the first one. */
void dn_lex_bad_chars(dn_lex_ctx *ctx, dn_loc loc, const char *text, size_t len) {
  const unsigned char *s = (const unsigned char *)text;
  if (ctx->stop) return;
  ctx->last_err_loc = loc; /* the parser says nothing more about this token */
  size_t u = utf8_len(s, len);
  if (u)
    dn_error(loc, "unexpected character '%.*s'", (int)u, text);
  else if (isprint(s[0]))
    dn_error(loc, "unexpected character '%c'", s[0]);
  else
    dn_error(loc, "unexpected character '\\x%02x'", s[0]);
}

const char *dn_lex_ident(dn_lex_ctx *ctx, dn_loc loc, const char *text, size_t len) {
  if (len > DN_LEX_MAX_IDENT) {
    if (!ctx->stop) dn_error(loc, "identifier too long (%zu characters, at most %d)", len, DN_LEX_MAX_IDENT);
    ctx->last_err_loc = loc;
    len = DN_LEX_MAX_IDENT;
  }
  return dn_strndup(text, len);
}

const char *dn_lex_bad_number(dn_lex_ctx *ctx, dn_loc loc, const char *text) {
  if (!ctx->stop) dn_error(loc, "invalid number '%s'", text);
  ctx->last_err_loc = loc;
  return "0";
}

/* `init` is a keyword right after the ']' of `param NAME : [...]`, on the same line. */
int dn_lex_is_init(const dn_lex_ctx *ctx, dn_loc loc) {
  return ctx->param_state == 5 && ctx->prev_line == loc.line;
}

/* Next state of the `param NAME : [...]` recognizer after token `tok`. */
static int param_step(dn_lex_ctx *ctx, int tok) {
  switch (ctx->param_state) {
  case 1: return tok == TOK_NAME ? 2 : 0;
  case 2: return tok == ':' ? 3 : 0;
  case 3:
    ctx->param_depth = ctx->depth_before;
    return tok == '[' ? 4 : 0;
  case 4: return tok == TOK_END ? 0 : tok == ']' && ctx->depth == ctx->param_depth ? 5 : 4;
  default: return 0;
  }
}

void dn_lex_track(dn_lex_ctx *ctx, int tok, dn_loc loc) {
  ctx->tok_bol = ctx->prev_tok == 0 || loc.line != ctx->prev_line;
  ctx->tok_before = ctx->prev_tok;
  ctx->before_loc = ctx->prev_loc;
  ctx->prev_loc = loc;
  ctx->param_state = tok == TOK_PARAM ? 1 : param_step(ctx, tok);
  ctx->prev_tok = tok == TOK_END ? -1 : tok;
  ctx->prev_line = loc.line;
}

/* --- entry points ----------------------------------------------------------------- */

/* Sets up a scanner over `text`; returns 0 on success. */
static int start_scanner(dn_lex_ctx *ctx, const char *file, const char *text, size_t len) {
  memset(ctx, 0, sizeof *ctx);
  ctx->file = file;
  ctx->line = ctx->col = 1;
  ctx->prev_end = dn_lex_here(ctx);
  yyscan_t scanner;
  if (dn_yylex_init_extra(ctx, &scanner) != 0) {
    dn_error((dn_loc){0}, "cannot start the lexer: %s", strerror(errno));
    return 1;
  }
  ctx->scanner = scanner;
  if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) { /* a UTF-8 byte order mark: skip it */
    text += 3;
    len -= 3;
    ctx->col = 4;
  }
  dn_yy_scan_bytes(text, (int)len, scanner);
  return 0;
}

dn_ast *dn_parse(const char *file, const char *text, size_t len) {
  int before = dn_error_count();
  if (len > DN_PARSE_MAX_BYTES) {
    dn_error((dn_loc){0}, "'%s' is too large (%zu bytes, at most %zu)", file, len, DN_PARSE_MAX_BYTES);
    return NULL;
  }
  dn_source_register(file, text, len);
  dn_lex_ctx ctx;
  if (start_scanner(&ctx, file, text, len)) return NULL;
  int rc = dn_yyparse(&ctx);
  dn_yylex_destroy(ctx.scanner);
  if (rc != 0 && dn_error_count() == before) dn_error(dn_lex_here(&ctx), "cannot parse this file");
  if (ctx.result && dn_error_count() == before) dn_ast_validate(ctx.result); /* no cascades */
  return dn_error_count() == before ? ctx.result : NULL;
}

/* Reads all of `f` into an arena copy (NUL-terminated); returns 0, or errno on failure,
 * or EFBIG past DN_PARSE_MAX_BYTES. */
static int read_all(FILE *f, char **text, size_t *len) {
  dn_buf b = {0};
  char chunk[65536];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
    dn_buf_append(&b, chunk, n);
    if (b.n > DN_PARSE_MAX_BYTES) break;
  }
  int err = ferror(f) ? (errno ? errno : EIO) : b.n > DN_PARSE_MAX_BYTES ? EFBIG : 0;
  *len = b.n;
  *text = dn_strndup(b.s ? b.s : "", b.n);
  dn_buf_free(&b);
  return err;
}

dn_ast *dn_parse_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    dn_error((dn_loc){0}, "cannot read '%s': %s", path, strerror(errno));
    return NULL;
  }
  char *text;
  size_t len;
  errno = 0;
  int err = read_all(f, &text, &len);
  fclose(f);
  if (err == EFBIG) {
    dn_error((dn_loc){0}, "cannot read '%s': larger than %zu bytes (16 MiB)", path, DN_PARSE_MAX_BYTES);
    return NULL;
  }
  if (err) {
    dn_error((dn_loc){0}, "cannot read '%s': %s", path, strerror(err));
    return NULL;
  }
  return dn_parse(path, text, len);
}

/* The display name of a token kind returned by the scanner. */
static const char *token_name(int tok) {
  static const char *const kw[] = {"model", "input", "param", "output", "loss", "def", "return", "scan", "in",
                                   "state", "train", "class", "true", "false", "same", "valid", "init"};
  static char single[2];
  if (tok == TOK_END) return "end";
  if (tok == TOK_NAME) return "name";
  if (tok == TOK_NUM) return "num";
  if (tok == TOK_BAD) return "bad";
  if (tok >= TOK_MODEL && tok <= TOK_INIT) return kw[tok - TOK_MODEL];
  single[0] = (char)tok;
  return single;
}

int dn_lex_dump(const char *file, const char *text, size_t len, FILE *out) {
  int before = dn_error_count();
  dn_source_register(file, text, len);
  dn_lex_ctx ctx;
  if (start_scanner(&ctx, file, text, len)) return 1;
  for (int n = 0; n < 1000000; n++) {
    DN_YYSTYPE v = {0};
    ctx.depth_before = ctx.depth;
    dn_loc loc;
    int tok = dn_lex_scan(&v, &loc, ctx.scanner);
    dn_lex_track(&ctx, tok, loc);
    fprintf(out, "%d:%d %s%s%s\n", loc.line, loc.col, token_name(tok), v.str ? " " : "", v.str ? v.str : "");
    if (tok == TOK_END || ctx.stop) break;
  }
  dn_yylex_destroy(ctx.scanner);
  return dn_error_count() - before;
}
