/* ir.h - the graph IR: one node per tensor operation, in one op table (ops.def).
 *
 * A dn_graph is a list of nodes in topological order (every input precedes its user).
 * Shapes are FULL shapes: a `batched` node has the batch as axis 0 (graph->batch samples),
 * followed by the per-sample shape the user wrote; parameters and constants are unbatched.
 * The batch is fixed when a graph is built (1 for `dnncc check`). Every node keeps the
 * source location of the expression that made it, so later passes can report errors and
 * the emitter can write #line directives.
 *
 * Builders (dn_ir_*) are the IR-level shape rules: they compute the output shape from the
 * inputs and attributes and die on a broken invariant (user errors are reported earlier,
 * by the checker, with located diagnostics). Autodiff builds gradients with the same
 * builders.
 *
 * SCAN (recurrence, SPEC 2.7). A SCAN node's inputs are, in order: n_seq sequence tensors
 * (full shape [B, T, ...]), n_state initial states ([B, ...] each, batched), then n_outer
 * outer tensors the body reads. Its `body` is a graph whose leaves are SCAN_X (param = which
 * sequence; shape [B, ...]), SCAN_STATE (param = which state; previous value) and SCAN_OUTER
 * (param = which outer tensor), plus its own PARAM/CONST leaves (parameters are graph-wide:
 * a body PARAM node refers to the same graph->params entry as the outer graph). body->results
 * holds the new value of each state in order. scan.reverse runs t = T-1 .. 0; scan.steps = T.
 * SCAN_GET(scan node, axis = k) is the stacked state k, [B, T, ...], in time order;
 * SCAN_LAST(scan node, axis = k) its value after the last step processed (same shape as
 * the initial state, which may then be unbatched: the parameter-gradient accumulators of a
 * reverse scan built by autodiff). scan.loop = 1 marks a scan compiled as a time loop
 * (unroll.c decides); the others are unrolled before autodiff and never reach the emitter.
 */
#ifndef DNNCC_IR_H
#define DNNCC_IR_H

#include <stdint.h>
#include <stdio.h>

#include "diag.h"

#define DN_MAX_RANK 8

typedef enum dn_op {
#define OP(name, arity, flags, doc) DN_OP_##name,
#include "ops.def"
#undef OP
  DN_OP_COUNT
} dn_op;

enum {
  DN_F_LEAF = 1 << 0,    /* no inputs: storage comes from outside the node */
  DN_F_EW = 1 << 1,      /* elementwise with broadcasting: fusable into one loop nest */
  DN_F_VIEW = 1 << 2,    /* an alias of its input's storage */
  DN_F_NOGRAD = 1 << 3,  /* zero gradient by definition (no rule needed) */
  DN_F_RANDOM = 1 << 4,  /* draws random numbers */
  DN_F_SIDE = 1 << 5,    /* has a side effect; never removed as dead */
};

typedef struct dn_op_info {
  const char *name;  /* lower-case op name, as dumps print it */
  int arity;         /* inputs, -1 variadic */
  unsigned flags;    /* DN_F_* */
  const char *doc;   /* one-line semantics */
} dn_op_info;
extern const dn_op_info dn_ops[DN_OP_COUNT];

typedef enum dn_dtype { DN_F32, DN_I32 } dn_dtype;

typedef struct dn_shape {
  int rank;                  /* number of axes, 0 for a scalar */
  int64_t dim[DN_MAX_RANK];  /* sizes, each >= 1 */
} dn_shape;

/* Convolution and pooling window (2-D; 1-D ops use kh = sh = dh = 1, ph = 0). */
typedef struct dn_window {
  int kh, kw;   /* kernel */
  int sh, sw;   /* stride */
  int ph, pw;   /* padding before (top, left) */
  int dh, dw;   /* dilation */
  int groups;   /* convolution groups */
} dn_window;

