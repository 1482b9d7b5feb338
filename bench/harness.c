/* harness.c - times one generated model (prefix bm): batch-1 inference or a training step.
 * Built by bench/run against bm.c/bm.h (with -DBM_TRAIN for `dnncc --train` code); prints the
 * median time in microseconds over ITERS calls, or over as many as fill MIN_SECONDS when
 * that is more (at most 100000): a median of 25 training steps of a small model (37 ms)
 * moved with every hiccup of this shared machine.
 *
 * usage: h infer|train [ITERS [MIN_SECONDS]]   (defaults 200 and 0.5)
 *        h save W.safetensors                  (the initial weights, for a --weights build) */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bm.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int train = argc > 1 && strcmp(argv[1], "train") == 0;
  int iters = argc > 2 ? atoi(argv[2]) : 200;
  double min_s = argc > 3 ? atof(argv[3]) : 0.5;
  void *state = NULL;
  if (posix_memalign(&state, 64, (bm_STATE_BYTES + 63) / 64 * 64)) return 1;
  static float x[bm_X_SIZE];
  static float out[bm_LOGITS_SIZE];
#ifdef BM_TRAIN
  static int32_t y[bm_Y_SIZE];
  for (int i = 0; i < bm_Y_SIZE; i++) y[i] = i % 10;
#endif
  for (int i = 0; i < bm_X_SIZE; i++) x[i] = (float)((i * 7919) % 1000) / 1000.0f;
  bm_init(state, 1);
  if (argc == 3 && strcmp(argv[1], "save") == 0) return bm_save(state, argv[2]) != 0;
  double w0 = now_us();
  for (int w = 0; w < 5; w++) {
#ifdef BM_TRAIN
    if (train) bm_train_step(state, x, y); else
#endif
    bm_forward(state, x, out);
  }
  double per = (now_us() - w0) / 5;  /* the warm-up calls' mean sets the count */
  if (per > 0 && min_s * 1e6 / per > iters) iters = min_s * 1e6 / per < 100000 ? (int)(min_s * 1e6 / per) : 100000;
  if (iters < 1) iters = 1;
  double *t = malloc(sizeof(double) * (size_t)iters);
  if (!t) return 1;
  for (int i = 0; i < iters; i++) {
    double t0 = now_us();
#ifdef BM_TRAIN
    if (train) bm_train_step(state, x, y); else
#endif
    bm_forward(state, x, out);
    t[i] = now_us() - t0;
  }
  qsort(t, (size_t)iters, sizeof(double), cmp);
  printf("%.2f\n", t[iters / 2]);
  free(t);
  free(state);
  return 0;
}
