#!/usr/bin/env python3
"""kernel_flops.py - per-kernel times of a generated model, for bench/run.

usage: kernel_flops.py IN.c OUT.c

Copies the C that dnncc generated (IN.c) to OUT.c with a timer around every kernel node of
the body functions: it starts at the emitter's "/* %N = OP [shape] ... */" comment and stops
at the end of the node's braced block (the "}" in column 0), so the elementwise loops after
a kernel (a bias add, an activation) are not counted in it. When the program exits, OUT.c
prints one line per matrix product or convolution node (those whose comment gives their
"flop" count) to stderr:

    KERNEL %N OP [shape] FLOP SECONDS CALLS

SECONDS is the total over all calls. Plain python3, no packages.
"""
import re
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    src = open(sys.argv[1]).read().split("\n")
    out, names, flops = [], [], []
    in_body = timing = False
    for line in src:
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
#include <time.h>
static double dnkf_t[%d], dnkf_last;
static long dnkf_calls[%d];
static int dnkf_cur = -1;
static const char *const dnkf_name[] = {%s};
static const long long dnkf_flop[] = {%s};
static double dnkf_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
#define DNKF_MARK(i) do { double t_ = dnkf_now(); \
  if (dnkf_cur >= 0) dnkf_t[dnkf_cur] += t_ - dnkf_last, dnkf_calls[dnkf_cur]++; \
  dnkf_cur = (i); dnkf_last = t_; } while (0)
__attribute__((destructor)) static void dnkf_report(void) {
  int i;
  for (i = 0; i < %d; i++)
    if (dnkf_flop[i] > 0 && dnkf_calls[i] > 0)
      fprintf(stderr, "KERNEL %%s %%lld %%.9f %%ld\n", dnkf_name[i], dnkf_flop[i], dnkf_t[i], dnkf_calls[i]);
}
""" % (n, n, ", ".join('"%s"' % s for s in names) or '""', ", ".join(str(f) for f in flops) or "0", len(names))
    # after the generated file's first #include (its own header), so the file stays C99
    at = next(i for i, l in enumerate(out) if l.startswith("#include")) + 1
    out.insert(at, head)
    open(sys.argv[2], "w").write("\n".join(out))


if __name__ == "__main__":
    main()