/* Batched matrix product, see GEMM in ops.def. */
typedef struct dn_gemm {
  int64_t m, n, k;     /* op(A) is [m,k], op(B) is [k,n], C is [m,n] */
  int ta, tb;          /* transpose A / B */
  int64_t nb;          /* number of products */
  int64_t sa, sb, sc;  /* element strides between products; sc = 0 sums into one C */
} dn_gemm;

typedef enum dn_init_kind {
  DN_INIT_DEFAULT,    /* layer default (uniform +-1/sqrt(fan_in)); explicit param: xavier/zeros */
  DN_INIT_ZEROS, DN_INIT_ONES, DN_INIT_NORMAL, DN_INIT_UNIFORM,
  DN_INIT_XAVIER, DN_INIT_HE, DN_INIT_ORTHOGONAL,
  DN_INIT_CONST,      /* every element init_a (e.g. prelu 0.25) */
} dn_init_kind;

typedef struct dn_graph dn_graph;
typedef struct dn_node dn_node;

struct dn_node {
  dn_op op;            /* what it computes */
  int id;              /* index in its graph's nodes */
  int nin;             /* number of inputs */
  dn_node **in;        /* inputs */
  dn_shape shape;      /* full shape (batch axis first when batched) */
  dn_dtype dtype;      /* F32, or I32 for class tensors */
  int batched;         /* axis 0 is the batch */
  dn_loc loc;          /* the source expression that made it */
  const char *name;    /* binding or parameter name, for dumps; may be NULL */
  /* attributes: which ones an op reads is in its ops.def row */
  int param;           /* INPUT/PARAM/SCAN_* index */
  double alpha, beta;  /* float attributes */
  int axis;            /* SOFTMAX..LOGSUMEXP, SLICE/UNSLICE/CONCAT, SCAN_GET; INRANGE, MAXPOOL2D_BWD flags */
  uint32_t axes;       /* REDUCE_*: bit i set = axis i reduced */
  int perm[DN_MAX_RANK];   /* TRANSPOSE */
  int64_t start, stop; /* SLICE/UNSLICE */
  int64_t classes;     /* ONEHOT: K */
  dn_window win;       /* CONV2D*, *POOL2D* */
  dn_gemm gemm;        /* GEMM */
  const float *data;   /* CONST with explicit values (NULL: all alpha) */
  struct {             /* SCAN */
    dn_graph *body;    /* step graph */
    int n_seq, n_state, n_outer;
    int64_t steps;     /* T */
    int reverse;       /* run from the last step to the first */
    int loop;          /* kept as a loop (unroll.c), body PARAMs lifted to SCAN_OUTER */
    dn_node *primal;   /* an adjoint scan (autodiff.c): the forward scan it differentiates */
  } scan;
  dn_node *primal;     /* in an adjoint scan's body: the forward body node this one recomputes */
  void *aux;           /* private to the pass that runs now */
};

typedef struct dn_param {
  const char *name;        /* SPEC 2.6 name: the weight-file key */
  dn_shape shape;          /* unbatched */
  dn_init_kind init;       /* how P_init fills it */
  double init_a, init_b;   /* init arguments (std; lo, hi; bound) */
  int64_t fan_in, fan_out; /* for default/xavier/he */
  int trainable;           /* 0 for state such as running_mean */
  dn_loc loc;              /* where it is created */
} dn_param;

typedef struct dn_input {
  const char *name;        /* as declared */
  dn_shape sample;         /* per-sample shape (rank 0 for class(K)) */
  int is_class;            /* int32 class indices */
  int64_t classes;         /* K for class inputs */
  dn_loc loc;              /* declaration */
  dn_node *node;           /* its INPUT node (NULL if the graph does not use it) */
  int for_inference;       /* an output depends on it */
} dn_input;

typedef struct dn_output {
  const char *name;        /* output name */
  dn_node *node;           /* its value */
  dn_loc loc;
} dn_output;

