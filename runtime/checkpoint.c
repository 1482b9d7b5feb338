/* checkpoint.c - training checkpoints: DIR/checkpoint.dnck.
 *
 * Layout (all integers little-endian 64-bit):
 *   "DNCKPT01" fingerprint epoch step rng best_score(IEEE bits) best_epoch
 *   state_bytes best_bytes log_len, then the state block, the best parameters, the log
 *   text, and a CRC-32 (zlib) of everything before it as a final 64-bit word.
 * Reading checks the magic, every length against the file size and the CRC, so a torn
 * or foreign file is rejected with a message rather than resumed from. Writing goes through
 * dnrt_write_atomic (temporary file, fsync, rename).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "dnrt.h"
#include "dnrt_train.h"

#define DNRT_CKPT_MAGIC "DNCKPT01"
#define DNRT_CKPT_HEAD (8 + 9 * 8)

static void dnrt_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t dnrt_get64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static char *dnrt_ckpt_path(const char *dir) {
  size_t n = strlen(dir) + 32;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/checkpoint.dnck", dir);
  return p;
}

/* mkdir -p for one level (the checkpoint directory itself). */
static int dnrt_ckpt_mkdir(const char *dir) {
  struct stat st;
  if (stat(dir, &st) == 0) return S_ISDIR(st.st_mode) ? 0 : dnrt_fail("%s: not a directory", dir);
  if (mkdir(dir, 0777) != 0 && errno != EEXIST) return dnrt_fail("%s: cannot create: %s", dir, strerror(errno));
  return 0;
}

int dnrt_ckpt_save(const char *dir, const dnrt_ckpt *c) {
  if (dnrt_ckpt_mkdir(dir)) return -1;
  size_t n = DNRT_CKPT_HEAD + c->state_bytes + c->best_bytes + c->log_len + 8;
  uint8_t *b = malloc(n);
  char *path = dnrt_ckpt_path(dir);
  if (!b || !path) {
    free(b), free(path);
    return dnrt_fail("%s: out of memory writing a checkpoint", dir);
  }
  uint64_t score;
  memcpy(&score, &c->best_score, 8);
  uint64_t head[9] = {c->fingerprint, (uint64_t)c->epoch, (uint64_t)c->step, c->rng, score, (uint64_t)c->best_epoch,
                      c->state_bytes, c->best_bytes, c->log_len};
  memcpy(b, DNRT_CKPT_MAGIC, 8);
  for (int i = 0; i < 9; i++) dnrt_put64(b + 8 + 8 * i, head[i]);
  size_t pos = DNRT_CKPT_HEAD;
  if (c->state_bytes) memcpy(b + pos, c->state, c->state_bytes), pos += c->state_bytes;
  if (c->best_bytes) memcpy(b + pos, c->best, c->best_bytes), pos += c->best_bytes;
  if (c->log_len) memcpy(b + pos, c->log, c->log_len), pos += c->log_len;
  dnrt_put64(b + pos, crc32_z(0L, b, pos));
  int rc = dnrt_write_atomic(path, b, n);
  free(b), free(path);
  return rc;
}

/* Copies len bytes at *pos into a fresh buffer (+1 NUL byte). */
static void *dnrt_ckpt_take(const uint8_t *b, size_t *pos, size_t len) {
  uint8_t *p = malloc(len + 1);
  if (!p) return NULL;
  memcpy(p, b + *pos, len);
  p[len] = 0;
  *pos += len;
  return p;
}

int dnrt_ckpt_load(const char *dir, dnrt_ckpt *c) {
  memset(c, 0, sizeof *c);
  char *path = dnrt_ckpt_path(dir), *data = NULL;
  size_t n = 0;
  struct stat st;
  if (!path) return dnrt_fail("out of memory");
  if (stat(path, &st) != 0) {
    free(path);
    return 1;
  }
  if (dnrt_read_file(path, (size_t)1 << 40, &data, &n)) {
    free(path);
    return -1;
  }
  const uint8_t *b = (const uint8_t *)data;
  int rc = -1;
  if (n < DNRT_CKPT_HEAD + 8 || memcmp(b, DNRT_CKPT_MAGIC, 8) != 0) {
    dnrt_fail("%s: not a dnncc checkpoint", path);
    goto done;
  }
  uint64_t h[9];
  for (int i = 0; i < 9; i++) h[i] = dnrt_get64(b + 8 + 8 * i);
  if (h[6] > n || h[7] > n || h[8] > n || DNRT_CKPT_HEAD + h[6] + h[7] + h[8] + 8 != n) {
    dnrt_fail("%s: truncated or corrupt checkpoint (sizes do not add up)", path);
    goto done;
  }
  if (dnrt_get64(b + n - 8) != crc32_z(0L, b, n - 8)) {
    dnrt_fail("%s: corrupt checkpoint (CRC mismatch)", path);
    goto done;
  }
  c->fingerprint = h[0], c->epoch = (int64_t)h[1], c->step = (int64_t)h[2], c->rng = h[3];
  memcpy(&c->best_score, &h[4], 8);
  c->best_epoch = (int64_t)h[5];
  size_t pos = DNRT_CKPT_HEAD;
  c->state_bytes = h[6], c->best_bytes = h[7], c->log_len = h[8];
  c->state = dnrt_ckpt_take(b, &pos, c->state_bytes);
  c->best = c->best_bytes ? dnrt_ckpt_take(b, &pos, c->best_bytes) : NULL;
  c->log = dnrt_ckpt_take(b, &pos, c->log_len);
  if (!c->state || (c->best_bytes && !c->best) || !c->log) {
    dnrt_ckpt_free(c);
    dnrt_fail("%s: out of memory", path);
    goto done;
  }
  rc = 0;
done:
  free(data), free(path);
  return rc;
}

void dnrt_ckpt_free(dnrt_ckpt *c) {
  free(c->state), free(c->best), free(c->log);
  c->state = c->best = NULL, c->log = NULL;
}
