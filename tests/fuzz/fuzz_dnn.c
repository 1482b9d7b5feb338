/* fuzz_dnn.c - the whole front end on arbitrary source text: lexer, parser, checker, scan
 * unrolling, simplification and (when the model has a loss) autodiff, exactly as
 * `dnncc --train --threads 2` runs them before emitting C (with the training graph for half
 * the batch too when the model's samples do not mix: dn_sample_separable). Any input must end in diagnostics or a
 * graph; an internal error (dn_die: exit 3), a crash, a leak or undefined behaviour is a
 * finding. Diagnostics go to stderr: run with -close_fd_mask=2 to keep logs small. */
#include <stdint.h>
#include <stddef.h>

#include "diag.h"
#include "pipeline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t len) {
  dn_diag_reset();
  dn_unit u = {0};
  u.prog = dn_parse("fuzz.dnn", (const char *)data, len);
  if (u.prog) {
    dn_pipeline_opts o = {"fuzz.dnn", 0, 1, 2, NULL, 2};
    dn_pipeline_ast(&o, &u);
  }
  dn_arena_reset();
  return 0;
}