/* One row of `dnncc check`'s summary table. */
typedef struct dn_binding {
  const char *name;        /* binding name */
  dn_shape sample;         /* per-sample shape */
  int is_class;            /* class-typed */
  int64_t n_params;        /* parameters created by this binding */
  int64_t flops;           /* forward FLOPs per sample */
  dn_loc loc;
} dn_binding;

typedef enum dn_optim { DN_SGD, DN_RMSPROP, DN_ADAGRAD, DN_ADADELTA, DN_ADAM } dn_optim;

typedef struct dn_train_cfg {
  dn_optim optimizer;      /* default adam? no: sgd(lr=0.01) when no train block */
  double lr, momentum, dampening, alpha, eps, rho, beta1, beta2, weight_decay;
  int nesterov;
  int64_t batch, epochs;   /* defaults 32, 1 */
  double clip_norm;        /* 0 = off */
  double clip_value;       /* 0 = off */
  uint64_t seed;           /* default 1 */
  int64_t tbptt;           /* 0 = full BPTT */
  int present;             /* the program had a train block */
} dn_train_cfg;

typedef enum dn_mode { DN_MODE_INFER, DN_MODE_TRAIN } dn_mode;

struct dn_graph {
  const char *model;       /* model name (C prefix) */
  const char *file;        /* source path */
  int64_t batch;           /* B */
  dn_mode mode;            /* inference (running stats, no dropout) or training */
  dn_vec nodes;            /* dn_node*, topological order */
  dn_vec params;           /* dn_param*, creation order (graph-wide, shared with scan bodies) */
  dn_vec inputs;           /* dn_input*, declaration order */
  dn_vec outputs;          /* dn_output*, declaration order */
  dn_vec bindings;         /* dn_binding*, source order (summary) */
  dn_vec results;          /* scan body: new state values, in state order */
  dn_node *loss;           /* per-sample loss [B] (NULL without `loss`) */
  dn_node *loss_mean;      /* scalar batch mean of loss: what training minimizes */
  dn_vec grads;            /* after autodiff: grads.v[i] = d loss_mean / d params[i] or NULL */
  dn_train_cfg train;      /* train block with defaults */
  dn_graph *parent;        /* scan bodies: the enclosing graph */
};

/* --- building ---------------------------------------------------------------- */
dn_graph *dn_graph_new(const char *model, int64_t batch, dn_mode mode);
dn_graph *dn_graph_new_body(dn_graph *parent);
dn_node *dn_node_add(dn_graph *g, dn_op op, int nin, dn_node **in, dn_shape shape, dn_loc loc);

dn_shape dn_shape_make(int rank, const int64_t *dims);
dn_shape dn_shape_of(int rank, ...);                      /* dims as int64_t varargs */
int64_t dn_shape_count(dn_shape s);                       /* product of dims */
int dn_shape_eq(dn_shape a, dn_shape b);
const char *dn_shape_str(dn_shape s);                     /* "[3, 4]" (arena) */
dn_shape dn_sample_shape(const dn_node *n);               /* drops the batch axis if batched */

