/* emit.h - internals of the C emitter (codegen/emit*.c, plan.c).
 *
 * emit.c drives one file: the state layout (parameters, gradients, optimizer state, step
 * counter and seed, activation arena), then one "body" per entry point (forward, evaluate,
 * grad). A body is the set of nodes some roots need, classified (dn_em_classify) into leaves,
 * views, fused elementwise groups and kernels; plan.c gives every arena buffer an offset by
 * liveness; emit_ew.c prints fused elementwise loops; emit_api.c prints P_init, P_load,
 * P_save and the optional main().
 */
#ifndef DNNCC_EMIT_H
#define DNNCC_EMIT_H

#include "codegen.h"
#include "kernels.h"

/* How a node's value is stored while a body runs. */
typedef enum dn_em_kind {
  DN_EMK_SKIP,      /* not needed by this body */
  DN_EMK_INPUT,     /* the caller's input pointer */
  DN_EMK_PARAM,     /* parameter storage in the state (or embedded const array) */
  DN_EMK_SCALAR,    /* a constant inlined as a literal (CONST without data, or a view of one) */
  DN_EMK_CDATA,     /* CONST with data: a static const array */
  DN_EMK_VIEW,      /* alias of its input's storage */
  DN_EMK_INLINE,    /* elementwise, computed in registers inside its consumer's loop */
  DN_EMK_ARENA,     /* computed into an arena buffer */
  DN_EMK_OUT,       /* computed straight into the caller's output array */
  DN_EMK_GRAD,      /* computed straight into a gradient slot of the state */
  DN_EMK_EXT,       /* a scan body's leaf: storage of the enclosing loop (step slice, state, outer) */
} dn_em_kind;

struct dn_em_scan;

/* Per-node information for one body. */
typedef struct dn_em_node {
  dn_em_kind kind;   /* storage class */
  int uses;          /* consumers inside the body (+1 for each pin: output, grad, loss, assign) */
  int pinned;        /* must stay alive to the end of the body */
  int last;          /* last node position reading it (views propagate to their base) */
  int buf;           /* arena buffer index, -1 if none */
  int slot;          /* DN_EMK_OUT: output index; DN_EMK_GRAD: parameter index */
  int consumer;      /* DN_EMK_INLINE: the node whose loop computes it */
  int pos;           /* position where its value is produced (group root for INLINE) */
  int inplace;       /* elementwise root computed in place over an input's dying buffer */
  int fused;         /* root computed by its producer's kernel (a convolution's epilogue above,
                        or the GEMM of node fused - 2 at the root's position: its mask epilogue) */
  const char *expr;  /* C pointer expression of its storage (kinds with storage) */
  size_t bytes;      /* DN_EMK_ARENA size when not the node's own element count (SCAN) */
  struct dn_em_scan *scan; /* SCAN: its loop's layout and body */
} dn_em_node;

/* One arena buffer of the memory plan. */
typedef struct dn_em_buf {
  int node;          /* defining node id */
  size_t bytes;      /* size, rounded up to 64 */
  int def, end;      /* live range (node positions, inclusive) */
  size_t off;        /* offset in the arena */
} dn_em_buf;

/* The memory plan of one body. */
typedef struct dn_em_plan {
  dn_em_buf *b;      /* buffers */
  int n;             /* count */
  size_t total;      /* arena bytes */
  size_t peak;       /* largest sum of simultaneously live buffers (lower bound) */
} dn_em_plan;

/* Emission state of the whole file. */
typedef struct dn_em {
  const dn_emit_opts *o;   /* options */
  const char *P;           /* prefix */
  const char *real;        /* "float" or "double" */
  size_t esize;            /* sizeof(real) */
  dn_cg_ctx ctx;           /* kernel context */
  dn_vec params;           /* dn_param* of the file, P_params order */
  size_t *param_off;       /* byte offset of each parameter in the state */
  size_t *grad_off;        /* its gradient's (trainable parameters with a training graph), else 0 */
  size_t *opt_off[2];      /* its optimizer state tensors */
  int nstate;              /* optimizer state tensors per trainable parameter */
  size_t step_off;         /* int64 step counter; the uint64 seed follows it */
  size_t arena_off;        /* start of the activation arena */
  size_t arena_bytes;      /* largest arena of all bodies */
  int embed;               /* parameters are embedded const arrays (--weights) */
  const float **wdata;     /* embedded data of each parameter */
  dn_buf fns;              /* the function definitions */
  dn_buf *data;            /* static const arrays of the file */
  int serial;              /* > 0 while a loop body is printed: no OpenMP inside time steps */
  const char *pvar;        /* the parameters' base pointer in the body being printed: "st", or
                              "ps" in the per-thread training body (its st is the thread's) */
  size_t part_bytes;       /* with a per-thread training body: one thread's gradients, arena
                              and scratch (0: none) */
  size_t part_scratch_off; /* its scratch, in the block */
  size_t ipart_bytes;      /* with per-thread inference bodies: one thread's arena and scratch
                              (0: none) */
  size_t ipart_scratch_off; /* their scratch, in the block */
} dn_em;

