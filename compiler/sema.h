/* sema.h - internal interface of the checker (sema*.c): values, scopes, naming state.
 *
 * The checker walks the syntax tree once, evaluating every expression to a value: a
 * compile-time number or an IR node (dn_node) of the graph under construction. User errors
 * are reported with dn_error and yield a poison value (SV_NONE) that later uses pass on
 * silently, so one mistake gives one message. Shapes are checked here, before any dn_ir_*
 * builder runs (those die on misuse). Per-sample shapes are dn_sample_shape(node).
 */
#ifndef DNNCC_SEMA_H
#define DNNCC_SEMA_H

#include "ir.h"
#include "pipeline.h"

/* Largest per-sample tensor (elements) and largest integer constant. */
#define DN_SEMA_MAX_ELEMS ((int64_t)1 << 31)
#define DN_SEMA_MAX_INT 9007199254740992.0

typedef enum sv_kind {
  SV_NONE,   /* poison: an error was reported */
  SV_NUM,    /* compile-time number */
  SV_TENSOR, /* IR node */
} sv_kind;

typedef struct sv {
  sv_kind kind; /* which member is valid */
  double num;   /* SV_NUM value */
  int is_int;   /* SV_NUM is an integer */
  dn_node *t;   /* SV_TENSOR node */
} sv;

typedef enum sym_kind {
  SYM_VALUE,  /* constant or tensor binding (val) */
  SYM_INPUT,  /* model input (index; node made on first use) */
  SYM_DEF,    /* def */
  SYM_STATE,  /* scan state inside its block */
} sym_kind;

typedef struct sym {
  const char *name; /* as written */
  sym_kind kind;    /* what it names */
  sv val;           /* SYM_VALUE / SYM_STATE current value */
  dn_ast *decl;     /* declaring statement */
  dn_loc loc;       /* where it is declared */
  int index;        /* SYM_INPUT index, SYM_STATE index */
  int assigned;     /* SYM_STATE: assigned in this step */
  int visible;      /* SYM_DEF: number of global symbols its body sees */
} sym;

typedef struct scope scope;
struct scope {
  dn_vec syms;       /* sym*, declaration order */
  scope *parent;     /* enclosing scope, NULL at top */
  int limit;         /* parent symbols visible: the first `limit` (-1 = all) */
  const char *prefix;/* parameter-name prefix: "" at top, "UNIT." in a def unit */
  int is_def;        /* a def body (recursion hint in messages) */
};

typedef struct scan_ctx scan_ctx;
struct scan_ctx {
  dn_graph *body;    /* step graph */
  dn_vec outer_src;  /* dn_node* of the enclosing graph captured by the body */
  dn_vec outer_leaf; /* the matching SCAN_OUTER leaves */
  dn_vec imported;   /* dn_node* pairs (source, copy) for params and constants */
  scan_ctx *up;      /* enclosing scan, NULL at top */
};

/* Naming state of the binding being evaluated (SPEC 2.6). */
typedef struct namer {
  const char *bind;  /* full binding name, e.g. "b1.y" (NULL: none) */
  int units;         /* parameter-creating calls its expression makes */
  int next;          /* next unit index */
} namer;

typedef struct sema {
  dn_graph *root;    /* the graph being built */
  dn_graph *g;       /* current graph: root or a scan body */
  scan_ctx *scan;    /* innermost scan, NULL outside */
  scope *global;     /* top-level scope */
  scope *cur;        /* current scope */
  namer nm;          /* current binding's naming */
  const char *file;  /* source path */
  int depth;         /* def inlining depth */
  dn_ast *model_stmt;/* the `model NAME` statement, once seen */
  dn_ast *prog;      /* the program (for "used before its definition") */
} sema;

/* sema.c: core */
sv sv_none(void);
sv sv_num(double v, int is_int);
sv sv_tensor(dn_node *t);
sv dn_sema_eval(sema *s, dn_ast *e);
dn_shape dn_sema_sample(const dn_node *t);
const char *dn_sema_sstr(const dn_node *t);           /* per-sample shape text */
dn_node *dn_sema_import(sema *s, dn_node *t);        /* node usable in the current graph */
int dn_sema_check_shape(dn_loc loc, dn_shape s, const char *what);  /* dims >= 1, size */
int dn_sema_int(sema *s, dn_ast *e, const char *what, int64_t lo, int64_t hi, int64_t *out);
int dn_sema_number(sema *s, dn_ast *e, const char *what, double *out);
dn_node *dn_sema_tensor(sema *s, dn_ast *e, const char *what);  /* float tensor or NULL */
dn_node *dn_sema_any_tensor(sema *s, dn_ast *e, const char *what);  /* float or class */
dn_node *dn_sema_float_of(sema *s, sv v, dn_loc loc, const char *what);
int dn_sema_new_param(sema *s, const char *name, dn_shape shape, dn_init_kind init, int64_t fan_in, dn_loc loc);
dn_node *dn_sema_param_node(sema *s, int index, dn_loc loc);
const char *dn_sema_unit_name(sema *s);             /* claims the next unit name */
dn_node *dn_sema_batched(sema *s, dn_node *t, dn_loc loc);   /* expands to [B, ...] */
dn_node *dn_sema_align(sema *s, dn_node *t, int rank, int batched, dn_loc loc);
dn_node *dn_sema_broadcast(sema *s, dn_op op, dn_node *a, dn_node *b, dn_loc loc, const char *opname);
dn_node *dn_sema_scale(sema *s, dn_node *t, double k, dn_loc loc);
dn_node *dn_sema_reshape_sample(sema *s, dn_node *t, dn_shape sample, dn_loc loc);
dn_node *dn_sema_reduce(sema *s, dn_op op, dn_node *t, uint32_t sample_axes, dn_loc loc); /* removes them */
dn_node *dn_sema_sample_mean(sema *s, dn_node *t, dn_loc loc);  /* per-sample scalar */
void dn_sema_suggest(sema *s, const char *name, dn_loc loc, int want_def);

/* sema_ops.c: built-in calls */
int dn_sema_is_layer(const char *name);
int dn_sema_is_builtin(const char *name);
sv dn_sema_builtin(sema *s, dn_ast *call);
const char *dn_sema_builtin_nearest(const char *name, int *dist);

/* Binds a call's arguments to parameter names: out[i] = AST of parameter i or NULL.
 * `names` is NULL-terminated; the first `required` are required. Returns 0 or 1 (error). */
int dn_sema_bind_args(dn_ast *call, const char *const *names, int required, dn_ast **out);

/* sema_scan.c: scan blocks and recurrent layers */
void dn_sema_scan(sema *s, dn_ast *st);
sv dn_sema_recurrent(sema *s, dn_ast *call, dn_ast **args, int kind);  /* 0 rnn, 1 lstm, 2 gru */

/* sema.c: statements (used by scan bodies) */
void dn_sema_stmt(sema *s, dn_ast *st);
sym *dn_sema_lookup(sema *s, const char *name);
sym *dn_sema_declare(sema *s, const char *name, sym_kind kind, dn_ast *decl, dn_loc loc);
int dn_sema_dims(sema *s, const dn_vec *dims, dn_shape *out, dn_loc loc, const char *what);
void dn_sema_summary(sema *s, const char *name, sv v, dn_loc loc, int n0, int p0);
void dn_sema_binding(sema *s, dn_ast *st, const char *name, dn_ast *expr, sv *out);

#endif
