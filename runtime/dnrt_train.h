/* dnrt_train.h - the training loop's display, plots and checkpoints (progress.c, plot.c,
 * checkpoint.c), used by `dnncc train` (compiler/cmd_train.c).
 *
 * Progress: on a terminal one line redrawn in place (bar, steps/s, loss, ETA); otherwise a
 * plain line every few seconds. Plots: a PNG written by a small encoder of our own (zlib
 * for the deflate stream), panels of line series with axis ranges printed in a tiny font.
 * Checkpoints: one file DIR/checkpoint.dnck holding the whole state block (parameters,
 * gradients, optimizer state, step counter), the loop position and the best weights,
 * protected by a CRC and written atomically, so a kill at any moment leaves either the old
 * or the new checkpoint, never a torn one.
 */
#ifndef DNRT_TRAIN_H
#define DNRT_TRAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* --- progress ----------------------------------------------------------------- */
typedef struct dnrt_progress {
  FILE *out;            /* where it draws (stderr) */
  int tty;              /* redraw in place */
  char label[48];       /* e.g. "epoch 2/10" */
  int64_t total;        /* steps in this phase */
  double start;         /* dnrt_now() at start */
  double last_draw;     /* time of the last redraw or line */
  int drawn;            /* something is on the current tty line */
} dnrt_progress;

double dnrt_now(void);                                     /* monotonic seconds */
void dnrt_format_duration(double seconds, char *buf, size_t n);  /* "1:02:03" / "2:03" */
void dnrt_progress_start(dnrt_progress *p, FILE *out, int tty, const char *label, int64_t total);
void dnrt_progress_update(dnrt_progress *p, int64_t done, double loss);  /* rate-limited */
void dnrt_progress_finish(dnrt_progress *p, int64_t done, double loss);  /* final line, newline */

/* --- plots -------------------------------------------------------------------- */
typedef struct dnrt_series {
  const char *name;     /* legend label (drawn as a colored line; names in the docs) */
  const double *x, *y;  /* n points; non-finite y values are skipped */
  int n;
  uint32_t rgb;         /* 0xRRGGBB */
} dnrt_series;

typedef struct dnrt_panel {
  const dnrt_series *series;  /* lines */
  int n;
} dnrt_panel;

/* Draws the panels side by side into a width x height RGB PNG, written atomically. */
int dnrt_plot_png(const char *path, const dnrt_panel *panels, int npanels, int width, int height);
/* Encodes an RGB image (3 bytes per pixel, rows top down) as PNG into a malloc'd buffer. */
int dnrt_png_encode(const uint8_t *rgb, int width, int height, uint8_t **out, size_t *len);

/* --- checkpoints --------------------------------------------------------------- */
typedef struct dnrt_ckpt {
  uint64_t fingerprint;  /* identifies model + settings; resume refuses a mismatch */
  int64_t epoch;         /* epochs completed */
  int64_t step;          /* optimizer steps taken */
  uint64_t rng;          /* the loop's RNG state after `epoch` epochs */
  double best_score;     /* best validation score so far (higher is better) */
  int64_t best_epoch;    /* its epoch (0: none) */
  void *state;           /* the whole state block */
  size_t state_bytes;
  void *best;            /* the best parameters (packed), or NULL */
  size_t best_bytes;
  char *log;             /* CSV rows so far (NUL-terminated), or NULL */
  size_t log_len;
} dnrt_ckpt;

/* Writes DIR/checkpoint.dnck atomically (creating DIR). 0, or -1 with dnrt_error(). */
int dnrt_ckpt_save(const char *dir, const dnrt_ckpt *c);
/* Reads it back (buffers malloc'd). 0; 1 when there is no checkpoint; -1 when it is bad. */
int dnrt_ckpt_load(const char *dir, dnrt_ckpt *c);
void dnrt_ckpt_free(dnrt_ckpt *c);

#endif
