#!/usr/bin/env python3
"""kernel_flops.py - per-kernel times of a generated model, for bench/run.

usage: kernel_flops.py IN.c OUT.c [SHAPES]

Copies the C that dnncc generated (IN.c) to OUT.c with a timer around every kernel node of
the body functions: it starts at the emitter's "/* %N = OP [shape] ... */" comment and stops
at the end of the node's braced block (the "}" in column 0), so the elementwise loops after
a kernel (a bias add, an activation) are not counted in it. When the program exits, OUT.c
prints one line per matrix product or convolution node (those whose comment gives their
"flop" count) to stderr:

    KERNEL %N OP [shape] FLOP SECONDS CALLS

SECONDS is CALLS times the median time of one call (the harness's 5 warm-up steps, the
first of which faults in the arena's pages, and the hiccups of a shared machine left out as
the step medians leave them out; a total over all calls, as before the tenth session, let
one first-touch call of a 2 us kernel count for a third of its time). The timers are per
thread: in the training step that --threads splits by samples (every thread runs its part
of the batch through the same kernels at once), a line covers all threads: FLOP is the
kernel's per-call count times the number of threads that ran it, SECONDS from the slowest
thread's median, CALLS its calls; kernels that fork threads themselves are timed on the
calling thread. With SHAPES, also writes one line per single matrix product (not batched)
to that file, "%N M N K TA TB" (C [M, N] = op(A) @ op(B), TA / TB 1 for a transposed operand,
as the emitter's "/* gemm: ... */" comment gives them), for bench/shapes.c. Plain python3, no
packages.
"""
import re
import sys


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    src = open(sys.argv[1]).read().split("\n")
    out, names, flops, shapes = [], [], [], {}
    in_body = timing = False
    for at, line in enumerate(src):
        g = re.match(r"^/\* (%\d+) = GEMM \[", line)
        s = re.match(r"^\{  /\* gemm: (?:1 x )?\[(\d+) x (\d+)\] @ \[\d+ x (\d+)\](, A transposed|, B transposed)?",
                     src[at + 1]) if g and at + 1 < len(src) else None
        if s:
            shapes[g.group(1)] = "%s %s %s %s %d %d" % (g.group(1), s.group(1), s.group(3), s.group(2),
                                                       s.group(4) == ", A transposed", s.group(4) == ", B transposed")
        if re.match(r"^static double \w+_body_\w+\(", line):
            in_body = True
        m = re.match(r"^/\* (%\d+ = \w+ \[[^\]]*\])(?:, (\d+) flop)? \*/", line) if in_body else None
        if m:
            out.append("DNKF_MARK(%d);" % len(names))
            names.append(m.group(1))
            flops.append(int(m.group(2) or 0))
            timing = True
        if in_body and line.startswith("  return"):
            out.append("DNKF_MARK(-1);")
            in_body = timing = False
        out.append(line)
        if timing and line == "}":  # the end of the node's block
            out.append("DNKF_MARK(-1);")
            timing = False
    n = max(len(names), 1)
    head = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#define DNKF_TID (omp_get_thread_num() < DNKF_MAXT ? omp_get_thread_num() : DNKF_MAXT - 1)
#else
#define DNKF_TID 0
#endif
#define DNKF_MAXT 16
#define DNKF_MAXC 256  /* calls kept per thread and kernel for the median */
static float dnkf_t[DNKF_MAXT][%d][DNKF_MAXC];
static double dnkf_last[DNKF_MAXT];
static long dnkf_calls[DNKF_MAXT][%d];
static int dnkf_cur[DNKF_MAXT] = {-1};
static int dnkf_started[DNKF_MAXT];
static const char *const dnkf_name[] = {%s};
static const long long dnkf_flop[] = {%s};
static double dnkf_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
#define DNKF_MARK(i) do { int k_ = DNKF_TID; double t_ = dnkf_now(); \
  if (!dnkf_started[k_]) dnkf_started[k_] = 1, dnkf_cur[k_] = -1; \
  if (dnkf_cur[k_] >= 0) { long c_ = dnkf_calls[k_][dnkf_cur[k_]]++; \
    dnkf_t[k_][dnkf_cur[k_]][c_ %% DNKF_MAXC] = (float)(t_ - dnkf_last[k_]); } \
  dnkf_cur[k_] = (i); dnkf_last[k_] = t_; } while (0)
static int dnkf_cmp(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}
__attribute__((destructor)) static void dnkf_report(void) {
  int i, k;
  for (i = 0; i < %d; i++) {
    double sec = 0;
    long calls = 0;
    int nt = 0;
    for (k = 0; k < DNKF_MAXT; k++) {
      long c = dnkf_calls[k][i], kept = c < DNKF_MAXC ? c : DNKF_MAXC;
      double med;
      if (!c) continue;
      nt++;
      qsort(dnkf_t[k][i], (size_t)kept, sizeof(float), dnkf_cmp);
      med = kept %% 2 ? dnkf_t[k][i][kept / 2] : 0.5 * (dnkf_t[k][i][kept / 2 - 1] + dnkf_t[k][i][kept / 2]);
      if (med * c > sec) sec = med * c;
      if (c > calls) calls = c;
    }
    if (dnkf_flop[i] > 0 && calls > 0)
      fprintf(stderr, "KERNEL %%s %%lld %%.9f %%ld\n", dnkf_name[i], dnkf_flop[i] * nt, sec, calls);
  }
}
""" % (n, n, ", ".join('"%s"' % s for s in names) or '""', ", ".join(str(f) for f in flops) or "0", len(names))
    # after the generated file's first #include (its own header), so the file stays C99
    at = next(i for i, l in enumerate(out) if l.startswith("#include")) + 1
    out.insert(at, head)
    open(sys.argv[2], "w").write("\n".join(out))
    if len(sys.argv) == 4:
        open(sys.argv[3], "w").write("".join(v + "\n" for v in shapes.values()))


if __name__ == "__main__":
    main()
