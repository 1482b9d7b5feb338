/* progress.c - the training progress display.
 *
 * On a terminal, one status line redrawn in place with '\r' at most ten times a second:
 *   epoch 2/10 [#########.........] 412/937  523.1 steps/s  loss 0.4123  ETA 0:01
 * Elsewhere (a pipe, a log file) no control characters: a plain line every 5 seconds and
 * one at the end of each phase, so logs stay readable.
 */
#include <math.h>
#include <string.h>
#include <time.h>

#include "dnrt_train.h"

#define DNRT_PROGRESS_TTY_PERIOD 0.1
#define DNRT_PROGRESS_LINE_PERIOD 5.0
#define DNRT_PROGRESS_BAR 24

double dnrt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void dnrt_format_duration(double s, char *buf, size_t n) {
  if (!(s >= 0) || s > 1e9) {
    snprintf(buf, n, "?");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else snprintf(buf, n, "%ld:%02ld", t / 60, t % 60);
}

void dnrt_progress_start(dnrt_progress *p, FILE *out, int tty, const char *label, int64_t total) {
  memset(p, 0, sizeof *p);
  p->out = out;
  p->tty = tty;
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total = total > 0 ? total : 1;
  p->start = p->last_draw = dnrt_now();
}

/* Formats the status text (no newline). */
static void dnrt_progress_text(const dnrt_progress *p, int64_t done, double loss, double now, char *buf, size_t n) {
  double el = now - p->start, rate = el > 0 ? (double)done / el : 0;
  char eta[32], bar[DNRT_PROGRESS_BAR + 1];
  dnrt_format_duration(rate > 0 ? (double)(p->total - done) / rate : -1, eta, sizeof eta);
  int fill = (int)((double)done / (double)p->total * DNRT_PROGRESS_BAR);
  for (int i = 0; i < DNRT_PROGRESS_BAR; i++) bar[i] = i < fill ? '#' : '.';
  bar[DNRT_PROGRESS_BAR] = 0;
  snprintf(buf, n, "%s [%s] %lld/%lld  %.1f steps/s  loss %.4f  ETA %s", p->label, bar, (long long)done,
           (long long)p->total, rate, loss, eta);
}

void dnrt_progress_update(dnrt_progress *p, int64_t done, double loss) {
  double now = dnrt_now();
  if (now - p->last_draw < (p->tty ? DNRT_PROGRESS_TTY_PERIOD : DNRT_PROGRESS_LINE_PERIOD)) return;
  char buf[256];
  dnrt_progress_text(p, done, loss, now, buf, sizeof buf);
  if (p->tty) fprintf(p->out, "\r%s\033[K", buf);
  else fprintf(p->out, "%s\n", buf);
  fflush(p->out);
  p->drawn = p->tty;
  p->last_draw = now;
}

void dnrt_progress_finish(dnrt_progress *p, int64_t done, double loss) {
  char buf[256];
  dnrt_progress_text(p, done, loss, dnrt_now(), buf, sizeof buf);
  if (p->tty) fprintf(p->out, "\r%s\033[K\n", buf);
  else fprintf(p->out, "%s\n", buf);
  fflush(p->out);
  p->drawn = 0;
}
