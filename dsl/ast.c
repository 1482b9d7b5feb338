/* ast.c - stub until the parser lands. */
#include "ast.h"
dn_ast *dn_parse_file(const char *path) { (void)path; return NULL; }
void dn_ast_dump(const dn_ast *node, FILE *out) { (void)node; (void)out; }
