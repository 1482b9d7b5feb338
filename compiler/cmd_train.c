/* cmd_train.c - `dnncc train`, `dnncc eval` and `dnncc sample` (SPEC 3).
 *
 * train: the train block (with command-line overrides) fixes optimizer, batch, epochs and
 * seed; the model is compiled with its training step; the data set is bound to the inputs
 * and fully checked; then epochs of shuffled full batches (the remainder of each epoch is
 * dropped, as DataLoader(drop_last=True) does), each followed by validation and test
 * evaluation, a CSV log row, a plot and a checkpoint, all written atomically. With --val
 * the saved weights are those of the best validation epoch (accuracy, then loss). The
 * loop's randomness (split, shuffles, augmentation) comes from one RNG whose state is
 * checkpointed with the whole state block, so --resume continues exactly where the last
 * completed epoch ended.
 * eval: loss and accuracy on the test split (the whole file for csv:/npy: data).
 * sample: character-level generation with a recurrent model trained on text: data.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "driver.h"
#include "dnrt_train.h"
#include "train_int.h"

/* One epoch's row of the log. */
typedef struct dn_epoch_row {
  int64_t epoch, step;
  double train_loss, val_loss, val_acc, test_loss, test_acc, seconds;
} dn_epoch_row;

/* Everything the training loop carries. */
typedef struct dn_trainer {
  const dn_options *o;
  dn_train_cfg cfg;        /* train block + overrides */
  dn_model m;
  dn_feed feed;
  dnrt_dataset tr, te;     /* training and test splits */
  int64_t *train_idx, n_train;
  int64_t *val_idx, n_val;
  int64_t *test_idx;
  uint64_t rng;            /* the loop's RNG (split, shuffles, augmentation) */
  dnrt_augment aug;
  int augment;             /* --augment given */
  int aug_c, aug_h, aug_w; /* image shape for augmentation */
  dn_epoch_row *rows;      /* log rows, one per completed epoch */
  int n_rows, cap_rows;
  void *best;              /* packed parameters of the best (or last good) epoch */
  size_t param_bytes;      /* bytes of all parameters, packed */
  double best_score;
  int64_t best_epoch;
  int64_t epoch0, step;    /* epochs completed before this run; steps taken */
  uint64_t fingerprint;
  double train_seconds;    /* time spent in training steps (this run) */
  int64_t train_samples;   /* samples trained on (this run) */
} dn_trainer;

static const char *dn_out_path(const dn_options *o) {
  return o->outs.n > 0 ? ((const dn_named_path *)o->outs.v[o->outs.n - 1])->path : NULL;
}

static int dn_data_fail(void) { return dn_train_fail("%s", dnrt_error()); }

/* --- settings ------------------------------------------------------------------- */

/* The train block's settings with the command-line overrides applied. */
static int dn_train_settings(const dn_options *o, dn_train_cfg *cfg) {
  dn_ast *prog = dn_parse_file(o->file);
  if (!prog || dn_error_count()) return 1;
  if (dn_sema_train_cfg(prog, cfg)) return 1;
  if (o->batch) cfg->batch = o->batch;
  if (o->epochs) cfg->epochs = o->epochs;
  if (o->lr > 0) cfg->lr = o->lr;
  if (o->seed_set) cfg->seed = o->seed;
  if (cfg->batch < 1) cfg->batch = 32;
  if (cfg->epochs < 1) cfg->epochs = 1;
  return 0;
}

