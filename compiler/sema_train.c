/* sema_train.c - the `train { ... }` block (SPEC 2.8) as a dn_train_cfg with defaults.
 *
 * Values are compile-time numbers: literals, arithmetic, and top-level constants. The
 * optimizers take PyTorch's argument names and defaults (torch.optim.*). Without a train
 * block: adam(lr=0.001), batch 32, epochs 1, seed 1.
 */
#include "sema.h"

#include <math.h>
#include <string.h>

/* Folds a number expression; names are top-level constants of prog. Returns 0 or 1. */
static int cfg_num(dn_ast *prog, dn_ast *e, int depth, double *out, int *is_int) {
  if (depth > 64) {
    dn_error(e->loc, "constant definitions nested too deeply");
    return 1;
  }
  double a, b;
  int ia, ib;
  switch (e->kind) {
  case DN_AST_NUM: *out = e->num, *is_int = e->is_int; return 0;
  case DN_AST_NEG:
    if (cfg_num(prog, e->a, depth + 1, out, is_int)) return 1;
    *out = -*out;
    return 0;
  case DN_AST_BINOP:
    if (cfg_num(prog, e->a, depth + 1, &a, &ia) || cfg_num(prog, e->b, depth + 1, &b, &ib)) return 1;
    *is_int = ia && ib && e->op != '/' && e->op != '^';
    *out = e->op == '+' ? a + b : e->op == '-' ? a - b : e->op == '*' ? a * b : e->op == '/' ? a / b : e->op == '^' ? pow(a, b) : NAN;
    if (e->op == '/' && ia && ib && b != 0 && fmod(a, b) == 0) *is_int = 1;
    if (!isfinite(*out)) {
      dn_error(e->loc, "this setting is not a finite number");
      return 1;
    }
    return 0;
  case DN_AST_NAME:
    for (int i = 0; i < prog->body.n; i++) {
      dn_ast *st = prog->body.v[i];
      if (st->kind == DN_AST_BIND && strcmp(st->name, e->name) == 0) return cfg_num(prog, st->a, depth + 1, out, is_int);
    }
    dn_error(e->loc, "unknown constant '%s' in the train block", e->name);
    return 1;
  default:
    dn_error(e->loc, "a train setting must be a number");
    return 1;
  }
}

/* A setting in [lo, hi] (integer when want_int). */
static int cfg_value(dn_ast *prog, dn_ast *e, const char *key, int want_int, double lo, double hi, double *out) {
  int is_int;
  if (cfg_num(prog, e, 0, out, &is_int)) return 1;
  if (want_int && !is_int) {
    dn_error(e->loc, "%s must be an integer, got %g", key, *out);
    return 1;
  }
  if (!(*out >= lo && *out <= hi)) {
    dn_error(e->loc, "%s must be in [%g, %g], got %g", key, lo, hi, *out);
    return 1;
  }
  return 0;
}

typedef struct optim_spec {
  const char *name;          /* optimizer name */
  dn_optim kind;             /* enum */
  const char *args[7];       /* keyword names */
  double lr, eps;            /* PyTorch defaults */
} optim_spec;

static const optim_spec optims[] = {
    {"sgd", DN_SGD, {"lr", "momentum", "dampening", "weight_decay", "nesterov", NULL}, 0.001, 0},
    {"rmsprop", DN_RMSPROP, {"lr", "alpha", "eps", "weight_decay", "momentum", NULL}, 0.01, 1e-8},
    {"adagrad", DN_ADAGRAD, {"lr", "eps", "weight_decay", NULL}, 0.01, 1e-10},
    {"adadelta", DN_ADADELTA, {"lr", "rho", "eps", "weight_decay", NULL}, 1.0, 1e-6},
    {"adam", DN_ADAM, {"lr", "beta1", "beta2", "eps", "weight_decay", NULL}, 0.001, 1e-8},
};

