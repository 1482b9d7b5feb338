/* plan.c - the memory plan of one body: liveness intervals and arena offsets.
 *
 * Needs: dn_em_body with every node classified (emit.c), `last` filled with the position of
 * the last reader (views already forwarded to their base) and `pinned` set for values read
 * after the last node (outputs copied at the end, gradients, ASSIGN values, the loss).
 * Produces: one dn_em_buf per DN_EMK_ARENA node with its live range [definition, last use]
 * (inclusive at both ends, so a kernel's output never shares memory with its inputs) and an
 * offset chosen greedily: buffers in order of decreasing size, each placed in the smallest
 * gap of address space not used by an already placed buffer whose range overlaps its own
 * (best fit). plan.peak is the largest total of simultaneously live buffers, a lower bound
 * of any plan; total is what this plan needs.
 */
#include <stdlib.h>

#include "emit.h"

static size_t round64(size_t n) { return (n + 63) & ~(size_t)63; }

static int overlap(const dn_em_buf *a, const dn_em_buf *b) { return a->def <= b->end && b->def <= a->end; }

/* The buffer an elementwise root r may overwrite in place: one its group reads elementwise
 * (same element count), whose last reader is r, not pinned; -1 if none. */
static int inplace_buf(const dn_em_body *b, const dn_node *r) {
  dn_graph *g = b->g;
  if (!(dn_ops[r->op].flags & DN_F_EW)) return -1;
  for (int id = 0; id <= r->id; id++) {
    const dn_node *n = g->nodes.v[id];
    const dn_em_node *e = &b->nodes[id];
    if (id != r->id && !(e->kind == DN_EMK_INLINE && e->pos == r->id)) continue;
    for (int j = 0; j < n->nin; j++) {
      const dn_node *x = n->in[j];
      if (b->nodes[x->id].kind == DN_EMK_INLINE) continue;
      if (dn_shape_count(x->shape) != dn_shape_count(r->shape)) continue;
      while (b->nodes[x->id].kind == DN_EMK_VIEW) x = x->in[0];
      if (x->op == DN_OP_SCAN) continue; /* a loop's buffer holds several values */
      const dn_em_node *xe = &b->nodes[x->id];
      if (xe->kind != DN_EMK_ARENA || xe->buf < 0 || x->dtype != DN_F32 || xe->pinned) continue;
      if (dn_shape_count(x->shape) != dn_shape_count(r->shape) || b->plan.b[xe->buf].end != r->id) continue;
      return xe->buf;
    }
  }
  return -1;
}

/* Collects the arena buffers with their live ranges. */
static void collect(dn_em_body *b, size_t esize) {
  dn_graph *g = b->g;
  b->plan.b = dn_alloc(sizeof(dn_em_buf) * (size_t)(g->nodes.n + 1));
  b->plan.n = 0;
  for (int i = 0; i < g->nodes.n; i++) b->nodes[i].buf = -1;
  for (int i = 0; i < g->nodes.n; i++) {
    dn_em_node *e = &b->nodes[i];
    dn_node *n = g->nodes.v[i];
    if (e->kind != DN_EMK_ARENA) continue;
    int end = e->pinned ? g->nodes.n : (e->last > e->pos ? e->last : e->pos);
    int reuse = b->inplace ? inplace_buf(b, n) : -1;
    if (reuse >= 0) {
      e->buf = reuse;
      e->inplace = 1;
      b->plan.b[reuse].end = end;
      continue;
    }
    dn_em_buf *bf = &b->plan.b[b->plan.n];
    size_t el = n->dtype == DN_I32 ? 4 : esize;
    bf->node = i;
    bf->bytes = e->bytes ? round64(e->bytes) : round64((size_t)dn_shape_count(n->shape) * el);
    bf->def = e->pos;
    bf->end = end;
    e->buf = b->plan.n++;
  }
}

static int by_size(const void *x, const void *y) {
  const dn_em_buf *a = *(dn_em_buf *const *)x, *b = *(dn_em_buf *const *)y;
  if (a->bytes != b->bytes) return a->bytes < b->bytes ? 1 : -1;
  return a->def - b->def;
}

static int by_off(const void *x, const void *y) {
  const dn_em_buf *a = *(dn_em_buf *const *)x, *b = *(dn_em_buf *const *)y;
  return a->off < b->off ? -1 : a->off > b->off;
}

/* Best fit of bf among the placed buffers that overlap it in time. */
static void place(dn_em_buf *bf, dn_em_buf **placed, int np, dn_em_buf **tmp) {
  int k = 0;
  for (int i = 0; i < np; i++)
    if (overlap(bf, placed[i])) tmp[k++] = placed[i];
  qsort(tmp, (size_t)k, sizeof *tmp, by_off);
  size_t cur = 0, best = (size_t)-1, best_gap = (size_t)-1;
  for (int i = 0; i < k; i++) {
    if (tmp[i]->off >= cur + bf->bytes && tmp[i]->off - cur < best_gap) best = cur, best_gap = tmp[i]->off - cur;
    size_t e = tmp[i]->off + tmp[i]->bytes;
    if (e > cur) cur = e;
  }
  bf->off = best != (size_t)-1 ? best : cur;
}

void dn_em_plan_build(dn_em_body *b, size_t esize) {
  collect(b, esize);
  int n = b->plan.n;
  dn_em_buf **order = dn_alloc(sizeof *order * (size_t)(n + 1)), **tmp = dn_alloc(sizeof *tmp * (size_t)(n + 1));
  for (int i = 0; i < n; i++) order[i] = &b->plan.b[i];
  qsort(order, (size_t)n, sizeof *order, by_size);
  b->plan.total = 0;
  for (int i = 0; i < n; i++) {
    place(order[i], order, i, tmp);
    if (order[i]->off + order[i]->bytes > b->plan.total) b->plan.total = order[i]->off + order[i]->bytes;
  }
  b->plan.peak = 0;
  for (int t = 0; t <= b->g->nodes.n; t++) {
    size_t live = 0;
    for (int i = 0; i < n; i++)
      if (b->plan.b[i].def <= t && t <= b->plan.b[i].end) live += b->plan.b[i].bytes;
    if (live > b->plan.peak) b->plan.peak = live;
  }
}

void dn_em_plan_dump(const dn_em_body *b, const char *what, size_t fixed, FILE *out) {
  fprintf(out, "plan %s: %d buffers\n", what, b->plan.n);
  fprintf(out, "  %-6s %-24s %12s %12s  %s\n", "node", "name", "offset", "bytes", "live");
  for (int i = 0; i < b->plan.n; i++) {
    const dn_em_buf *bf = &b->plan.b[i];
    const dn_node *nd = b->g->nodes.v[bf->node];
    fprintf(out, "  %%%-5d %-24s %12zu %12zu  [%d, %d]\n", bf->node, nd->name ? nd->name : dn_ops[nd->op].name, bf->off,
            bf->bytes, bf->def, bf->end);
  }
  fprintf(out, "  arena %zu bytes (lower bound %zu); fixed state %zu bytes; total %zu (lower bound %zu)\n",
          b->plan.total, b->plan.peak, fixed, fixed + b->plan.total, fixed + b->plan.peak);
}