/* Shape rules (IR level). Locations come from `loc`. */
dn_node *dn_ir_input(dn_graph *g, int index, dn_loc loc);
dn_node *dn_ir_param(dn_graph *g, int index, dn_loc loc);
dn_node *dn_ir_const(dn_graph *g, double value, dn_shape shape, dn_loc loc);   /* unbatched */
dn_node *dn_ir_const_data(dn_graph *g, const float *data, dn_shape shape, dn_loc loc);
dn_node *dn_ir_scalar(dn_graph *g, double value, dn_loc loc);                 /* rank 0 */
dn_node *dn_ir_unary(dn_graph *g, dn_op op, dn_node *x, dn_loc loc);          /* alpha/beta set after */
dn_node *dn_ir_stop_grad(dn_graph *g, dn_node *x, dn_loc loc);                /* x, detached */
dn_node *dn_ir_binary(dn_graph *g, dn_op op, dn_node *a, dn_node *b, dn_loc loc); /* same rank or scalar */
dn_node *dn_ir_rand(dn_graph *g, double lo, double hi, dn_shape shape, int batched, dn_loc loc);
dn_node *dn_ir_gemm(dn_graph *g, dn_node *a, dn_node *b, dn_gemm gm, dn_shape out, int batched, dn_loc loc);
dn_node *dn_ir_conv(dn_graph *g, dn_op op, dn_node *a, dn_node *b, dn_window w, dn_shape out, dn_loc loc);
dn_node *dn_ir_pool(dn_graph *g, dn_op op, int nin, dn_node **in, dn_window w, dn_shape out, dn_loc loc);
dn_node *dn_ir_reduce(dn_graph *g, dn_op op, dn_node *x, uint32_t axes, dn_loc loc);  /* keeps dims */
dn_node *dn_ir_expand(dn_graph *g, dn_node *x, dn_shape out, dn_loc loc);
dn_node *dn_ir_axis_op(dn_graph *g, dn_op op, dn_node *x, int axis, dn_loc loc);     /* SOFTMAX.. */
dn_node *dn_ir_pick(dn_graph *g, dn_node *x, dn_node *y, dn_loc loc);
dn_node *dn_ir_onehot(dn_graph *g, dn_node *y, int64_t classes, dn_loc loc);
dn_node *dn_ir_embed(dn_graph *g, dn_node *w, dn_node *y, dn_loc loc);
dn_node *dn_ir_embed_bwd(dn_graph *g, dn_node *dy, dn_node *y, dn_shape wshape, dn_loc loc);
dn_node *dn_ir_reshape(dn_graph *g, dn_node *x, dn_shape out, dn_loc loc);
dn_node *dn_ir_transpose(dn_graph *g, dn_node *x, const int *perm, dn_loc loc);
dn_node *dn_ir_slice(dn_graph *g, dn_node *x, int axis, int64_t start, int64_t stop, dn_loc loc);
dn_node *dn_ir_unslice(dn_graph *g, dn_node *x, int axis, int64_t start, dn_shape out, dn_loc loc);
dn_node *dn_ir_concat(dn_graph *g, int n, dn_node **xs, int axis, dn_loc loc);
dn_node *dn_ir_assign(dn_graph *g, dn_node *param, dn_node *value, dn_loc loc);

/* A copy of n appended to g, its inputs replaced by their aux pointers (the caller maps
 * every input first; dies on an unmapped one). */
dn_node *dn_node_copy_mapped(dn_graph *g, const dn_node *n);
/* Inserts m inputs xs into n's input list at position at. */
void dn_node_insert_inputs(dn_node *n, int at, dn_node **xs, int m);
/* Replaces every use of `from` by `to` in g's node inputs and scan-body results. */
void dn_graph_replace_uses(dn_graph *g, dn_node *from, dn_node *to);
/* Moves g's leaves (nodes without inputs) to the front and renumbers ids. */
void dn_graph_leaves_first(dn_graph *g);
/* Rebuilds g's node list with the nodes of `before` just before node a and those of `after`
 * just after it. They are new nodes their builders appended to g->nodes (ids n0 and up);
 * every node of g is placed once (dies otherwise). */
void dn_graph_place_around(dn_graph *g, dn_node *a, int n0, const dn_vec *before, const dn_vec *after);
/* SCAN_GET of state k of scan sc whose per-step value has shape step [B, ...]: the stacked
 * values [B, T, ...], batched. */
dn_node *dn_ir_scan_get(dn_graph *g, dn_node *sc, int k, dn_shape step, dn_loc loc);

/* FLOPs of one node for the whole batch (multiply-add = 2). */
int64_t dn_node_flops(const dn_node *n);

/* Text form (--dump ir): one line per node, `%id = op(%a, %b) [shape] attrs  @file:line:col`. */
void dn_ir_dump(const dn_graph *g, FILE *out);
void dn_ir_dump_node(const dn_node *n, FILE *out);

/* Checks the invariants (topological order, arity, shapes); dies on a violation. */
void dn_ir_verify(const dn_graph *g);

#endif
