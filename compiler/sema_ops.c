/* sema_ops.c - the built-in calls of SPEC 2.5: argument binding, shape rules, lowering.
 *
 * Each built-in is one row of `builtins` (name, parameter names, required count, handler,
 * whether it creates parameters) and one handler that checks its arguments, reports user
 * errors with the rule that failed, and builds IR nodes with full shapes. Layer handlers
 * evaluate their tensor arguments before claiming their unit name, so nested layers are
 * named in evaluation order (SPEC 2.6).
 */
#include "sema.h"

#include <math.h>
#include <string.h>

typedef sv (*builtin_fn)(sema *s, dn_ast *call, dn_ast **a);

typedef struct builtin {
  const char *name;              /* callee name */
  const char *params[10];        /* parameter names, NULL-terminated */
  int required;                  /* leading parameters that must be given */
  builtin_fn fn;                 /* handler */
  int layer;                     /* creates parameters (a naming unit) */
  int variadic;                  /* takes any number of positional tensors (concat) */
} builtin;

static const builtin *find_builtin(const char *name);

/* --- argument binding ----------------------------------------------------------- */

/* Text "(x, filters, kernel)" of the first n names. */
static const char *names_text(const char *const *names, int n) {
  const char *t = "";
  for (int i = 0; i < n && names[i]; i++) t = dn_fmt("%s%s%s", t, i ? ", " : "", names[i]);
  return dn_fmt("(%s)", t);
}

int dn_sema_bind_args(dn_ast *call, const char *const *names, int required, dn_ast **out) {
  int np = 0, npos = 0;
  while (names[np]) np++;
  for (int i = 0; i < np; i++) out[i] = NULL;
  for (int i = 0; i < call->args.n; i++) {
    dn_ast *a = call->args.v[i];
    if (a->kind != DN_AST_KWARG) {
      if (npos >= np) {
        dn_error(a->loc, "%s takes at most %d argument%s %s, got %d", call->name, np, np == 1 ? "" : "s",
                 names_text(names, np), call->args.n);
        return 1;
      }
      out[npos++] = a;
      continue;
    }
    int slot = -1, best = 1 << 30;
    const char *near = NULL;
    for (int j = 0; j < np; j++) {
      if (strcmp(names[j], a->name) == 0) slot = j;
      int d = dn_edit_distance(names[j], a->name);
      if (d < best) best = d, near = names[j];
    }
    if (slot < 0) {
      if (best <= 2) dn_error(a->loc, "%s has no keyword argument '%s'; did you mean '%s'?", call->name, a->name, near);
      else dn_error(a->loc, "%s has no keyword argument '%s' (it takes %s)", call->name, a->name, names_text(names, np));
      return 1;
    }
    if (out[slot]) {
      dn_error(a->loc, "argument '%s' of %s is given twice", a->name, call->name);
      return 1;
    }
    out[slot] = a->a;
  }
  for (int j = 0; j < required; j++)
    if (!out[j]) {
      dn_error(call->loc, "%s expects at least %d argument%s %s, missing '%s'", call->name, required,
               required == 1 ? "" : "s", names_text(names, required), names[j]);
      return 1;
    }
  return 0;
}

/* --- argument values ---------------------------------------------------------------- */

/* Rejects same/valid/true/false/lists where a number is expected. */
static int not_a_number(dn_ast *e, const char *what) {
  const char *got = e->kind == DN_AST_SAME ? "same" : e->kind == DN_AST_VALID ? "valid"
                  : e->kind == DN_AST_BOOL ? (e->num != 0 ? "true" : "false") : e->kind == DN_AST_LIST ? "a list" : NULL;
  if (!got) return 0;
  dn_error(e->loc, "%s expects a number, got %s", what, got);
  return 1;
}

static int arg_int(sema *s, dn_ast *e, const char *what, int64_t lo, int64_t hi, int64_t def, int64_t *out) {
  if (!e) {
    *out = def;
    return 0;
  }
  if (not_a_number(e, what)) return 1;
  return dn_sema_int(s, e, what, lo, hi, out);
}

static int arg_num(sema *s, dn_ast *e, const char *what, double def, double *out) {
  if (!e) {
    *out = def;
    return 0;
  }
  if (not_a_number(e, what)) return 1;
  return dn_sema_number(s, e, what, out);
}

static int arg_bool(dn_ast *e, const char *what, int def, int *out) {
  if (!e) {
    *out = def;
    return 0;
  }
  if (e->kind != DN_AST_BOOL) {
    dn_error(e->loc, "%s expects true or false", what);
    return 1;
  }
  *out = e->num != 0;
  return 0;
}

/* An int or [h, w] (1-D ops: one int). */
static int arg_pair(sema *s, dn_ast *e, const char *what, int64_t lo, int64_t def, int two, int64_t *h, int64_t *w) {
  if (!e) {
    *h = *w = def;
    return 0;
  }
  if (e->kind == DN_AST_LIST) {
    if (!two || e->args.n != 2) {
      dn_error(e->loc, two ? "%s expects an integer or [h, w], got a list of %d" : "%s expects an integer", what, e->args.n);
      return 1;
    }
    return dn_sema_int(s, e->args.v[0], what, lo, 1 << 20, h) || dn_sema_int(s, e->args.v[1], what, lo, 1 << 20, w);
  }
  if (e->kind != DN_AST_NUM && e->kind != DN_AST_NAME && e->kind != DN_AST_BINOP && e->kind != DN_AST_NEG) {
    dn_error(e->loc, two ? "%s expects an integer or [h, w]" : "%s expects an integer", what);
    return 1;
  }
  if (dn_sema_int(s, e, what, lo, 1 << 20, h)) return 1;
  *w = *h;
  return 0;
}

/* pad = int | [h, w] | same | valid; *same set for `same`. */
static int arg_pad(sema *s, dn_ast *e, const char *fn, int two, int allow_same, int64_t *ph, int64_t *pw, int *same) {
  *same = 0;
  if (e && e->kind == DN_AST_VALID) {
    *ph = *pw = 0;
    return 0;
  }
  if (e && e->kind == DN_AST_SAME) {
    if (!allow_same) {
      dn_error(e->loc, "%s does not support pad=same; give the padding as an integer", fn);
      return 1;
    }
    *same = 1;
    *ph = *pw = 0;
    return 0;
  }
  if (e && e->kind == DN_AST_BOOL) {
    dn_error(e->loc, "pad expects an integer, [h, w], same or valid, got %s", e->num != 0 ? "true" : "false");
    return 1;
  }
  return arg_pair(s, e, "pad", 0, 0, two, ph, pw);
}

/* --- shared lowering helpers ------------------------------------------------------------ */

/* A float tensor with exactly `rank` per-sample axes, else an error naming the layout. */
static dn_node *tensor_rank(sema *s, dn_ast *e, const char *fn, int rank, const char *layout) {
  dn_node *x = dn_sema_tensor(s, e, dn_fmt("the input of %s", fn));
  if (!x) return NULL;
  if (dn_sample_shape(x).rank != rank) {
    dn_error(e->loc, "%s expects a %s input, got %s", fn, layout, dn_sema_sstr(x));
    return NULL;
  }
  return x;
}

/* Parameter `v` [C] reshaped to broadcast along axis `axis` of per-sample rank `rank`. */
static dn_node *along_axis(sema *s, dn_node *v, int rank, int axis, int batched, dn_loc loc) {
  int64_t d[DN_MAX_RANK];
  int n = 0;
  if (batched) d[n++] = 1;
  for (int i = 0; i < rank; i++) d[n++] = i == axis ? v->shape.dim[0] : 1;
  return dn_ir_reshape(s->g, v, dn_shape_make(n, d), loc);
}