/* Stores optimizer argument `name` = e into cfg. */
static int optim_arg(dn_ast *prog, dn_train_cfg *cfg, const char *name, dn_ast *e) {
  if (strcmp(name, "nesterov") == 0) {
    if (e->kind != DN_AST_BOOL) {
      dn_error(e->loc, "nesterov expects true or false");
      return 1;
    }
    cfg->nesterov = e->num != 0;
    return 0;
  }
  struct { const char *n; double *p; double lo, hi; } t[] = {
      {"lr", &cfg->lr, 1e-30, 1e30},         {"momentum", &cfg->momentum, 0, 1e30},
      {"dampening", &cfg->dampening, 0, 1},  {"weight_decay", &cfg->weight_decay, 0, 1e30},
      {"alpha", &cfg->alpha, 0, 1},          {"eps", &cfg->eps, 1e-30, 1},
      {"rho", &cfg->rho, 0, 1},              {"beta1", &cfg->beta1, 0, 0.999999999},
      {"beta2", &cfg->beta2, 0, 0.999999999}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    if (strcmp(t[i].n, name) == 0) return cfg_value(prog, e, name, 0, t[i].lo, t[i].hi, t[i].p);
  dn_die("optimizer argument %s has no slot", name);
}

/* optimizer = NAME(args) or NAME. */
static int cfg_optimizer(dn_ast *prog, dn_ast *e, dn_train_cfg *cfg) {
  if (e->kind != DN_AST_CALL && e->kind != DN_AST_NAME) {
    dn_error(e->loc, "optimizer expects sgd(...), rmsprop(...), adagrad(...), adadelta(...) or adam(...)");
    return 1;
  }
  const optim_spec *o = NULL;
  int best = 1 << 30;
  const char *near = NULL;
  for (size_t i = 0; i < sizeof optims / sizeof optims[0]; i++) {
    if (strcmp(optims[i].name, e->name) == 0) o = &optims[i];
    int d = dn_edit_distance(optims[i].name, e->name);
    if (d < best) best = d, near = optims[i].name;
  }
  if (!o) {
    if (best <= 3) dn_error(e->loc, "unknown optimizer '%s'; did you mean '%s'?", e->name, near);
    else dn_error(e->loc, "unknown optimizer '%s' (sgd, rmsprop, adagrad, adadelta, adam)", e->name);
    return 1;
  }
  cfg->optimizer = o->kind;
  cfg->lr = o->lr;
  cfg->eps = o->eps;
  if (e->kind == DN_AST_NAME) return 0;
  dn_ast *a[8];
  if (dn_sema_bind_args(e, o->args, 0, a)) return 1;
  for (int i = 0; o->args[i]; i++)
    if (a[i] && optim_arg(prog, cfg, o->args[i], a[i])) return 1;
  if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0)) {
    dn_error(e->loc, "nesterov momentum requires momentum > 0 and dampening = 0 (as in PyTorch)");
    return 1;
  }
  return 0;
}

static void cfg_defaults(dn_train_cfg *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->optimizer = DN_ADAM;
  cfg->lr = 0.001;
  cfg->alpha = 0.99;
  cfg->eps = 1e-8;
  cfg->rho = 0.9;
  cfg->beta1 = 0.9;
  cfg->beta2 = 0.999;
  cfg->batch = 32;
  cfg->epochs = 1;
  cfg->seed = 1;
}

/* One KEY = VALUE of the train block. */
static int cfg_setting(dn_ast *prog, dn_ast *st, dn_train_cfg *cfg) {
  static const char *const keys[] = {"optimizer", "batch", "epochs", "clip_norm", "clip_value", "seed", "tbptt", NULL};
  double v;
  const char *k = st->name;
  if (strcmp(k, "optimizer") == 0) return cfg_optimizer(prog, st->a, cfg);
  if (strcmp(k, "batch") == 0) return cfg_value(prog, st->a, k, 1, 1, 1 << 20, &v) || ((cfg->batch = (int64_t)v), 0);
  if (strcmp(k, "epochs") == 0) return cfg_value(prog, st->a, k, 1, 1, 1e9, &v) || ((cfg->epochs = (int64_t)v), 0);
  if (strcmp(k, "clip_norm") == 0) return cfg_value(prog, st->a, k, 0, 1e-30, 1e30, &cfg->clip_norm);
  if (strcmp(k, "clip_value") == 0) return cfg_value(prog, st->a, k, 0, 1e-30, 1e30, &cfg->clip_value);
  if (strcmp(k, "seed") == 0) return cfg_value(prog, st->a, k, 1, 0, 9007199254740992.0, &v) || ((cfg->seed = (uint64_t)v), 0);
  if (strcmp(k, "tbptt") == 0) return cfg_value(prog, st->a, k, 1, 0, 1 << 24, &v) || ((cfg->tbptt = (int64_t)v), 0);
  int best = 1 << 30;
  const char *near = NULL;
  for (int i = 0; keys[i]; i++) {
    int d = dn_edit_distance(keys[i], k);
    if (d < best) best = d, near = keys[i];
  }
  if (best <= 3) dn_error(st->name_loc, "unknown train setting '%s'; did you mean '%s'?", k, near);
  else dn_error(st->name_loc, "unknown train setting '%s' (optimizer, batch, epochs, clip_norm, clip_value, seed, tbptt)", k);
  return 1;
}

int dn_sema_train_cfg(dn_ast *prog, dn_train_cfg *cfg) {
  cfg_defaults(cfg);
  dn_ast *seen = NULL;
  int bad = 0;
  for (int i = 0; prog && i < prog->body.n; i++) {
    dn_ast *t = prog->body.v[i];
    if (t->kind != DN_AST_TRAIN) continue;
    if (seen) {
      dn_error(t->loc, "the model has two train blocks");
      dn_note(seen->loc, "the first is here");
      return 1;
    }
    seen = t;
    cfg->present = 1;
    for (int j = 0; j < t->body.n; j++) {
      dn_ast *st = t->body.v[j];
      for (int k = 0; k < j; k++)
        if (strcmp(((dn_ast *)t->body.v[k])->name, st->name) == 0) {
          dn_error(st->name_loc, "train setting '%s' is given twice", st->name);
          dn_note(((dn_ast *)t->body.v[k])->name_loc, "first given here");
          bad = 1;
        }
      bad |= cfg_setting(prog, st, cfg);
    }
  }
  return bad;
}
