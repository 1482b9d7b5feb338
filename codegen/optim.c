/* optim.c - emits gradient clipping and the optimizer update of P_train_step_v.
 *
 * The rules are torch.optim's single-tensor (foreach=False) code paths of torch 1.13,
 * transcribed operation by operation so that a dnncc step and a PyTorch step from the same
 * weights and gradients agree to rounding:
 *   SGD      d = g + wd*p; buf = (first step) ? d : mom*buf + (1-damp)*d;
 *            d = nesterov ? d + mom*buf : buf;  p -= lr*d
 *   RMSprop  g += wd*p; v = alpha*v + (1-alpha)*g*g; p -= lr * g / (sqrt(v) + eps)
 *   Adagrad  g += wd*p; s += g*g; p -= lr * g / (sqrt(s) + eps)      (lr_decay 0)
 *   Adadelta g += wd*p; v = rho*v + (1-rho)*g*g; std = sqrt(v + eps);
 *            delta = sqrt(u + eps) / std * g; u = rho*u + (1-rho)*delta^2; p -= lr*delta
 *   Adam     g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
 *            p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 * Clipping comes first: clip_value clamps every gradient element to [-v, v]
 * (clip_grad_value_), then clip_norm scales all gradients by min(1, max/(norm + 1e-6)) with
 * norm the global L2 norm (clip_grad_norm_, which multiplies by the clamped coefficient).
 * The clipped gradients are written back to the state, as PyTorch leaves them in p.grad.
 * Every hyperparameter is a literal in the emitted code; the step-dependent scalars (bias
 * corrections, SGD's first-step flag) are computed once per step before the loops.
 */
#include "optim.h"

#include <stdio.h>
#include <string.h>

/* A double as a C literal that round-trips exactly (always with a '.' or exponent). */
static const char *dn_cg_lit(char *buf, size_t n, double v) {
  snprintf(buf, n, "%.17g", v);
  if (!strpbrk(buf, ".eEn"))  /* integral: make it a floating literal */
    snprintf(buf + strlen(buf), n - strlen(buf), ".0");
  return buf;
}

int dn_cg_optim_nstate(const dn_train_cfg *cfg) {
  switch (cfg->optimizer) {
  case DN_SGD: return cfg->momentum != 0 ? 1 : 0;
  case DN_RMSPROP: return 1;
  case DN_ADAGRAD: return 1;
  case DN_ADADELTA: return 2;
  case DN_ADAM: return 2;
  }
  return 0;
}

/* The square root matching the element type (PyTorch's float tensors use float sqrt). */
static const char *dn_cg_sqrt(const char *real) { return strcmp(real, "float") == 0 ? "sqrtf" : "sqrt"; }

/* `real *NAME = (real *)(state + off);` */
/* Slots never overlap: restrict lets the C compiler vectorize the loops without run-time
 * overlap checks (GCC -O2 does not vectorize loops that need them). */
static void dn_cg_ptr(dn_buf *c, const char *real, const char *name, const char *state, size_t off) {
  dn_buf_printf(c, "    %s *restrict %s = (%s *)(void *)((%s) + %zu);\n", real, name, real, state, off);
}

/* The clipped gradient element `g` read from G[i] (clip_value, then the clip_norm scale). */
static void dn_cg_emit_grad_read(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char a[40];
  dn_buf_printf(c, "      %s g = G[i];\n", real);
  if (cfg->clip_value > 0) {
    dn_cg_lit(a, sizeof a, cfg->clip_value);
    dn_buf_printf(c, "      if (g > (%s)%s) g = (%s)%s;\n", real, a, real, a);
    dn_buf_printf(c, "      else if (g < -(%s)%s) g = -(%s)%s;\n", real, a, real, a);
  }
  if (cfg->clip_norm > 0)
    dn_buf_printf(c, "      g = g * dn_clip_coef;\n");
  if (cfg->clip_value > 0 || cfg->clip_norm > 0)
    dn_buf_printf(c, "      G[i] = g;\n");
}