/* Creates layer parameter UNIT.suffix with the PyTorch default init; returns its node. */
static dn_node *layer_param(sema *s, const char *unit, const char *suffix, dn_shape sh, int64_t fan_in, dn_loc loc) {
  int idx = dn_sema_new_param(s, dn_fmt("%s.%s", unit, suffix), sh, DN_INIT_DEFAULT, fan_in, loc);
  return idx < 0 ? NULL : dn_sema_param_node(s, idx, loc);
}

/* Adds a per-channel bias [F] along per-sample axis `axis` of y. */
static dn_node *add_bias(sema *s, dn_node *y, dn_node *b, int axis, dn_loc loc) {
  dn_node *bb = along_axis(s, b, dn_sample_shape(y).rank, axis, y->batched, loc);
  return dn_ir_binary(s->g, DN_OP_ADD, y, bb, loc);
}

/* Full shape: the leading (batch) axes of x, then `tail`. */
static dn_shape with_lead(const dn_node *x, int keep, const int64_t *tail, int nt) {
  dn_shape s = {0};
  for (int i = 0; i < keep; i++) s.dim[s.rank++] = x->shape.dim[i];
  for (int i = 0; i < nt; i++) s.dim[s.rank++] = tail[i];
  return s;
}

/* --- dense and convolutions ------------------------------------------------------------------ */

