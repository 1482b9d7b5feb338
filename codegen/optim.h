/* optim.h - the optimizer update and gradient clipping of P_train_step (codegen/optim.c).
 *
 * PyTorch's exact rules (torch.optim.SGD with momentum/dampening/nesterov/weight_decay,
 * RMSprop, Adagrad, Adadelta, Adam), specialized to each parameter's size with the
 * hyperparameters as constants, one fused pass per parameter. The emitter (emit.c) lays
 * out the state and calls these to print code inside P_train_step_v, after the gradients
 * have been computed.
 */
#ifndef DNNCC_OPTIM_H
#define DNNCC_OPTIM_H

#include "ir.h"

/* Where one trainable parameter lives in the state block (byte offsets). */
typedef struct dn_cg_slot {
  const char *name;      /* parameter name */
  int64_t count;         /* elements */
  size_t param_off;      /* the parameter */
  size_t grad_off;       /* its gradient (already the gradient of the batch-mean loss) */
  size_t state_off[2];   /* optimizer state tensors (count elements each), as many as dn_cg_optim_nstate */
} dn_cg_slot;

/* Number of per-parameter state tensors the optimizer needs (0..2). */
int dn_cg_optim_nstate(const dn_train_cfg *cfg);

/* Prints C statements: clipping (clip_value, then clip_norm over all gradients, as
 * torch.nn.utils.clip_grad_value_/clip_grad_norm_), then the update of every slot.
 * `state` is a C expression of type char * for the state block; `step` an expression of
 * type int64_t holding the 1-based step number (already incremented). All optimizer state
 * starts at zero (P_init clears it). */
void dn_cg_emit_update(dn_buf *c, const dn_train_cfg *cfg, const dn_cg_slot *slots, int n, const char *real,
                       const char *state, const char *step);

#endif