/* A body being emitted: one graph, the roots it computes, how inputs/outputs reach it. */
typedef struct dn_em_body {
  dn_graph *g;             /* graph */
  dn_em_node *nodes;       /* per node id */
  const char **in_expr;    /* per graph input index: C expression of its pointer, NULL if absent */
  int n_out;               /* outputs written (0 for grad bodies) */
  int want_loss;           /* compute loss_mean */
  int want_grads;          /* compute the gradients and run ASSIGNs */
  dn_em_plan plan;         /* memory plan */
  int inplace;             /* let elementwise roots overwrite a dying input (-O1 and above) */
  int *ew_stamp;           /* emit_ew.c scratch per node id: == ew_gen marks "seen" */
  int ew_gen;              /* current stamp of ew_stamp */
  /* scan bodies (a loop's step graph) */
  size_t base;             /* state offset of this body's arena (set when its exprs are made) */
  const char *tag;         /* unique suffix of its names ("" for an entry point) */
  const struct dn_em_body *outer; /* the enclosing body, NULL for an entry point */
  const dn_node *scan;     /* the SCAN node it is the body of */
} dn_em_body;

/* The buffer of one SCAN loop: stacked states that some SCAN_GET reads, current states,
 * staging for results that alias a state, the step slices of the sequences, then the
 * body's own arena. Offsets are relative to the buffer; SIZE_MAX marks an absent part. */
typedef struct dn_em_scan {
  dn_em_body body;         /* the step graph */
  size_t *stack_off;       /* per state: stacked values [B, T, ...] */
  size_t *cur_off;         /* per state: the current value */
  size_t *next_off;        /* per state: staging of its new value */
  char *stack_only;        /* per state: only its stack is read (a value saved for the
                            * backward loop): each new value goes from the body straight there */
  size_t *x_off;           /* per sequence: the step's slice [B, ...] */
  size_t body_off;         /* the body's arena */
  size_t base;             /* state offset of the buffer (after the enclosing plan) */
} dn_em_scan;

/* The state: fixed part, the largest arena of all bodies, then the kernels' scratch. */
size_t dn_em_scratch_off(const dn_em *em);
size_t dn_em_state_bytes(const dn_em *em);

/* Parameter index in em->params of a graph's parameter (matched by name). */
int dn_em_param_index(const dn_em *em, const dn_graph *g, int gparam);

/* plan.c: liveness intervals and offsets for the body's arena buffers. */
void dn_em_plan_build(dn_em_body *b, size_t esize);
void dn_em_plan_dump(const dn_em_body *b, const char *what, size_t fixed, FILE *out);

/* emit_ew.c: prints the loop of a fused elementwise group rooted at n into `out`. */
void dn_em_ew(dn_em *em, dn_em_body *b, dn_buf *c, const dn_node *n, const char *out);
/* A C floating literal of type real. */
const char *dn_em_lit(const dn_em *em, double v);
/* Vectorizable exp and tanh of float code (P_expf, P_tanhf). */
void dn_em_math_helpers(dn_em *em, dn_buf *c, int tanh);
/* The counter-based RNG of RAND_UNIFORM. */
void dn_em_ew_helpers(dn_em *em, dn_buf *c);

/* emit_api.c: the header's declarations (dn_em_api), then P_params, P_grads, P_init,
 * P_load, P_save and the typed entry points (dn_em_api_defs), and main(). */
void dn_em_api(dn_em *em, dn_graph *infer, dn_graph *train, dn_buf *c);
void dn_em_api_defs(dn_em *em, dn_graph *infer, dn_graph *train, dn_buf *c);
void dn_em_main(dn_em *em, dn_graph *infer, dn_buf *c);

#endif