/* The global gradient norm (after clip_value) and the clip coefficient dn_clip_coef. */
static void dn_cg_emit_clip_norm(dn_buf *c, const dn_train_cfg *cfg, const dn_cg_slot *slots, int n,
                                 const char *real, const char *state) {
  char a[40], m[40];
  dn_buf_printf(c, "  double dn_sumsq = 0.0;\n");
  for (int k = 0; k < n; k++) {
    dn_buf_printf(c, "  {\n");
    dn_cg_ptr(c, real, "G", state, slots[k].grad_off);
    dn_buf_printf(c, "    for (long i = 0; i < %lld; i++) {\n", (long long)slots[k].count);
    dn_buf_printf(c, "      %s g = G[i];\n", real);
    if (cfg->clip_value > 0) {
      dn_cg_lit(a, sizeof a, cfg->clip_value);
      dn_buf_printf(c, "      if (g > (%s)%s) g = (%s)%s;\n", real, a, real, a);
      dn_buf_printf(c, "      else if (g < -(%s)%s) g = -(%s)%s;\n", real, a, real, a);
    }
    dn_buf_printf(c, "      dn_sumsq += (double)g * (double)g;\n    }\n  }\n");
  }
  dn_cg_lit(m, sizeof m, cfg->clip_norm);
  dn_buf_printf(c, "  double dn_norm = sqrt(dn_sumsq);\n");
  dn_buf_printf(c, "  double dn_coef_d = %s / (dn_norm + 1e-6);\n", m);
  dn_buf_printf(c, "  %s dn_clip_coef = (%s)(dn_coef_d < 1.0 ? dn_coef_d : 1.0);\n", real, real);
}

/* `g = g + wd * p` when weight decay is on (PyTorch's grad.add(param, alpha=wd)). */
static void dn_cg_emit_decay(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char a[40];
  if (cfg->weight_decay != 0)
    dn_buf_printf(c, "      g = g + (%s)%s * P[i];\n", real, dn_cg_lit(a, sizeof a, cfg->weight_decay));
}

static void dn_cg_emit_sgd(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char lr[40], mo[40], dm[40];
  dn_cg_lit(lr, sizeof lr, cfg->lr);
  dn_cg_lit(mo, sizeof mo, cfg->momentum);
  dn_cg_lit(dm, sizeof dm, 1.0 - cfg->dampening);
  if (cfg->momentum != 0) {
    dn_buf_printf(c, "      S0[i] = dn_first ? g : (%s)%s * S0[i] + (%s)%s * g;\n", real, mo, real, dm);
    if (cfg->nesterov)
      dn_buf_printf(c, "      g = g + (%s)%s * S0[i];\n", real, mo);
    else
      dn_buf_printf(c, "      g = S0[i];\n");
  }
  dn_buf_printf(c, "      P[i] = P[i] - (%s)%s * g;\n", real, lr);
}

static void dn_cg_emit_rmsprop(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char lr[40], al[40], om[40], ep[40];
  dn_cg_lit(lr, sizeof lr, cfg->lr);
  dn_cg_lit(al, sizeof al, cfg->alpha);
  dn_cg_lit(om, sizeof om, 1.0 - cfg->alpha);
  dn_cg_lit(ep, sizeof ep, cfg->eps);
  dn_buf_printf(c, "      S0[i] = S0[i] * (%s)%s + (%s)%s * g * g;\n", real, al, real, om);
  dn_buf_printf(c, "      P[i] = P[i] - (%s)%s * (g / (%s(S0[i]) + (%s)%s));\n", real, lr, dn_cg_sqrt(real), real, ep);
}

static void dn_cg_emit_adagrad(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char lr[40], ep[40];
  dn_cg_lit(lr, sizeof lr, cfg->lr);
  dn_cg_lit(ep, sizeof ep, cfg->eps);
  dn_buf_printf(c, "      S0[i] = S0[i] + g * g;\n");
  dn_buf_printf(c, "      P[i] = P[i] - (%s)%s * (g / (%s(S0[i]) + (%s)%s));\n", real, lr, dn_cg_sqrt(real), real, ep);
}

static void dn_cg_emit_adadelta(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char lr[40], rho[40], om[40], ep[40];
  dn_cg_lit(lr, sizeof lr, cfg->lr);
  dn_cg_lit(rho, sizeof rho, cfg->rho);
  dn_cg_lit(om, sizeof om, 1.0 - cfg->rho);
  dn_cg_lit(ep, sizeof ep, cfg->eps);
  dn_buf_printf(c, "      S0[i] = S0[i] * (%s)%s + (%s)%s * g * g;\n", real, rho, real, om);
  dn_buf_printf(c, "      %s dn_std = %s(S0[i] + (%s)%s);\n", real, dn_cg_sqrt(real), real, ep);
  dn_buf_printf(c, "      %s dn_delta = %s(S1[i] + (%s)%s) / dn_std * g;\n", real, dn_cg_sqrt(real), real, ep);
  dn_buf_printf(c, "      S1[i] = S1[i] * (%s)%s + (%s)%s * dn_delta * dn_delta;\n", real, rho, real, om);
  dn_buf_printf(c, "      P[i] = P[i] - (%s)%s * dn_delta;\n", real, lr);
}

