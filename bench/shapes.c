/* shapes.c - OpenBLAS sgemm GFLOP/s on one product's own shape: what the practical peak of
 * the CPU (bench/sgemm.c, 1024^3) becomes for the small products of a training step.
 *
 * usage: shapes THREADS M N K TA TB
 *
 * Each of THREADS threads (OpenMP; OpenBLAS itself on one thread: OPENBLAS_NUM_THREADS=1)
 * computes its own C [M, N] = op(A) @ op(B) at the same time, as the threads of a training
 * step split by samples run their part's product (the 2-thread kernels of bench/run are the
 * per-thread shapes of that split). Prints two figures, "COLD WARM": the total GFLOP/s over
 * the slowest thread's median of 41 calls, with the operands
 *   cold: before each call one thread walks 64 MB (the L2 and L3 caches emptied of B and
 *         C), then each thread rewrites its A (A is the activation or gradient the step has
 *         just computed; B, a weight or an activation of the forward pass, and C, written,
 *         come from memory), as in the step, where the layers in between evict them;
 *   warm: the same call repeated on the same data (everything in cache).
 * Plain C; links OpenBLAS. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#define TID omp_get_thread_num()
#else
#define TID 0
#endif

#define REPS 41
#define MAXT 16

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* GFLOP/s of THREADS concurrent products (slowest thread's median), caches emptied before
 * each call when cold; -1 when memory runs out. */
static double run(int threads, int m, int n, int k, int ta, int tb, int cold, float *junk, size_t njunk) {
  double t[MAXT][REPS];
  int failed = 0;
#pragma omp parallel num_threads(threads)
  {
    int id = TID;
    float *a = malloc(sizeof(float) * (size_t)m * k), *b = malloc(sizeof(float) * (size_t)k * n),
          *c = malloc(sizeof(float) * (size_t)m * n);
    if (!a || !b || !c) {
#pragma omp atomic write
      failed = 1;
    }
#pragma omp barrier
    if (!failed) {
      for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
      for (size_t i = 0; i < (size_t)k * n; i++) b[i] = (float)(i % 5) * 0.1f;
      for (int r = 0; r < REPS; r++) {
        if (cold) {
#pragma omp barrier
          if (id == 0)
            for (size_t i = 0; i < njunk; i += 16) junk[i] += 1.0f;
#pragma omp barrier
          for (size_t i = 0; i < (size_t)m * k; i++) a[i] = a[i] * 0.5f + 0.05f;
        }
#pragma omp barrier
        double t0 = now();
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, 1.0f, a,
                    ta ? m : k, b, tb ? k : n, 0.0f, c, n);
        t[id][r] = now() - t0;
      }
    }
    free(a), free(b), free(c);
  }
  if (failed) return -1;
  double slow[REPS];
  for (int r = 0; r < REPS; r++) {
    slow[r] = 0;
    for (int i = 0; i < threads; i++)
      if (t[i][r] > slow[r]) slow[r] = t[i][r];
  }
  qsort(slow, REPS, sizeof slow[0], cmp);
  return 2.0 * m * n * k * threads / slow[REPS / 2] / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: shapes THREADS M N K TA TB\n");
    return 2;
  }
  int v[6];
  for (int i = 0; i < 6; i++) {
    char *end;
    long x = strtol(argv[i + 1], &end, 10);
    if (*end || x < 0 || x > 1 << 20 || (i < 4 && x < 1) || (i >= 4 && x > 1) || (i == 0 && x > MAXT)) {
      fprintf(stderr, "shapes: bad argument '%s' (THREADS 1..%d, M N K >= 1, TA TB 0 or 1)\n", argv[i + 1], MAXT);
      return 2;
    }
    v[i] = (int)x;
  }
  size_t njunk = (size_t)16 << 20;  /* 64 MB of floats */
  float *junk = calloc(njunk, sizeof(float));
  if (!junk) {
    fprintf(stderr, "shapes: out of memory\n");
    return 1;
  }
  double cold = run(v[0], v[1], v[2], v[3], v[4], v[5], 1, junk, njunk);
  double warm = run(v[0], v[1], v[2], v[3], v[4], v[5], 0, junk, njunk);
  free(junk);
  if (cold < 0 || warm < 0) {
    fprintf(stderr, "shapes: out of memory\n");
    return 1;
  }
  printf("%.1f %.1f\n", cold, warm);
  return 0;
}