static uint64_t dn_fnv(uint64_t h, const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

/* Identifies what a checkpoint belongs to: the model text, the settings, the data. */
static uint64_t dn_train_fingerprint(const dn_trainer *t) {
  uint64_t h = 14695981039346656037ull;
  char *src = NULL;
  size_t len = 0;
  if (dnrt_read_file(t->o->file, (size_t)1 << 30, &src, &len) == 0) h = dn_fnv(h, src, len);
  free(src);
  double d[] = {t->cfg.lr, t->cfg.momentum, t->cfg.dampening, t->cfg.alpha, t->cfg.eps, t->cfg.rho, t->cfg.beta1,
                t->cfg.beta2, t->cfg.weight_decay, t->cfg.clip_norm, t->cfg.clip_value};
  int64_t i[] = {(int64_t)t->cfg.optimizer, t->cfg.nesterov, t->cfg.batch, (int64_t)t->cfg.seed,
                 (int64_t)t->m.state_bytes, t->n_train, t->n_val};
  h = dn_fnv(h, d, sizeof d);
  h = dn_fnv(h, i, sizeof i);
  h = dn_fnv(h, t->o->data, strlen(t->o->data));
  if (t->o->augment) h = dn_fnv(h, t->o->augment, strlen(t->o->augment));
  return h;
}

/* --- parameters ------------------------------------------------------------------- */

static size_t dn_param_bytes(const dn_model *m) {
  size_t es = m->use_double ? 8 : 4, n = 0;
  for (int i = 0; i < m->n_params; i++) n += (size_t)m->params[i].count * es;
  return n;
}

/* Copies every parameter out of (to_state = 0) or into (1) a packed buffer. */
static void dn_params_copy(dn_model *m, void *packed, int to_state) {
  size_t es = m->use_double ? 8 : 4, pos = 0;
  for (int i = 0; i < m->n_params; i++) {
    size_t n = (size_t)m->params[i].count * es;
    char *s = (char *)m->state + m->params[i].offset;
    if (to_state) memcpy(s, (char *)packed + pos, n);
    else memcpy((char *)packed + pos, s, n);
    pos += n;
  }
}

/* --- log, plot ---------------------------------------------------------------------- */

static const char dn_log_header[] = "epoch,step,train_loss,val_loss,val_acc,test_loss,test_acc,seconds\n";

static char *dn_log_text(const dn_trainer *t, size_t *len) {
  dn_buf b = {0};
  dn_buf_printf(&b, "%s", dn_log_header);
  for (int i = 0; i < t->n_rows; i++) {
    const dn_epoch_row *r = &t->rows[i];
    dn_buf_printf(&b, "%lld,%lld,%.9g,%.9g,%.9g,%.9g,%.9g,%.3f\n", (long long)r->epoch, (long long)r->step,
                  r->train_loss, r->val_loss, r->val_acc, r->test_loss, r->test_acc, r->seconds);
  }
  *len = b.n;
  return b.s;
}

/* Parses the log text of a checkpoint back into rows. */
static int dn_log_parse(dn_trainer *t, const char *text) {
  const char *p = strchr(text, '\n');
  while (p && p[1]) {
    dn_epoch_row r;
    long long e, s;
    if (sscanf(p + 1, "%lld,%lld,%lf,%lf,%lf,%lf,%lf,%lf", &e, &s, &r.train_loss, &r.val_loss, &r.val_acc,
               &r.test_loss, &r.test_acc, &r.seconds) != 8)
      return dn_train_fail("checkpoint: malformed log row");
    r.epoch = e, r.step = s;
    if (t->n_rows == t->cap_rows) {
      t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 16;
      dn_epoch_row *nr = realloc(t->rows, (size_t)t->cap_rows * sizeof *nr);
      if (!nr) return dn_train_fail("out of memory");
      t->rows = nr;
    }
    t->rows[t->n_rows++] = r;
    p = strchr(p + 1, '\n');
  }
  return 0;
}

static int dn_add_row(dn_trainer *t, const dn_epoch_row *r) {
  if (t->n_rows == t->cap_rows) {
    t->cap_rows = t->cap_rows ? 2 * t->cap_rows : 16;
    dn_epoch_row *nr = realloc(t->rows, (size_t)t->cap_rows * sizeof *nr);
    if (!nr) return dn_train_fail("out of memory");
    t->rows = nr;
  }
  t->rows[t->n_rows++] = *r;
  return 0;
}

/* Left panel: train (blue), validation (orange) and test (green) loss per epoch; right
 * panel: validation (orange) and test (green) accuracy. */
static int dn_write_plot(const dn_trainer *t, const char *path) {
  int n = t->n_rows;
  double *v = malloc((size_t)(n + 1) * 6 * sizeof *v);
  if (!v) return dn_train_fail("out of memory");
  double *x = v, *tl = v + n, *vl = v + 2 * n, *va = v + 3 * n, *sl = v + 4 * n, *sa = v + 5 * n;
  for (int i = 0; i < n; i++) {
    x[i] = (double)t->rows[i].epoch, tl[i] = t->rows[i].train_loss, vl[i] = t->rows[i].val_loss;
    va[i] = t->rows[i].val_acc, sl[i] = t->rows[i].test_loss, sa[i] = t->rows[i].test_acc;
  }
  dnrt_series loss[3] = {{"train loss", x, tl, n, 0x1f77b4}, {"val loss", x, vl, n, 0xff7f0e},
                         {"test loss", x, sl, n, 0x2ca02c}};
  dnrt_series acc[2] = {{"val acc", x, va, n, 0xff7f0e}, {"test acc", x, sa, n, 0x2ca02c}};
  dnrt_panel panels[2] = {{loss, 3}, {acc, 2}};
  int rc = dnrt_plot_png(path, panels, 2, 960, 400);
  free(v);
  return rc ? dn_data_fail() : 0;
}

/* --- setup ---------------------------------------------------------------------------- */

static int dn_build(const dn_options *o, dn_train_cfg *cfg, int train, int64_t batch, dn_model *m) {
  dn_model_opts mo = {0};
  mo.file = o->file;
  mo.batch = batch;
  mo.train = train;
  mo.opt_level = o->opt_level;
  mo.blas = o->blas && strcmp(o->blas, "openblas") == 0;
  mo.threads = (int)o->threads;
  mo.split_step = 1;
  mo.no_cache = o->no_cache;
  mo.train_cfg = cfg;
  mo.seed = cfg ? cfg->seed : (o->seed_set ? o->seed : 1);
  mo.dump = o->dump;
  return dn_model_build(&mo, m);
}

/* Loads a split; for text data the sequence length comes from the model. */
static int dn_load_split(const dn_options *o, const dn_model *m, dnrt_split split, dnrt_dataset *ds) {
  const dn_graph *g = m->unit.train ? m->unit.train : m->unit.infer;
  if (dnrt_dataset_load(o->data, split, dn_feed_text_len(g), ds)) return dn_data_fail();
  return 0;
}

static int64_t *dn_iota(int64_t n) {
  int64_t *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
  for (int64_t i = 0; v && i < n; i++) v[i] = i;
  return v;
}

/* Splits off the validation fraction (a seeded permutation; the first part validates). */
static int dn_split_val(dn_trainer *t) {
  double frac = 0;
  if (t->o->val) {
    char *end;
    frac = strtod(t->o->val, &end);
    if (*end || end == t->o->val || !(frac > 0 && frac < 1))
      return dn_usage_error("--val expects a fraction between 0 and 1, got '%s'", t->o->val);
  }
  int64_t n = t->tr.n;
  int64_t *all = dn_iota(n);
  if (!all) return dn_train_fail("out of memory");
  t->n_val = (int64_t)(frac * (double)n);
  if (t->o->val && t->n_val < 1) t->n_val = 1;
  if (t->n_val > 0) dnrt_shuffle(all, n, &t->rng);
  t->n_train = n - t->n_val;
  t->val_idx = malloc((size_t)(t->n_val + 1) * sizeof *t->val_idx);
  t->train_idx = malloc((size_t)(t->n_train + 1) * sizeof *t->train_idx);
  if (!t->val_idx || !t->train_idx) {
    free(all);
    return dn_train_fail("out of memory");
  }
  memcpy(t->val_idx, all, (size_t)t->n_val * sizeof *all);
  memcpy(t->train_idx, all + t->n_val, (size_t)t->n_train * sizeof *all);
  free(all);
  if (t->n_train < t->m.batch)
    return dn_train_fail("the training set has %lld samples%s, fewer than one batch of %lld", (long long)t->n_train,
                         t->n_val ? " after the validation split" : "", (long long)t->m.batch);
  return 0;
}

static int dn_setup_augment(dn_trainer *t) {
  if (!t->o->augment) return 0;
  if (dnrt_augment_parse(t->o->augment, &t->aug)) return dn_usage_error("--augment: %s", dnrt_error());
  const dn_input *in = t->feed.x_in >= 0 ? t->feed.g->inputs.v[t->feed.x_in] : NULL;
  if (!in || in->sample.rank != 3)
    return dn_train_fail("--augment needs an image input of shape [C, H, W]%s%s", in ? ", got " : "",
                         in ? dn_shape_str(in->sample) : "");
  t->augment = 1;
  t->aug_c = (int)in->sample.dim[0], t->aug_h = (int)in->sample.dim[1], t->aug_w = (int)in->sample.dim[2];
  return 0;
}

/* Restores a checkpoint when --resume is given. */
static int dn_resume(dn_trainer *t) {
  dnrt_ckpt c;
  int rc = dnrt_ckpt_load(t->o->checkpoint, &c);
  if (rc == 1) {
    fprintf(stderr, "dnncc: no checkpoint in %s yet; starting from the beginning\n", t->o->checkpoint);
    return 0;
  }
  if (rc) return dn_data_fail();
  if (c.fingerprint != t->fingerprint || c.state_bytes != t->m.state_bytes ||
      (c.best_bytes && c.best_bytes != t->param_bytes)) {
    dnrt_ckpt_free(&c);
    return dn_train_fail("%s: the checkpoint belongs to a different model, data set or settings", t->o->checkpoint);
  }
  memcpy(t->m.state, c.state, c.state_bytes);
  if (c.best) memcpy(t->best, c.best, t->param_bytes);
  t->epoch0 = c.epoch, t->step = c.step, t->rng = c.rng;
  t->best_score = c.best_score, t->best_epoch = c.best_epoch;
  rc = dn_log_parse(t, c.log);
  dnrt_ckpt_free(&c);
  if (!rc && !t->o->quiet)
    fprintf(stderr, "dnncc: resuming after epoch %lld (step %lld)\n", (long long)t->epoch0, (long long)t->step);
  return rc;
}

static int dn_save_checkpoint(dn_trainer *t, int64_t epoch) {
  size_t len;
  char *log = dn_log_text(t, &len);
  dnrt_ckpt c = {t->fingerprint, epoch, t->step, t->rng, t->best_score, t->best_epoch, t->m.state,
                 t->m.state_bytes, t->best, t->param_bytes, log, len};
  int rc = dnrt_ckpt_save(t->o->checkpoint, &c);
  free(log);
  return rc ? dn_data_fail() : 0;
}

/* --- the loop ---------------------------------------------------------------------------- */

/* The weights to keep after a failure or at the end: the best (or last good) epoch's. */
static int dn_save_kept(dn_trainer *t) {
  const char *out = dn_out_path(t->o);
  if (!out || t->best_epoch == 0) return 0;
  dn_params_copy(&t->m, t->best, 1);
  if (dn_model_save_weights(&t->m, out)) return 1;
  return 0;
}

/* One epoch of steps; returns 0, 1 on a non-finite loss (reported), and sets *mean. */
static int dn_run_epoch(dn_trainer *t, int64_t epoch, double *mean, int *stop) {
  int64_t B = t->m.batch, steps = t->n_train / B;
  int64_t *order = malloc((size_t)t->n_train * sizeof *order);
  if (!order) return dn_train_fail("out of memory");
  memcpy(order, t->train_idx, (size_t)t->n_train * sizeof *order);
  dnrt_shuffle(order, t->n_train, &t->rng);
  char label[48];
  snprintf(label, sizeof label, "epoch %lld/%lld", (long long)epoch, (long long)t->cfg.epochs);
  dnrt_progress p;
  dnrt_progress_start(&p, stderr, isatty(2), label, steps);
  double sum = 0, t0 = dnrt_now();
  int64_t done = 0;
  for (int64_t s = 0; s < steps; s++) {
    dn_feed_gather(&t->feed, &t->tr, order + s * B);
    if (t->augment)
      for (int64_t b = 0; b < B; b++)
        dnrt_augment_apply(&t->aug, (float *)t->feed.in[t->feed.x_in] + b * t->feed.x_elems, t->aug_c, t->aug_h,
                           t->aug_w, &t->rng);
    double loss = t->m.train_step_v(t->m.state, t->feed.in);
    t->step++;
    if (!isfinite(loss)) {
      if (!t->o->quiet) dnrt_progress_finish(&p, s, sum / (double)(s > 0 ? s : 1));
      free(order);
      return dn_train_fail("the loss became %s at step %lld (epoch %lld, batch %lld); stopping. %s", isnan(loss) ?
                           "NaN" : "infinite", (long long)t->step, (long long)epoch, (long long)s + 1,
                           t->best_epoch ? "The weights and checkpoint of the last good epoch are kept."
                                         : "No epoch completed, so nothing was saved.");
    }
    sum += loss, done++;
    if (!t->o->quiet) dnrt_progress_update(&p, s + 1, sum / (double)done);
    if (t->o->steps && t->step >= t->o->steps) {
      *stop = 1;
      break;
    }
  }
  t->train_seconds += dnrt_now() - t0;
  t->train_samples += done * B;
  if (!t->o->quiet) dnrt_progress_finish(&p, done, sum / (double)(done ? done : 1));
  free(order);
  *mean = done ? sum / (double)done : NAN;
  return 0;
}

/* Validation score: accuracy when the model has one, else the negated loss. */
static double dn_score(dn_eval_result r) { return isfinite(r.acc) ? r.acc - 1e-9 * r.loss : -r.loss; }

static void dn_print_row(const dn_epoch_row *r, int64_t epochs) {
  printf("epoch %lld/%lld  step %lld  train loss %.4f", (long long)r->epoch, (long long)epochs, (long long)r->step,
         r->train_loss);
  if (isfinite(r->val_loss)) printf("  val loss %.4f", r->val_loss);
  if (isfinite(r->val_acc)) printf("  val acc %.4f", r->val_acc);
  if (isfinite(r->test_loss)) printf("  test loss %.4f", r->test_loss);
  if (isfinite(r->test_acc)) printf("  test acc %.4f", r->test_acc);
  printf("  %.1f s\n", r->seconds);
  fflush(stdout);
}

/* Evaluations, log, plot, best weights and checkpoint after an epoch. */
static int dn_end_epoch(dn_trainer *t, int64_t epoch, double train_loss, double seconds) {
  dn_eval_result v = dn_feed_evaluate(&t->feed, &t->tr, t->val_idx, t->n_val);
  dn_eval_result s = dn_feed_evaluate(&t->feed, &t->te, t->test_idx, t->te.n);
  dn_epoch_row r = {epoch, t->step, train_loss, v.loss, v.acc, s.loss, s.acc, seconds};
  if (dn_add_row(t, &r)) return 1;
  dn_print_row(&r, t->cfg.epochs);
  double score = t->n_val ? dn_score(v) : 0;
  if (!t->n_val || t->best_epoch == 0 || score > t->best_score) {
    t->best_score = score, t->best_epoch = epoch;
    dn_params_copy(&t->m, t->best, 0);
  }
  if (t->o->log) {
    size_t len;
    char *text = dn_log_text(t, &len);
    int rc = dnrt_write_atomic(t->o->log, text, len);
    free(text);
    if (rc) return dn_data_fail();
  }
  if (t->o->plot && dn_write_plot(t, t->o->plot)) return 1;
  if (t->o->checkpoint && dn_save_checkpoint(t, epoch)) return 1;
  return 0;
}

static int dn_train_loop(dn_trainer *t) {
  double start = dnrt_now(), before = t->n_rows ? t->rows[t->n_rows - 1].seconds : 0;
  int stop = 0;
  for (int64_t e = t->epoch0 + 1; e <= t->cfg.epochs && !stop; e++) {
    double mean = NAN;
    if (dn_run_epoch(t, e, &mean, &stop)) {
      dn_save_kept(t);
      return 1;
    }
    if (dn_end_epoch(t, e, mean, before + dnrt_now() - start)) return 1;
  }
  double wall = dnrt_now() - start;
  if (t->best_epoch) dn_params_copy(&t->m, t->best, 1);
  const char *out = dn_out_path(t->o);
  if (out && dn_model_save_weights(&t->m, out)) return 1;
  dn_eval_result s;
  const dn_epoch_row *last = t->n_rows ? &t->rows[t->n_rows - 1] : NULL;
  if (last && last->epoch == t->best_epoch)  /* the kept weights are the last evaluated ones */
    s.loss = last->test_loss, s.acc = last->test_acc;
  else
    s = dn_feed_evaluate(&t->feed, &t->te, t->test_idx, t->te.n);
  if (t->n_val && !t->o->quiet) printf("best epoch %lld (validation)\n", (long long)t->best_epoch);
  if (isfinite(s.acc)) printf("test accuracy %.4f\n", s.acc);
  if (isfinite(s.loss)) printf("test loss %.4f\n", s.loss);
  printf("wall time %.2f s\n", wall);
  printf("samples/s %.1f\n", t->train_seconds > 0 ? (double)t->train_samples / t->train_seconds : 0.0);
  if (out && !t->o->quiet) printf("weights written to %s\n", out);
  return 0;
}

static int dn_train_setup(dn_trainer *t) {
  const dn_options *o = t->o;
  if (dn_train_settings(o, &t->cfg)) return 1;
  double t0 = dnrt_now();
  if (dn_build(o, &t->cfg, 1, t->cfg.batch, &t->m)) return 1;
  double compile_s = dnrt_now() - t0;
  if (!t->m.train_step_v || !t->m.unit.train) return dn_train_fail("%s: the model has no loss to train", o->file);
  if (dn_load_split(o, &t->m, DNRT_TRAIN, &t->tr) || dn_load_split(o, &t->m, DNRT_TEST, &t->te)) return 1;
  if (dn_feed_init(&t->feed, &t->m, t->m.unit.train, &t->tr, 0)) return 1;
  if (dn_feed_check_labels(&t->feed, &t->tr, "training data") || dn_feed_check_labels(&t->feed, &t->te, "test data"))
    return 1;
  if (t->te.n > 0 && t->te.sample_elems != t->tr.sample_elems)
    return dn_train_fail("the test split's samples (%lld values) differ from the training split's (%lld)",
                         (long long)t->te.sample_elems, (long long)t->tr.sample_elems);
  t->rng = t->cfg.seed * 0x9e3779b97f4a7c15ull + 0x632be59bd9b4e019ull;
  int rc = dn_split_val(t);
  if (rc) return rc;
  if ((rc = dn_setup_augment(t))) return rc;
  if (!(t->test_idx = dn_iota(t->te.n))) return dn_train_fail("out of memory");
  t->param_bytes = dn_param_bytes(&t->m);
  if (!(t->best = calloc(t->param_bytes + 1, 1))) return dn_train_fail("out of memory");
  if (o->init && dn_model_load_weights(&t->m, o->init)) return 1;
  t->fingerprint = dn_train_fingerprint(t);
  if (o->resume && dn_resume(t)) return 1;
  /* how --threads N runs the step (docs/training.md): split by samples, or per kernel */
  const char *how = o->threads <= 1 ? ""
                    : t->m.unit.train_part ? dn_fmt(", %lld threads (%lld samples each)", (long long)o->threads,
                                                    (long long)t->m.unit.train_part->batch)
                                           : dn_fmt(", %lld threads (per kernel)", (long long)o->threads);
  if (!o->quiet)
    fprintf(stderr, "dnncc: training %s (compiled in %.1f s): %lld samples (%lld validation, %lld test), batch %lld%s, "
            "%lld steps/epoch\n", o->file, compile_s, (long long)t->n_train, (long long)t->n_val, (long long)t->te.n,
            (long long)t->m.batch, how, (long long)(t->n_train / t->m.batch));
  return 0;
}

static void dn_trainer_free(dn_trainer *t) {
  dn_feed_free(&t->feed);
  dnrt_dataset_free(&t->tr), dnrt_dataset_free(&t->te);
  free(t->train_idx), free(t->val_idx), free(t->test_idx), free(t->rows), free(t->best);
  dn_model_free(&t->m);
}

int dn_cmd_train(const dn_options *o) {
  if (!o->data) return dn_usage_error("train needs --data");
  if (o->resume && !o->checkpoint) return dn_usage_error("--resume needs --checkpoint DIR");
  dn_trainer *t = calloc(1, sizeof *t);
  if (!t) return dn_train_fail("out of memory");
  t->o = o;
  int rc = dn_train_setup(t);
  if (!rc && t->epoch0 >= t->cfg.epochs && !o->quiet)
    fprintf(stderr, "dnncc: the checkpoint already completed %lld epochs\n", (long long)t->epoch0);
  if (!rc) rc = dn_train_loop(t);
  dn_trainer_free(t);
  free(t);
  return rc;
}

/* --- eval -------------------------------------------------------------------------------- */

int dn_cmd_eval(const dn_options *o) {
  if (!o->data) return dn_usage_error("eval needs --data");
  if (!o->weights) return dn_usage_error("eval needs --weights");
  dn_model m;
  dn_feed f = {0};
  dnrt_dataset ds = {0};
  int64_t *idx = NULL;
  int rc = dn_build(o, NULL, 0, o->batch ? o->batch : 64, &m);
  if (rc) return 1;
  rc = 1;
  if (!m.evaluate_v) {
    dn_train_fail("%s: the model has no loss; eval needs one", o->file);
    goto done;
  }
  if (dn_model_load_weights(&m, o->weights) || dn_load_split(o, &m, DNRT_TEST, &ds)) goto done;
  if (ds.n == 0) {  /* csv: and npy: have no test split: evaluate the whole file */
    dnrt_dataset_free(&ds);
    if (dn_load_split(o, &m, DNRT_TRAIN, &ds)) goto done;
  }
  if (dn_feed_init(&f, &m, m.unit.infer, &ds, 0) || dn_feed_check_labels(&f, &ds, "data")) goto done;
  if (!(idx = dn_iota(ds.n))) goto done;
  dn_eval_result r = dn_feed_evaluate(&f, &ds, idx, ds.n);
  printf("samples %lld\n", (long long)ds.n);
  printf("loss %.6f\n", r.loss);
  printf("accuracy %.6f\n", r.acc);  /* nan when the model has no class output */
  rc = 0;
done:
  free(idx);
  dn_feed_free(&f);
  dnrt_dataset_free(&ds);
  dn_model_free(&m);
  return rc;
}

/* --- sample ------------------------------------------------------------------------------- */

/* Draws an index from the last step's output row (probabilities or logits). */
static int64_t dn_draw(const float *row, int64_t K, uint64_t *rng) {
  double sum = 0, mx = row[0];
  int probs = 1;
  for (int64_t k = 0; k < K; k++) {
    if (row[k] > mx) mx = row[k];
    if (!(row[k] >= 0 && row[k] <= 1)) probs = 0;
    sum += row[k];
  }
  probs = probs && fabs(sum - 1) < 1e-3;
  double total = 0, *w = malloc((size_t)K * sizeof *w);
  if (!w) return 0;
  for (int64_t k = 0; k < K; k++) total += w[k] = probs ? row[k] : exp(row[k] - mx);
  double u = dnrt_rng_uniform(rng) * total;
  int64_t pick = K - 1;
  for (int64_t k = 0; k < K; k++)
    if ((u -= w[k]) < 0) {
      pick = k;
      break;
    }
  free(w);
  return pick;
}

int dn_cmd_sample(const dn_options *o) {
  if (!o->data) return dn_usage_error("sample needs --data text:FILE (for the vocabulary)");
  if (!o->weights) return dn_usage_error("sample needs --weights");
  if (strncmp(o->data, "text:", 5) != 0) return dn_usage_error("sample needs --data text:FILE, got '%s'", o->data);
  dn_model m;
  dn_feed f = {0};
  dnrt_dataset ds = {0};
  if (dn_build(o, NULL, 0, 1, &m)) return 1;
  int rc = 1;
  int64_t T = dn_feed_text_len(m.unit.infer), len = o->length ? o->length : 200;
  uint64_t rng = (o->seed_set ? o->seed : 1) * 0x9e3779b97f4a7c15ull + 1;
  if (T < 1) {
    dn_train_fail("%s: sample needs a model with a class sequence input (character indices)", o->file);
    goto done;
  }
  if (dn_model_load_weights(&m, o->weights) || dn_load_split(o, &m, DNRT_TRAIN, &ds)) goto done;
  if (dn_feed_init(&f, &m, m.unit.infer, &ds, 1) || dn_feed_check_labels(&f, &ds, "text")) goto done;
  if (f.xi_in < 0 || f.n_out < 1 || ds.n < 1 || m.use_double) {
    dn_train_fail("%s: sample needs a character input, an output and a non-empty text", o->file);
    goto done;
  }
  /* The first output holds one row per position ([T, W]) or just the last one ([W]); the
   * draw is over the characters of the vocabulary (W may exceed it when class(K) is wider). */
  int64_t E = f.out0_elems, W = E % T == 0 && E / T >= ds.classes ? E / T : E;
  int64_t K = W < ds.classes ? W : ds.classes;
  if (W < ds.classes) {
    dn_train_fail("%s: the first output has %lld values per step, fewer than the %lld characters of the text",
                  o->file, (long long)W, (long long)ds.classes);
    goto done;
  }
  int32_t *win = f.in[f.xi_in];
  memcpy(win, ds.xi, (size_t)T * 4);
  void **inf = calloc((size_t)f.n_in + 1, sizeof *inf);
  int ni = 0;
  for (int i = 0; inf && i < f.n_in; i++)
    if (((const dn_input *)m.unit.infer->inputs.v[i])->for_inference) inf[ni++] = f.in[i];
  for (int64_t n = 0; inf && n < len; n++) {
    m.forward_v(m.state, inf, f.out);
    int64_t c = dn_draw((const float *)f.out[0] + E - W, K, &rng);
    putchar(ds.vocab[c]);
    memmove(win, win + 1, (size_t)(T - 1) * 4);
    win[T - 1] = (int32_t)c;
  }
  putchar('\n');
  rc = inf ? 0 : dn_train_fail("out of memory");
  free(inf);
done:
  dn_feed_free(&f);
  dnrt_dataset_free(&ds);
  dn_model_free(&m);
  return rc;
}