/* dense(x, units, bias=true): [..., in] -> [..., units], one GEMM over all rows. */
static sv b_dense(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of dense");
  int64_t units;
  int bias;
  if (!x || arg_int(s, a[1], "units", 1, DN_SEMA_MAX_ELEMS, 1, &units) || arg_bool(a[2], "bias", 1, &bias)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (ps.rank < 1) {
    dn_error(a[0]->loc, "dense expects an input with at least one axis [..., in], got %s", dn_shape_str(ps));
    return sv_none();
  }
  int64_t in = ps.dim[ps.rank - 1];
  const char *unit = dn_sema_unit_name(s);
  dn_node *w = layer_param(s, unit, "weight", dn_shape_of(2, units, in), in, call->loc);
  dn_node *b = bias ? layer_param(s, unit, "bias", dn_shape_of(1, units), in, call->loc) : NULL;
  if (!w || (bias && !b)) return sv_none();
  dn_shape out = x->shape, pso = ps;
  out.dim[out.rank - 1] = units;
  pso.dim[pso.rank - 1] = units;
  if (dn_sema_check_shape(call->loc, pso, "the dense output")) return sv_none();
  dn_gemm gm = {.m = dn_shape_count(x->shape) / in, .n = units, .k = in, .tb = 1, .nb = 1};
  dn_node *y = dn_ir_gemm(s->g, x, w, gm, out, x->batched, call->loc);
  return sv_tensor(b ? add_bias(s, y, b, ps.rank - 1, call->loc) : y);
}

/* Output size of a window along one axis; -1 when empty. Sets *pad for pad=same. */
static int64_t win_out(int64_t in, int64_t k, int64_t st, int64_t *pad, int64_t dil, int same) {
  if (same) {
    int64_t out = (in + st - 1) / st, total = (out - 1) * st + dil * (k - 1) + 1 - in;
    *pad = total > 0 ? total / 2 : 0;
    return out;
  }
  int64_t span = in + 2 * *pad - dil * (k - 1) - 1;
  return span < 0 ? -1 : span / st + 1;
}

typedef struct conv_args {
  int64_t F, kh, kw, sh, sw, ph, pw, dh, dw, groups, opad_h, opad_w;
  int same, bias;
} conv_args;

/* Reads filters, kernel, stride, pad, dilation, groups, bias (1-D: two = 0). */
static int conv_read(sema *s, dn_ast **a, const char *fn, int two, int transpose, conv_args *c) {
  if (arg_int(s, a[1], "filters", 1, 1 << 24, 1, &c->F) || arg_pair(s, a[2], "kernel", 1, 1, two, &c->kh, &c->kw) ||
      arg_pair(s, a[3], "stride", 1, 1, two, &c->sh, &c->sw) ||
      arg_pad(s, a[4], fn, two, !transpose, &c->ph, &c->pw, &c->same))
    return 1;
  if (transpose)
    return arg_pair(s, a[5], "output_pad", 0, 0, two, &c->opad_h, &c->opad_w) ||
           arg_pair(s, a[6], "dilation", 1, 1, two, &c->dh, &c->dw) || arg_bool(a[7], "bias", 1, &c->bias) ||
           ((c->groups = 1), 0);
  return arg_pair(s, a[5], "dilation", 1, 1, two, &c->dh, &c->dw) ||
         arg_int(s, a[6], "groups", 1, 1 << 20, 1, &c->groups) || arg_bool(a[7], "bias", 1, &c->bias);
}

/* Convolution on x viewed as [..., C, H, W] (conv1d passes H = 1). */
static dn_node *conv_core(sema *s, dn_ast *call, dn_node *x4, int64_t C, int64_t H, int64_t W, conv_args *c,
                          const char *fn, dn_node **wout, const char *unit, int two) {
  if (C % c->groups || c->F % c->groups) {
    dn_error(call->loc, "%s: groups=%lld must divide both the input channels (%lld) and the filters (%lld)", fn,
             (long long)c->groups, (long long)C, (long long)c->F);
    return NULL;
  }
  int64_t ph = c->ph, pw = c->pw;
  int64_t oh = two ? win_out(H, c->kh, c->sh, &ph, c->dh, c->same) : 1;
  int64_t ow = win_out(W, c->kw, c->sw, &pw, c->dw, c->same);
  if (oh < 1 || ow < 1) {
    dn_error(call->loc, "%s output would be empty: input %s%lld with kernel %lld, stride %lld, pad %lld, dilation %lld "
             "(out = floor((in + 2*pad - dilation*(kernel-1) - 1) / stride) + 1 must be at least 1)",
             fn, two ? dn_fmt("%lldx", (long long)H) : "", (long long)W, (long long)(oh < 1 ? c->kh : c->kw),
             (long long)(oh < 1 ? c->sh : c->sw), (long long)(oh < 1 ? c->ph : c->pw), (long long)(oh < 1 ? c->dh : c->dw));
    return NULL;
  }
  int64_t cg = C / c->groups;
  dn_shape wsh = two ? dn_shape_of(4, c->F, cg, c->kh, c->kw) : dn_shape_of(3, c->F, cg, c->kw);
  dn_node *w = layer_param(s, unit, "weight", wsh, cg * c->kh * c->kw, call->loc);
  if (!w) return NULL;
  if (!two) w = dn_ir_reshape(s->g, w, dn_shape_of(4, c->F, cg, (int64_t)1, c->kw), call->loc);
  dn_window win = {(int)c->kh, (int)c->kw, (int)c->sh, (int)c->sw, (int)ph, (int)pw, (int)c->dh, (int)c->dw, (int)c->groups};
  int64_t tail[3] = {c->F, oh, ow};
  dn_shape out = with_lead(x4, x4->shape.rank - 3, tail, 3);
  if (dn_sema_check_shape(call->loc, dn_shape_of(3, c->F, oh, ow), dn_fmt("the %s output", fn))) return NULL;
  *wout = w;
  return dn_ir_conv(s->g, DN_OP_CONV2D, x4, w, win, out, call->loc);
}

/* conv2d(x, filters, kernel, stride=1, pad=0, dilation=1, groups=1, bias=true) */
static sv b_conv2d(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = tensor_rank(s, a[0], "conv2d", 3, "[C, H, W]");
  conv_args c = {0};
  if (!x || conv_read(s, a, "conv2d", 1, 0, &c)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  const char *unit = dn_sema_unit_name(s);
  dn_node *w, *y = conv_core(s, call, x, ps.dim[0], ps.dim[1], ps.dim[2], &c, "conv2d", &w, unit, 1);
  if (!y) return sv_none();
  if (!c.bias) return sv_tensor(y);
  dn_node *b = layer_param(s, unit, "bias", dn_shape_of(1, c.F), ps.dim[0] / c.groups * c.kh * c.kw, call->loc);
  return b ? sv_tensor(add_bias(s, y, b, 0, call->loc)) : sv_none();
}

/* conv1d(x, filters, kernel, ...): [C, L] -> [F, L'] as a conv2d with H = 1. */
static sv b_conv1d(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = tensor_rank(s, a[0], "conv1d", 2, "[C, L]");
  conv_args c = {0};
  if (!x || conv_read(s, a, "conv1d", 0, 0, &c)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  c.kh = c.sh = c.dh = 1;
  c.ph = 0;
  dn_node *x4 = dn_sema_reshape_sample(s, x, dn_shape_of(3, ps.dim[0], (int64_t)1, ps.dim[1]), call->loc);
  const char *unit = dn_sema_unit_name(s);
  dn_node *w, *y = conv_core(s, call, x4, ps.dim[0], 1, ps.dim[1], &c, "conv1d", &w, unit, 0);
  if (!y) return sv_none();
  y = dn_sema_reshape_sample(s, y, dn_shape_of(2, c.F, y->shape.dim[y->shape.rank - 1]), call->loc);
  if (!c.bias) return sv_tensor(y);
  dn_node *b = layer_param(s, unit, "bias", dn_shape_of(1, c.F), ps.dim[0] / c.groups * c.kw, call->loc);
  return b ? sv_tensor(add_bias(s, y, b, 0, call->loc)) : sv_none();
}

/* conv2d_transpose(x, filters, kernel, stride=1, pad=0, output_pad=0, dilation=1, bias=true):
 * out = (in-1)*stride - 2*pad + dilation*(k-1) + output_pad + 1; weight [C, F, kh, kw]. */
static sv b_conv2d_transpose(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = tensor_rank(s, a[0], "conv2d_transpose", 3, "[C, H, W]");
  conv_args c = {0};
  if (!x || conv_read(s, a, "conv2d_transpose", 1, 1, &c)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if ((c.opad_h >= c.sh && c.opad_h >= c.dh) || (c.opad_w >= c.sw && c.opad_w >= c.dw)) {
    dn_error(call->loc, "conv2d_transpose: output_pad must be smaller than stride or dilation");
    return sv_none();
  }
  int64_t oh = (ps.dim[1] - 1) * c.sh - 2 * c.ph + c.dh * (c.kh - 1) + c.opad_h + 1;
  int64_t ow = (ps.dim[2] - 1) * c.sw - 2 * c.pw + c.dw * (c.kw - 1) + c.opad_w + 1;
  if (oh < 1 || ow < 1) {
    dn_error(call->loc, "conv2d_transpose output would be empty (%lldx%lld): out = (in-1)*stride - 2*pad + "
             "dilation*(kernel-1) + output_pad + 1", (long long)oh, (long long)ow);
    return sv_none();
  }
  if (dn_sema_check_shape(call->loc, dn_shape_of(3, c.F, oh, ow), "the conv2d_transpose output")) return sv_none();
  const char *unit = dn_sema_unit_name(s);
  dn_node *w = layer_param(s, unit, "weight", dn_shape_of(4, ps.dim[0], c.F, c.kh, c.kw), c.F * c.kh * c.kw, call->loc);
  dn_node *b = c.bias ? layer_param(s, unit, "bias", dn_shape_of(1, c.F), c.F * c.kh * c.kw, call->loc) : NULL;
  if (!w || (c.bias && !b)) return sv_none();
  dn_window win = {(int)c.kh, (int)c.kw, (int)c.sh, (int)c.sw, (int)c.ph, (int)c.pw, (int)c.dh, (int)c.dw, 1};
  int64_t tail[3] = {c.F, oh, ow};
  dn_node *y = dn_ir_conv(s->g, DN_OP_CONV2D_BWD_DATA, x, w, win, with_lead(x, x->shape.rank - 3, tail, 3), call->loc);
  return sv_tensor(b ? add_bias(s, y, b, 0, call->loc) : y);
}

/* --- pooling ---------------------------------------------------------------------------- */

/* Shared pooling: kind 0 max, 1 avg, 2 l2; two = 2-D. */
static sv pool(sema *s, dn_ast *call, dn_ast **a, int kind, int two) {
  const char *fn = call->name;
  dn_node *x = tensor_rank(s, a[0], fn, two ? 3 : 2, two ? "[C, H, W]" : "[C, L]");
  int64_t kh, kw, sh, sw, ph, pw;
  int same;
  if (!x || arg_pair(s, a[1], "size", 1, 1, two, &kh, &kw)) return sv_none();
  if (arg_pair(s, a[2], "stride", 1, 1, two, &sh, &sw)) return sv_none();
  if (!a[2]) sh = kh, sw = kw;
  if (arg_pad(s, a[3], fn, two, 1, &ph, &pw, &same)) return sv_none();
  if (!two) kh = sh = 1, ph = 0;
  if (!same && (2 * ph > kh || 2 * pw > kw)) {
    dn_error(call->loc, "%s: pad must be at most half the window size (pad %lld, size %lld)", fn,
             (long long)(2 * ph > kh ? ph : pw), (long long)(2 * ph > kh ? kh : kw));
    return sv_none();
  }
  dn_shape ps = dn_sample_shape(x);
  int64_t C = ps.dim[0], H = two ? ps.dim[1] : 1, W = ps.dim[ps.rank - 1];
  dn_node *x4 = two ? x : dn_sema_reshape_sample(s, x, dn_shape_of(3, C, (int64_t)1, W), call->loc);
  int64_t oh = two ? win_out(H, kh, sh, &ph, 1, same) : 1, ow = win_out(W, kw, sw, &pw, 1, same);
  if (oh < 1 || ow < 1) {
    dn_error(call->loc, "%s output would be empty: input %s with size %lld, stride %lld, pad %lld", fn,
             dn_shape_str(ps), (long long)(oh < 1 ? kh : kw), (long long)(oh < 1 ? sh : sw), (long long)(oh < 1 ? ph : pw));
    return sv_none();
  }
  dn_window win = {(int)kh, (int)kw, (int)sh, (int)sw, (int)ph, (int)pw, 1, 1, 1};
  int64_t tail[3] = {C, oh, ow};
  dn_shape out = with_lead(x4, x4->shape.rank - 3, tail, 3);
  dn_node *in = kind == 2 ? dn_ir_unary(s->g, DN_OP_SQUARE, x4, call->loc) : x4;
  dn_node *y = dn_ir_pool(s->g, kind == 0 ? DN_OP_MAXPOOL2D : DN_OP_SUMPOOL2D, 1, &in, win, out, call->loc);
  if (kind == 1) y = dn_sema_scale(s, y, 1.0 / (double)(kh * kw), call->loc);
  if (kind == 2) y = dn_ir_unary(s->g, DN_OP_SQRT, y, call->loc);
  if (!two) y = dn_sema_reshape_sample(s, y, dn_shape_of(2, C, ow), call->loc);
  return sv_tensor(y);
}

static sv b_maxpool(sema *s, dn_ast *c, dn_ast **a) { return pool(s, c, a, 0, 1); }
static sv b_avgpool(sema *s, dn_ast *c, dn_ast **a) { return pool(s, c, a, 1, 1); }
static sv b_l2pool(sema *s, dn_ast *c, dn_ast **a) { return pool(s, c, a, 2, 1); }
static sv b_maxpool1d(sema *s, dn_ast *c, dn_ast **a) { return pool(s, c, a, 0, 0); }
static sv b_avgpool1d(sema *s, dn_ast *c, dn_ast **a) { return pool(s, c, a, 1, 0); }

/* global_avgpool(x): [C, ...] -> [C], the mean over every axis after the channel. */
static sv b_global_avgpool(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of global_avgpool");
  if (!x) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (ps.rank < 2) {
    dn_error(a[0]->loc, "global_avgpool expects a [C, H, W] (or [C, L]) input, got %s", dn_shape_str(ps));
    return sv_none();
  }
  uint32_t axes = ((1u << ps.rank) - 1) & ~1u;
  dn_node *r = dn_sema_reduce(s, DN_OP_REDUCE_SUM, x, axes, call->loc);
  return sv_tensor(dn_sema_scale(s, r, (double)ps.dim[0] / (double)dn_shape_count(ps), call->loc));
}

/* --- normalization and regularization --------------------------------------------------------- */

/* batchnorm(x, momentum=0.1, eps=1e-5) over channel axis 0 of the per-sample shape. */
static sv b_batchnorm(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of batchnorm");
  double mom, eps;
  if (!x || arg_num(s, a[1], "momentum", 0.1, &mom) || arg_num(s, a[2], "eps", 1e-5, &eps)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (ps.rank < 1 || !(mom >= 0 && mom <= 1) || !(eps > 0)) {
    dn_error(call->loc, ps.rank < 1 ? "batchnorm expects an input [C, ...], got a per-sample scalar"
                                    : "batchnorm needs 0 <= momentum <= 1 and eps > 0");
    return sv_none();
  }
  int64_t C = ps.dim[0];
  const char *unit = dn_sema_unit_name(s);
  dn_shape cs = dn_shape_of(1, C);
  int iw = dn_sema_new_param(s, dn_fmt("%s.weight", unit), cs, DN_INIT_ONES, C, call->loc);
  int ib = dn_sema_new_param(s, dn_fmt("%s.bias", unit), cs, DN_INIT_ZEROS, C, call->loc);
  int im = dn_sema_new_param(s, dn_fmt("%s.running_mean", unit), cs, DN_INIT_ZEROS, C, call->loc);
  int iv = dn_sema_new_param(s, dn_fmt("%s.running_var", unit), cs, DN_INIT_ONES, C, call->loc);
  if (iw < 0 || ib < 0 || im < 0 || iv < 0) return sv_none();
  ((dn_param *)s->root->params.v[im])->trainable = 0;
  ((dn_param *)s->root->params.v[iv])->trainable = 0;
  dn_loc l = call->loc;
  int off = x->batched;
  dn_node *w = along_axis(s, dn_sema_param_node(s, iw, l), ps.rank, 0, off, l);
  dn_node *b = along_axis(s, dn_sema_param_node(s, ib, l), ps.rank, 0, off, l);
  dn_node *mean, *var;
  if (s->root->mode == DN_MODE_TRAIN) {
    uint32_t axes = ((1u << x->shape.rank) - 1) & ~(1u << off);
    int64_t count = dn_shape_count(x->shape) / C;
    mean = dn_sema_scale(s, dn_ir_reduce(s->g, DN_OP_REDUCE_SUM, x, axes, l), 1.0 / (double)count, l);
    dn_node *d = dn_ir_binary(s->g, DN_OP_SUB, x, mean, l);
    var = dn_sema_scale(s, dn_ir_reduce(s->g, DN_OP_REDUCE_SUM, dn_ir_unary(s->g, DN_OP_SQUARE, d, l), axes, l),
                        1.0 / (double)count, l);
    dn_node *rm = dn_sema_param_node(s, im, l), *rv = dn_sema_param_node(s, iv, l);
    dn_node *mc = dn_ir_reshape(s->g, mean, cs, l), *vc = dn_ir_reshape(s->g, var, cs, l);
    double unbias = count > 1 ? (double)count / (double)(count - 1) : 1.0;
    dn_node *nm = dn_ir_binary(s->g, DN_OP_ADD, dn_sema_scale(s, rm, 1 - mom, l), dn_sema_scale(s, mc, mom, l), l);
    dn_node *nv = dn_ir_binary(s->g, DN_OP_ADD, dn_sema_scale(s, rv, 1 - mom, l), dn_sema_scale(s, vc, mom * unbias, l), l);
    dn_ir_assign(s->g, rm, nm, l);
    dn_ir_assign(s->g, rv, nv, l);
  } else {
    mean = along_axis(s, dn_sema_param_node(s, im, l), ps.rank, 0, off, l);
    var = along_axis(s, dn_sema_param_node(s, iv, l), ps.rank, 0, off, l);
  }
  dn_node *d = dn_ir_binary(s->g, DN_OP_SUB, x, mean, l);
  dn_node *inv = dn_ir_unary(s->g, DN_OP_POWC, dn_ir_binary(s->g, DN_OP_ADD, var, dn_ir_scalar(s->g, eps, l), l), l);
  inv->alpha = -0.5;
  dn_node *y = dn_ir_binary(s->g, DN_OP_MUL, dn_ir_binary(s->g, DN_OP_MUL, d, inv, l), w, l);
  return sv_tensor(dn_ir_binary(s->g, DN_OP_ADD, y, b, l));
}

/* dropout(x, p): x * (rand >= p) / (1 - p) in training, x in inference. */
static sv b_dropout(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of dropout");
  double p;
  if (!x || arg_num(s, a[1], "p", 0.5, &p)) return sv_none();
  if (!(p >= 0 && p < 1)) {
    dn_error(a[1] ? a[1]->loc : call->loc, "dropout probability must be in [0, 1), got %g", p);
    return sv_none();
  }
  if (s->root->mode != DN_MODE_TRAIN || p == 0) return sv_tensor(x);
  dn_node *r = dn_ir_rand(s->g, 0, 1, x->shape, x->batched, call->loc);
  dn_node *keep = dn_ir_binary(s->g, DN_OP_GT, r, dn_ir_scalar(s->g, p, call->loc), call->loc);
  return sv_tensor(dn_sema_scale(s, dn_ir_binary(s->g, DN_OP_MUL, x, keep, call->loc), 1.0 / (1 - p), call->loc));
}

/* relu(x) + slope * min(x, 0) */
static dn_node *leaky_by(sema *s, dn_node *x, dn_node *slope, dn_loc l, int bcast) {
  dn_node *pos = dn_ir_unary(s->g, DN_OP_RELU, x, l);
  dn_node *neg = dn_ir_binary(s->g, DN_OP_MIN, x, dn_ir_scalar(s->g, 0, l), l);
  dn_node *sn = bcast ? dn_sema_broadcast(s, DN_OP_MUL, slope, neg, l, "prelu") : dn_ir_binary(s->g, DN_OP_MUL, slope, neg, l);
  return dn_sema_broadcast(s, DN_OP_ADD, pos, sn, l, "prelu");
}

/* rrelu(x, lower=1/8, upper=1/3): random slope per element in training, the mean slope otherwise. */
static sv b_rrelu(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of rrelu");
  double lo, hi;
  if (!x || arg_num(s, a[1], "lower", 1.0 / 8, &lo) || arg_num(s, a[2], "upper", 1.0 / 3, &hi)) return sv_none();
  if (!(lo <= hi)) {
    dn_error(call->loc, "rrelu needs lower <= upper, got %g and %g", lo, hi);
    return sv_none();
  }
  if (s->root->mode != DN_MODE_TRAIN) {
    dn_node *y = dn_ir_unary(s->g, DN_OP_LEAKY_RELU, x, call->loc);
    y->alpha = (lo + hi) / 2;
    return sv_tensor(y);
  }
  dn_node *r = dn_ir_rand(s->g, lo, hi, x->shape, x->batched, call->loc);
  return sv_tensor(leaky_by(s, x, r, call->loc, 0));
}

/* prelu(x): one learned slope `weight` [1], init 0.25. */
static sv b_prelu(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of prelu");
  if (!x) return sv_none();
  const char *unit = dn_sema_unit_name(s);
  int idx = dn_sema_new_param(s, dn_fmt("%s.weight", unit), dn_shape_of(1, (int64_t)1), DN_INIT_CONST, 1, call->loc);
  if (idx < 0) return sv_none();
  ((dn_param *)s->root->params.v[idx])->init_a = 0.25;
  dn_node *w = dn_ir_reshape(s->g, dn_sema_param_node(s, idx, call->loc), dn_shape_make(0, NULL), call->loc);
  return sv_tensor(leaky_by(s, x, w, call->loc, 1));
}

/* maxout(x, k): max over consecutive groups of k along per-sample axis 0. */
static sv b_maxout(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], "the input of maxout");
  int64_t k;
  if (!x || arg_int(s, a[1], "k", 1, 1 << 20, 1, &k)) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (ps.rank < 1 || ps.dim[0] % k || ps.rank + 1 > DN_MAX_RANK - 1) {
    dn_error(call->loc, "maxout(x, %lld) needs axis 0 of x to be a multiple of %lld, got %s", (long long)k, (long long)k,
             dn_shape_str(ps));
    return sv_none();
  }
  dn_shape g = {0};
  g.dim[g.rank++] = ps.dim[0] / k;
  g.dim[g.rank++] = k;
  for (int i = 1; i < ps.rank; i++) g.dim[g.rank++] = ps.dim[i];
  return sv_tensor(dn_sema_reduce(s, DN_OP_REDUCE_MAX, dn_sema_reshape_sample(s, x, g, call->loc), 2u, call->loc));
}

/* --- elementwise ----------------------------------------------------------------------------- */

/* Folds a math function of a number (sqrt(2) in a constant expression); NAN = no fold. */
static double fold_unary(dn_op op, double v) {
  switch (op) {
  case DN_OP_EXP: return exp(v);
  case DN_OP_LOG: return v > 0 ? log(v) : NAN;
  case DN_OP_SQRT: return v >= 0 ? sqrt(v) : NAN;
  case DN_OP_ABS: return fabs(v);
  case DN_OP_SQUARE: return v * v;
  case DN_OP_SIN: return sin(v);
  case DN_OP_COS: return cos(v);
  case DN_OP_TANH: return tanh(v);
  case DN_OP_SIGMOID: return 1 / (1 + exp(-v));
  case DN_OP_RELU: return v > 0 ? v : 0;
  default: return NAN;
  }
}

/* Maps a unary built-in name to its op. */
static dn_op unary_op(const char *n) {
  static const struct { const char *name; dn_op op; } t[] = {
      {"relu", DN_OP_RELU}, {"sigmoid", DN_OP_SIGMOID}, {"tanh", DN_OP_TANH}, {"softplus", DN_OP_SOFTPLUS},
      {"step", DN_OP_STEP}, {"sign", DN_OP_SIGN},       {"exp", DN_OP_EXP},   {"log", DN_OP_LOG},
      {"sqrt", DN_OP_SQRT}, {"abs", DN_OP_ABS},         {"square", DN_OP_SQUARE}, {"sin", DN_OP_SIN},
      {"cos", DN_OP_COS},   {"elu", DN_OP_ELU},         {"leaky_relu", DN_OP_LEAKY_RELU},
      {"hardtanh", DN_OP_HARDTANH}, {"clamp", DN_OP_CLAMP}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(t[i].name, n) == 0) return t[i].op;
  dn_die("no unary op for %s", n);
}

/* relu(x), elu(x, alpha), leaky_relu(x, slope), hardtanh(x, lo, hi), clamp(x, lo, hi), ... */
static sv b_unary(sema *s, dn_ast *call, dn_ast **a) {
  dn_op op = unary_op(call->name);
  sv v = dn_sema_eval(s, a[0]);
  if (v.kind == SV_NONE) return v;
  double p1 = 0, p2 = 0;
  if (op == DN_OP_ELU && arg_num(s, a[1], "alpha", 1, &p1)) return sv_none();
  if (op == DN_OP_LEAKY_RELU && arg_num(s, a[1], "slope", 0.01, &p1)) return sv_none();
  if ((op == DN_OP_HARDTANH || op == DN_OP_CLAMP) &&
      (arg_num(s, a[1], "lo", -1, &p1) || arg_num(s, a[2], "hi", 1, &p2)))
    return sv_none();
  if ((op == DN_OP_HARDTANH || op == DN_OP_CLAMP) && !(p1 <= p2)) {
    dn_error(call->loc, "%s needs lo <= hi, got %g and %g", call->name, p1, p2);
    return sv_none();
  }
  if (v.kind == SV_NUM) {
    double r = fold_unary(op, v.num);
    if (!isnan(r)) return sv_num(r, 0);
  }
  dn_node *x = dn_sema_float_of(s, v, a[0]->loc, dn_fmt("the argument of %s", call->name));
  if (!x) return sv_none();
  dn_node *y = dn_ir_unary(s->g, op, x, call->loc);
  y->alpha = p1;
  y->beta = p2;
  return sv_tensor(y);
}

/* pow(x, p), max(a, b), min(a, b): binary with broadcasting; numbers allowed. */
static sv b_binary(sema *s, dn_ast *call, dn_ast **a) {
  sv x = dn_sema_eval(s, a[0]), y = dn_sema_eval(s, a[1]);
  if (x.kind == SV_NONE || y.kind == SV_NONE) return sv_none();
  int p = call->name[0] == 'p', mx = strcmp(call->name, "max") == 0;
  if (x.kind == SV_NUM && y.kind == SV_NUM)
    return sv_num(p ? pow(x.num, y.num) : mx ? fmax(x.num, y.num) : fmin(x.num, y.num), 0);
  dn_node *u = dn_sema_float_of(s, x, a[0]->loc, dn_fmt("the first argument of %s", call->name));
  dn_node *v = dn_sema_float_of(s, y, a[1]->loc, dn_fmt("the second argument of %s", call->name));
  if (!u || !v) return sv_none();
  if (p && y.kind == SV_NUM) {
    dn_node *r = dn_ir_unary(s->g, DN_OP_POWC, u, call->loc);
    r->alpha = y.num;
    return sv_tensor(r);
  }
  return sv_tensor(dn_sema_broadcast(s, p ? DN_OP_POW : mx ? DN_OP_MAX : DN_OP_MIN, u, v, call->loc, call->name));
}

/* --- reductions and normalizers ------------------------------------------------------------ */

/* Normalizes axis=k (negative from the end) for per-sample rank r; -1 after an error. */
static int arg_axis(sema *s, dn_ast *e, int r, int def, const char *fn) {
  int64_t k;
  if (!e) return def;
  if (arg_int(s, e, "axis", -64, 64, 0, &k)) return -1;
  if (k < -r || k >= r) {
    dn_error(e->loc, "%s: axis %lld is out of range for a tensor with %d per-sample axes", fn, (long long)k, r);
    return -1;
  }
  return (int)(k < 0 ? k + r : k);
}

/* sum(x), mean(x), reduce_max(x) over all axes or axis=k (removed). */
static sv b_reduce(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], dn_fmt("the argument of %s", call->name));
  if (!x) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  int ax = arg_axis(s, a[1], ps.rank, -2, call->name);
  if (ax == -1) return sv_none();
  if (ps.rank == 0) return sv_tensor(x);
  uint32_t axes = ax == -2 ? (1u << ps.rank) - 1 : 1u << ax;
  int mx = strcmp(call->name, "reduce_max") == 0;
  dn_node *r = dn_sema_reduce(s, mx ? DN_OP_REDUCE_MAX : DN_OP_REDUCE_SUM, x, axes, call->loc);
  if (call->name[0] == 'm' && !mx) {
    int64_t n = ax == -2 ? dn_shape_count(ps) : ps.dim[ax];
    r = dn_sema_scale(s, r, 1.0 / (double)n, call->loc);
  }
  return sv_tensor(r);
}

/* softmax / log_softmax (keep the shape), logsumexp (removes the axis); axis=-1. */
static sv b_axis_op(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_tensor(s, a[0], dn_fmt("the argument of %s", call->name));
  if (!x) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  if (ps.rank == 0) {
    dn_error(a[0]->loc, "%s needs a tensor with at least one axis, got a per-sample scalar", call->name);
    return sv_none();
  }
  int ax = arg_axis(s, a[1], ps.rank, ps.rank - 1, call->name);
  if (ax < 0) return sv_none();
  dn_op op = call->name[0] == 's' ? DN_OP_SOFTMAX : call->name[3] == '_' ? DN_OP_LOG_SOFTMAX : DN_OP_LOGSUMEXP;
  dn_node *y = dn_ir_axis_op(s->g, op, x, ax + x->batched, call->loc);
  if (op != DN_OP_LOGSUMEXP) return sv_tensor(y);
  dn_shape keep = {0};
  for (int i = 0; i < ps.rank; i++)
    if (i != ax) keep.dim[keep.rank++] = ps.dim[i];
  return sv_tensor(dn_sema_reshape_sample(s, y, keep, call->loc));
}

/* --- shape ops ------------------------------------------------------------------------------ */

/* A shape list [d1, ...] (one -1 allowed when allow_infer). */
static int arg_dims(sema *s, dn_ast *e, const char *fn, int allow_infer, dn_shape *out, int *infer_at) {
  *infer_at = -1;
  memset(out, 0, sizeof *out);
  if (!e || e->kind != DN_AST_LIST) {
    dn_error(e ? e->loc : (dn_loc){0}, "%s expects a shape [d1, ..., dk]", fn);
    return 1;
  }
  if (e->args.n > DN_MAX_RANK - 1) {
    dn_error(e->loc, "%s: at most %d axes", fn, DN_MAX_RANK - 1);
    return 1;
  }
  for (int i = 0; i < e->args.n; i++) {
    int64_t d;
    if (dn_sema_int(s, e->args.v[i], "a dimension", allow_infer ? -1 : 1, DN_SEMA_MAX_ELEMS, &d)) return 1;
    if (d == 0 || (d == -1 && *infer_at >= 0)) {
      dn_error(((dn_ast *)e->args.v[i])->loc, d == 0 ? "dimensions must be at least 1" : "only one dimension may be -1");
      return 1;
    }
    if (d == -1) *infer_at = i;
    out->dim[out->rank++] = d;
  }
  return 0;
}

static sv b_flatten(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_any_tensor(s, a[0], "the argument of flatten");
  if (!x) return sv_none();
  return sv_tensor(dn_sema_reshape_sample(s, x, dn_shape_of(1, dn_shape_count(dn_sample_shape(x))), call->loc));
}

static sv b_reshape(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_any_tensor(s, a[0], "the argument of reshape");
  dn_shape d;
  int at;
  if (!x || arg_dims(s, a[1], "reshape", 1, &d, &at)) return sv_none();
  int64_t have = dn_shape_count(dn_sample_shape(x)), known = 1;
  for (int i = 0; i < d.rank; i++)
    if (i != at) {
      if (known > have) break;
      known *= d.dim[i];
    }
  if (at >= 0 && known <= have && have % known == 0) d.dim[at] = have / known;
  if (at >= 0 ? (known > have || have % known) : known != have) {
    dn_error(call->loc, "reshape cannot turn %s (%lld elements) into %s", dn_shape_str(dn_sample_shape(x)),
             (long long)have, dn_shape_str(d));
    return sv_none();
  }
  return sv_tensor(dn_sema_reshape_sample(s, x, d, call->loc));
}

static sv b_transpose(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *x = dn_sema_any_tensor(s, a[0], "the argument of transpose");
  if (!x) return sv_none();
  dn_shape ps = dn_sample_shape(x);
  int perm[DN_MAX_RANK], full[DN_MAX_RANK], seen[DN_MAX_RANK] = {0};
  if (!a[1]) {
    if (ps.rank != 2) {
      dn_error(call->loc, "transpose of a tensor %s needs a permutation, e.g. transpose(x, [1, 0, 2])", dn_shape_str(ps));
      return sv_none();
    }
    perm[0] = 1, perm[1] = 0;
  } else {
    if (a[1]->kind != DN_AST_LIST || a[1]->args.n != ps.rank) {
      dn_error(a[1]->loc, "transpose expects a permutation of the %d axes of %s", ps.rank, dn_shape_str(ps));
      return sv_none();
    }
    for (int i = 0; i < ps.rank; i++) {
      int64_t k;
      if (dn_sema_int(s, a[1]->args.v[i], "an axis", 0, ps.rank - 1, &k)) return sv_none();
      if (seen[k]++) {
        dn_error(((dn_ast *)a[1]->args.v[i])->loc, "axis %lld appears twice in the permutation", (long long)k);
        return sv_none();
      }
      perm[i] = (int)k;
    }
  }
  int off = x->batched;
  if (off) full[0] = 0;
  for (int i = 0; i < ps.rank; i++) full[i + off] = perm[i] + off;
  return sv_tensor(dn_ir_transpose(s->g, x, full, call->loc));
}

/* concat(a, b, ..., axis=0): equal shapes except along the axis. */
static sv b_concat(sema *s, dn_ast *call, dn_ast **a) {
  int n = 0;
  dn_ast *axis_e = NULL;
  dn_node **xs = dn_alloc(sizeof(dn_node *) * (size_t)(call->args.n + 1));
  int batched = 0, bad = 0;
  (void)a;
  for (int i = 0; i < call->args.n; i++) {
    dn_ast *e = call->args.v[i];
    if (e->kind == DN_AST_KWARG) {
      if (strcmp(e->name, "axis")) {
        dn_error(e->loc, "concat has no keyword argument '%s' (it takes axis=)", e->name);
        return sv_none();
      }
      axis_e = e->a;
      continue;
    }
    xs[n] = dn_sema_tensor(s, e, "an argument of concat");
    bad |= !xs[n];
    if (xs[n]) batched |= xs[n]->batched;
    n++;
  }
  if (bad) return sv_none();
  if (n == 0) {
    dn_error(call->loc, "concat needs at least one tensor");
    return sv_none();
  }
  dn_shape p0 = dn_sample_shape(xs[0]);
  int ax = arg_axis(s, axis_e, p0.rank, 0, "concat");
  if (ax < 0) return sv_none();
  for (int i = 1; i < n; i++) {
    dn_shape pi = dn_sample_shape(xs[i]);
    int ok = pi.rank == p0.rank;
    for (int d = 0; ok && d < p0.rank; d++) ok = d == ax || pi.dim[d] == p0.dim[d];
    if (!ok) {
      dn_error(((dn_ast *)call->args.v[i])->loc, "concat along axis %d: %s does not fit %s (all other axes must be equal)",
               ax, dn_shape_str(pi), dn_shape_str(p0));
      return sv_none();
    }
  }
  if (n == 1) return sv_tensor(xs[0]);
  for (int i = 0; i < n && batched; i++) xs[i] = dn_sema_batched(s, xs[i], call->loc);
  return sv_tensor(dn_ir_concat(s->g, n, xs, ax + batched, call->loc));
}

/* zeros([dims]) / ones([dims]): constants shared by all samples. */
static sv b_fill(sema *s, dn_ast *call, dn_ast **a) {
  dn_shape d;
  int at;
  if (arg_dims(s, a[0], call->name, 0, &d, &at)) return sv_none();
  if (dn_sema_check_shape(a[0]->loc, d, call->name)) return sv_none();
  return sv_tensor(dn_ir_const(s->g, call->name[0] == 'o' ? 1 : 0, d, call->loc));
}

/* range(T): the constant [T] of 0 .. T-1. */
static sv b_range(sema *s, dn_ast *call, dn_ast **a) {
  int64_t T;
  if (arg_int(s, a[0], "T", 1, 1 << 24, 1, &T)) return sv_none();
  float *v = dn_alloc(sizeof(float) * (size_t)T);
  for (int64_t i = 0; i < T; i++) v[i] = (float)i;
  return sv_tensor(dn_ir_const_data(s->g, v, dn_shape_of(1, T), call->loc));
}

/* A class tensor argument, else an error. */
static dn_node *class_arg(sema *s, dn_ast *e, const char *what) {
  dn_node *y = dn_sema_any_tensor(s, e, what);
  if (y && y->dtype != DN_I32) {
    dn_error(e->loc, "%s must be a class tensor (input y : class(K)), got floats %s", what, dn_sema_sstr(y));
    return NULL;
  }
  return y;
}

static sv b_onehot(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *y = class_arg(s, a[0], "the first argument of onehot");
  int64_t K;
  if (!y || arg_int(s, a[1], "K", 1, 1 << 24, 1, &K)) return sv_none();
  if (K < y->classes) {
    dn_error(a[1]->loc, "onehot(y, %lld): y is class(%lld), so K must be at least %lld", (long long)K,
             (long long)y->classes, (long long)y->classes);
    return sv_none();
  }
  return sv_tensor(dn_ir_onehot(s->g, y, K, call->loc));
}

/* embedding(y, K, dim): weight [K, dim] (normal(1) as PyTorch) indexed by class y. */
static sv b_embedding(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *y = class_arg(s, a[0], "the first argument of embedding");
  int64_t K, D;
  if (!y || arg_int(s, a[1], "K", 1, 1 << 24, 1, &K) || arg_int(s, a[2], "dim", 1, 1 << 24, 1, &D)) return sv_none();
  if (K < y->classes) {
    dn_error(a[1]->loc, "embedding(y, %lld, ...): y is class(%lld), so K must be at least %lld", (long long)K,
             (long long)y->classes, (long long)y->classes);
    return sv_none();
  }
  const char *unit = dn_sema_unit_name(s);
  int idx = dn_sema_new_param(s, dn_fmt("%s.weight", unit), dn_shape_of(2, K, D), DN_INIT_NORMAL, D, call->loc);
  if (idx < 0) return sv_none();
  ((dn_param *)s->root->params.v[idx])->init_a = 1.0;
  return sv_tensor(dn_ir_embed(s->g, dn_sema_param_node(s, idx, call->loc), y, call->loc));
}

/* --- losses ------------------------------------------------------------------------------- */

/* -mean(pick(logp, y)) with class labels matching logp [..., K]. */
static dn_node *pick_loss(sema *s, dn_ast *call, dn_node *lp, dn_node *y, dn_ast *ye) {
  dn_shape pl = dn_sample_shape(lp), py = dn_sample_shape(y);
  int64_t K = pl.dim[pl.rank - 1];
  int ok = py.rank == pl.rank - 1;
  for (int i = 0; ok && i < py.rank; i++) ok = py.dim[i] == pl.dim[i];
  if (!ok) {
    dn_error(call->loc, "%s: labels %s do not fit scores %s (labels must have the scores' shape without its last axis)",
             call->name, dn_sema_sstr(y), dn_shape_str(pl));
    return NULL;
  }
  if (y->classes != K) {
    dn_error(ye->loc, "%s: the scores have %lld classes (last axis of %s) but the labels are class(%lld); they must match",
             call->name, (long long)K, dn_shape_str(pl), (long long)y->classes);
    return NULL;
  }
  lp = dn_sema_batched(s, lp, call->loc);
  y = dn_sema_batched(s, y, call->loc);
  dn_node *p = dn_ir_pick(s->g, lp, y, call->loc);
  return dn_ir_unary(s->g, DN_OP_NEG, dn_sema_sample_mean(s, p, call->loc), call->loc);
}

/* Two float arguments of equal per-sample shape. */
static int same_pair(sema *s, dn_ast *call, dn_ast **a, dn_node **p, dn_node **t) {
  *p = dn_sema_tensor(s, a[0], dn_fmt("the first argument of %s", call->name));
  *t = dn_sema_tensor(s, a[1], dn_fmt("the second argument of %s", call->name));
  if (!*p || !*t) return 1;
  if (!dn_shape_eq(dn_sample_shape(*p), dn_sample_shape(*t))) {
    dn_error(call->loc, "%s expects a prediction and a target of the same shape, got %s and %s", call->name,
             dn_sema_sstr(*p), dn_sema_sstr(*t));
    return 1;
  }
  return 0;
}

static sv b_cross_entropy(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *z = dn_sema_tensor(s, a[0], "the logits of cross_entropy");
  dn_node *y = dn_sema_any_tensor(s, a[1], "the labels of cross_entropy");
  if (!z || !y) return sv_none();
  dn_shape pz = dn_sample_shape(z);
  if (pz.rank < 1) {
    dn_error(a[0]->loc, "cross_entropy expects logits [..., K], got a per-sample scalar");
    return sv_none();
  }
  dn_node *ls = dn_ir_axis_op(s->g, DN_OP_LOG_SOFTMAX, z, z->shape.rank - 1, call->loc);
  if (y->dtype == DN_I32) return sv_tensor(pick_loss(s, call, ls, y, a[1]));
  if (!dn_shape_eq(dn_sample_shape(y), pz)) {
    dn_error(call->loc, "cross_entropy with a float target needs logits and target of the same shape, got %s and %s",
             dn_shape_str(pz), dn_sema_sstr(y));
    return sv_none();
  }
  dn_node *prod = dn_sema_broadcast(s, DN_OP_MUL, y, ls, call->loc, "cross_entropy");
  dn_node *sum = dn_sema_reduce(s, DN_OP_REDUCE_SUM, prod, 1u << (pz.rank - 1), call->loc);
  return sv_tensor(dn_ir_unary(s->g, DN_OP_NEG, dn_sema_sample_mean(s, sum, call->loc), call->loc));
}

static sv b_nll(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *z = dn_sema_tensor(s, a[0], "the log-probabilities of nll");
  dn_node *y = class_arg(s, a[1], "the labels of nll");
  if (!z || !y) return sv_none();
  if (dn_sample_shape(z).rank < 1) {
    dn_error(a[0]->loc, "nll expects log-probabilities [..., K], got a per-sample scalar");
    return sv_none();
  }
  return sv_tensor(pick_loss(s, call, z, y, a[1]));
}

static sv b_mse(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *p, *t;
  if (same_pair(s, call, a, &p, &t)) return sv_none();
  dn_node *d = dn_sema_broadcast(s, DN_OP_SUB, p, t, call->loc, "mse");
  return sv_tensor(dn_sema_sample_mean(s, dn_ir_unary(s->g, DN_OP_SQUARE, d, call->loc), call->loc));
}

/* bce(p, t) = -(t * max(log p, -100) + (1 - t) * max(log(1 - p), -100)), mean. */
static sv b_bce(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *p, *t;
  if (same_pair(s, call, a, &p, &t)) return sv_none();
  dn_loc l = call->loc;
  dn_node *lo = dn_ir_scalar(s->g, -100, l), *one = dn_ir_scalar(s->g, 1, l);
  dn_node *lp = dn_ir_binary(s->g, DN_OP_MAX, dn_ir_unary(s->g, DN_OP_LOG, p, l), lo, l);
  dn_node *lq = dn_ir_binary(s->g, DN_OP_MAX, dn_ir_unary(s->g, DN_OP_LOG, dn_ir_binary(s->g, DN_OP_SUB, one, p, l), l), lo, l);
  dn_node *a1 = dn_sema_broadcast(s, DN_OP_MUL, t, lp, l, "bce");
  dn_node *a2 = dn_sema_broadcast(s, DN_OP_MUL, dn_ir_binary(s->g, DN_OP_SUB, one, t, l), lq, l, "bce");
  dn_node *sum = dn_sema_broadcast(s, DN_OP_ADD, a1, a2, l, "bce");
  return sv_tensor(dn_ir_unary(s->g, DN_OP_NEG, dn_sema_sample_mean(s, sum, l), l));
}

static sv b_bce_logits(sema *s, dn_ast *call, dn_ast **a) {
  dn_node *z, *t;
  if (same_pair(s, call, a, &z, &t)) return sv_none();
  return sv_tensor(dn_sema_sample_mean(s, dn_sema_broadcast(s, DN_OP_BCE_LOGITS, z, t, call->loc, "bce_logits"), call->loc));
}

/* --- recurrent layers and scan-only forms --------------------------------------------------------- */

static sv b_rnn(sema *s, dn_ast *c, dn_ast **a) { return dn_sema_recurrent(s, c, a, 0); }
static sv b_lstm(sema *s, dn_ast *c, dn_ast **a) { return dn_sema_recurrent(s, c, a, 1); }
static sv b_gru(sema *s, dn_ast *c, dn_ast **a) { return dn_sema_recurrent(s, c, a, 2); }

static sv b_reverse(sema *s, dn_ast *call, dn_ast **a) {
  (void)s, (void)a;
  dn_error(call->loc, "reverse(...) is only allowed as the sequence of a scan: scan x in reverse(seq) { ... }");
  return sv_none();
}

/* --- the table ----------------------------------------------------------------------------- */

#define P(...) {__VA_ARGS__, NULL}
static const builtin builtins[] = {
    {"dense", P("x", "units", "bias"), 2, b_dense, 1, 0},
    {"conv1d", P("x", "filters", "kernel", "stride", "pad", "dilation", "groups", "bias"), 3, b_conv1d, 1, 0},
    {"conv2d", P("x", "filters", "kernel", "stride", "pad", "dilation", "groups", "bias"), 3, b_conv2d, 1, 0},
    {"conv2d_transpose", P("x", "filters", "kernel", "stride", "pad", "output_pad", "dilation", "bias"), 3,
     b_conv2d_transpose, 1, 0},
    {"rnn", P("x", "hidden", "activation", "reverse"), 2, b_rnn, 1, 0},
    {"lstm", P("x", "hidden", "reverse"), 2, b_lstm, 1, 0},
    {"gru", P("x", "hidden", "reverse"), 2, b_gru, 1, 0},
    {"batchnorm", P("x", "momentum", "eps"), 1, b_batchnorm, 1, 0},
    {"prelu", P("x"), 1, b_prelu, 1, 0},
    {"embedding", P("y", "K", "dim"), 3, b_embedding, 1, 0},
    {"maxpool", P("x", "size", "stride", "pad"), 2, b_maxpool, 0, 0},
    {"avgpool", P("x", "size", "stride", "pad"), 2, b_avgpool, 0, 0},
    {"l2pool", P("x", "size", "stride", "pad"), 2, b_l2pool, 0, 0},
    {"maxpool1d", P("x", "size", "stride", "pad"), 2, b_maxpool1d, 0, 0},
    {"avgpool1d", P("x", "size", "stride", "pad"), 2, b_avgpool1d, 0, 0},
    {"global_avgpool", P("x"), 1, b_global_avgpool, 0, 0},
    {"dropout", P("x", "p"), 2, b_dropout, 0, 0},
    {"rrelu", P("x", "lower", "upper"), 1, b_rrelu, 0, 0},
    {"maxout", P("x", "k"), 2, b_maxout, 0, 0},
    {"relu", P("x"), 1, b_unary, 0, 0},
    {"sigmoid", P("x"), 1, b_unary, 0, 0},
    {"tanh", P("x"), 1, b_unary, 0, 0},
    {"softplus", P("x"), 1, b_unary, 0, 0},
    {"step", P("x"), 1, b_unary, 0, 0},
    {"sign", P("x"), 1, b_unary, 0, 0},
    {"exp", P("x"), 1, b_unary, 0, 0},
    {"log", P("x"), 1, b_unary, 0, 0},
    {"sqrt", P("x"), 1, b_unary, 0, 0},
    {"abs", P("x"), 1, b_unary, 0, 0},
    {"square", P("x"), 1, b_unary, 0, 0},
    {"sin", P("x"), 1, b_unary, 0, 0},
    {"cos", P("x"), 1, b_unary, 0, 0},
    {"elu", P("x", "alpha"), 1, b_unary, 0, 0},
    {"leaky_relu", P("x", "slope"), 1, b_unary, 0, 0},
    {"hardtanh", P("x", "lo", "hi"), 1, b_unary, 0, 0},
    {"clamp", P("x", "lo", "hi"), 3, b_unary, 0, 0},
    {"pow", P("x", "p"), 2, b_binary, 0, 0},
    {"max", P("a", "b"), 2, b_binary, 0, 0},
    {"min", P("a", "b"), 2, b_binary, 0, 0},
    {"sum", P("x", "axis"), 1, b_reduce, 0, 0},
    {"mean", P("x", "axis"), 1, b_reduce, 0, 0},
    {"reduce_max", P("x", "axis"), 1, b_reduce, 0, 0},
    {"logsumexp", P("x", "axis"), 1, b_axis_op, 0, 0},
    {"softmax", P("x", "axis"), 1, b_axis_op, 0, 0},
    {"log_softmax", P("x", "axis"), 1, b_axis_op, 0, 0},
    {"flatten", P("x"), 1, b_flatten, 0, 0},
    {"reshape", P("x", "shape"), 2, b_reshape, 0, 0},
    {"transpose", P("x", "perm"), 1, b_transpose, 0, 0},
    {"concat", P("axis"), 0, b_concat, 0, 1},
    {"zeros", P("shape"), 1, b_fill, 0, 0},
    {"ones", P("shape"), 1, b_fill, 0, 0},
    {"range", P("T"), 1, b_range, 0, 0},
    {"onehot", P("y", "K"), 2, b_onehot, 0, 0},
    {"cross_entropy", P("logits", "y"), 2, b_cross_entropy, 0, 0},
    {"mse", P("p", "t"), 2, b_mse, 0, 0},
    {"bce", P("p", "t"), 2, b_bce, 0, 0},
    {"bce_logits", P("z", "t"), 2, b_bce_logits, 0, 0},
    {"nll", P("logp", "y"), 2, b_nll, 0, 0},
    {"reverse", P("seq"), 1, b_reverse, 0, 0},
};
#undef P

static const builtin *find_builtin(const char *name) {
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++)
    if (strcmp(builtins[i].name, name) == 0) return &builtins[i];
  return NULL;
}

int dn_sema_is_layer(const char *name) {
  const builtin *b = find_builtin(name);
  return b && b->layer;
}

int dn_sema_is_builtin(const char *name) { return find_builtin(name) != NULL; }

const char *dn_sema_builtin_nearest(const char *name, int *dist) {
  const char *pick = NULL;
  for (size_t i = 0; i < sizeof builtins / sizeof builtins[0]; i++) {
    int d = dn_edit_distance(name, builtins[i].name);
    if (d < *dist) *dist = d, pick = builtins[i].name;
  }
  return pick;
}

sv dn_sema_builtin(sema *s, dn_ast *call) {
  const builtin *b = find_builtin(call->name);
  dn_ast *a[10];
  if (b->variadic) return b->fn(s, call, a);
  if (dn_sema_bind_args(call, b->params, b->required, a)) return sv_none();
  return b->fn(s, call, a);
}