static void dn_cg_emit_adam(dn_buf *c, const dn_train_cfg *cfg, const char *real) {
  char b1[40], o1[40], b2[40], o2[40], ep[40];
  dn_cg_lit(b1, sizeof b1, cfg->beta1);
  dn_cg_lit(o1, sizeof o1, 1.0 - cfg->beta1);
  dn_cg_lit(b2, sizeof b2, cfg->beta2);
  dn_cg_lit(o2, sizeof o2, 1.0 - cfg->beta2);
  dn_cg_lit(ep, sizeof ep, cfg->eps);
  dn_buf_printf(c, "      S0[i] = S0[i] * (%s)%s + (%s)%s * g;\n", real, b1, real, o1);
  dn_buf_printf(c, "      S1[i] = S1[i] * (%s)%s + (%s)%s * g * g;\n", real, b2, real, o2);
  dn_buf_printf(c, "      P[i] = P[i] - dn_step_size * (S0[i] / (%s(S1[i]) / dn_bc2_sqrt + (%s)%s));\n",
                dn_cg_sqrt(real), real, ep);
}

/* Per-step scalars: SGD's first-step flag, Adam's bias corrections (in double, as
 * PyTorch computes them in Python floats). */
static void dn_cg_emit_step_scalars(dn_buf *c, const dn_train_cfg *cfg, const char *real, const char *step) {
  char a[40], b[40];
  if (cfg->optimizer == DN_SGD && cfg->momentum != 0)
    dn_buf_printf(c, "  const int dn_first = (%s) <= 1;\n", step);
  if (cfg->optimizer == DN_ADAM) {
    dn_buf_printf(c, "  const double dn_t = (double)(%s);\n", step);
    dn_buf_printf(c, "  const %s dn_step_size = (%s)(%s / (1.0 - pow(%s, dn_t)));\n", real, real,
                  dn_cg_lit(a, sizeof a, cfg->lr), dn_cg_lit(b, sizeof b, cfg->beta1));
    dn_buf_printf(c, "  const %s dn_bc2_sqrt = (%s)sqrt(1.0 - pow(%s, dn_t));\n", real, real,
                  dn_cg_lit(a, sizeof a, cfg->beta2));
  }
}

/* One fused loop: read (and clip) the gradient, decay, update state and parameter. */
static void dn_cg_emit_slot(dn_buf *c, const dn_train_cfg *cfg, const dn_cg_slot *s, int nstate, const char *real,
                            const char *state) {
  dn_buf_printf(c, "  { /* %s */\n", s->name ? s->name : "parameter");
  dn_cg_ptr(c, real, "P", state, s->param_off);
  dn_cg_ptr(c, real, "G", state, s->grad_off);
  if (nstate > 0) dn_cg_ptr(c, real, "S0", state, s->state_off[0]);
  if (nstate > 1) dn_cg_ptr(c, real, "S1", state, s->state_off[1]);
  dn_buf_printf(c, "    for (long i = 0; i < %lld; i++) {\n", (long long)s->count);
  dn_cg_emit_grad_read(c, cfg, real);
  dn_cg_emit_decay(c, cfg, real);
  switch (cfg->optimizer) {
  case DN_SGD: dn_cg_emit_sgd(c, cfg, real); break;
  case DN_RMSPROP: dn_cg_emit_rmsprop(c, cfg, real); break;
  case DN_ADAGRAD: dn_cg_emit_adagrad(c, cfg, real); break;
  case DN_ADADELTA: dn_cg_emit_adadelta(c, cfg, real); break;
  case DN_ADAM: dn_cg_emit_adam(c, cfg, real); break;
  }
  dn_buf_printf(c, "    }\n  }\n");
}

void dn_cg_emit_update(dn_buf *c, const dn_train_cfg *cfg, const dn_cg_slot *slots, int n, const char *real,
                       const char *state, const char *step) {
  int nstate = dn_cg_optim_nstate(cfg);
  if (n <= 0) {  /* nothing trainable: no per-step scalars (they would be unused variables) */
    dn_buf_printf(c, "  (void)(%s);\n", step);
    return;
  }
  dn_buf_printf(c, "  /* optimizer update */\n  {\n");
  if (cfg->clip_norm > 0) dn_cg_emit_clip_norm(c, cfg, slots, n, real, state);
  dn_cg_emit_step_scalars(c, cfg, real, step);
  for (int k = 0; k < n; k++) dn_cg_emit_slot(c, cfg, &slots[k], nstate, real, state);
  dn_buf_printf(c, "  (void)(%s);\n  }\n", step);
}
