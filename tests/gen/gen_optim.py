#!/usr/bin/python3
"""gen_optim.py - PyTorch reference fixtures for dnncc's optimizer emission (codegen/optim.c).

For every optimizer and option combination, two parameters (shapes [3, 4] and [5], float64)
take STEPS steps of torch.optim with given random gradients, after torch.nn.utils
clip_grad_value_ / clip_grad_norm_ when the case clips. Each case is one .npy of shape
[1 + 2*STEPS, N] (N = all parameter elements, concatenated in order): row 0 the initial
parameters, rows 1..STEPS the raw gradients of each step, rows STEPS+1..2*STEPS the
parameters PyTorch holds after each step. cases.txt lists one case per line:
  name optimizer lr momentum dampening nesterov alpha eps rho beta1 beta2 weight_decay clip_norm clip_value
Run with /usr/bin/python3 (python3-torch) from anywhere: writes tests/fixtures/optim/.
"""
import os
import numpy as np
import torch

STEPS = 5
SHAPES = [(3, 4), (5,)]
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "optim")

# name, optimizer, keyword arguments (SPEC 2.8 names), clip_norm, clip_value
CASES = [
    ("sgd_plain", "sgd", dict(lr=0.1), 0, 0),
    ("sgd_wd", "sgd", dict(lr=0.05, weight_decay=0.01), 0, 0),
    ("sgd_momentum", "sgd", dict(lr=0.1, momentum=0.9), 0, 0),
    ("sgd_dampening", "sgd", dict(lr=0.1, momentum=0.8, dampening=0.3), 0, 0),
    ("sgd_nesterov", "sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.001), 0, 0),
    ("sgd_clipnorm", "sgd", dict(lr=0.1, momentum=0.5), 1.5, 0),
    ("sgd_clipvalue", "sgd", dict(lr=0.1), 0, 0.5),
    ("sgd_clipboth", "sgd", dict(lr=0.1, momentum=0.9), 1.0, 0.7),
    ("rmsprop", "rmsprop", dict(lr=0.01), 0, 0),
    ("rmsprop_opts", "rmsprop", dict(lr=0.02, alpha=0.9, eps=1e-6, weight_decay=0.05), 0, 0),
    ("adagrad", "adagrad", dict(lr=0.1), 0, 0),
    ("adagrad_opts", "adagrad", dict(lr=0.05, eps=1e-4, weight_decay=0.1), 2.0, 0),
    ("adadelta", "adadelta", dict(lr=1.0), 0, 0),
    ("adadelta_opts", "adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.02), 0, 0.3),
    ("adam", "adam", dict(lr=0.001), 0, 0),
    ("adam_opts", "adam", dict(lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1), 0, 0),
    ("adam_clip", "adam", dict(lr=0.005), 0.8, 0.9),
]

DEFAULTS = dict(lr=0.01, momentum=0.0, dampening=0.0, nesterov=False, alpha=0.99, eps=None, rho=0.9,
                beta1=0.9, beta2=0.999, weight_decay=0.0)
EPS_DEFAULT = dict(sgd=0.0, rmsprop=1e-8, adagrad=1e-10, adadelta=1e-6, adam=1e-8)


def make_optimizer(kind, params, kw):
    wd = kw.get("weight_decay", 0.0)
    if kind == "sgd":
        return torch.optim.SGD(params, lr=kw["lr"], momentum=kw.get("momentum", 0.0),
                               dampening=kw.get("dampening", 0.0), nesterov=kw.get("nesterov", False),
                               weight_decay=wd, foreach=False)
    if kind == "rmsprop":
        return torch.optim.RMSprop(params, lr=kw["lr"], alpha=kw.get("alpha", 0.99), eps=kw.get("eps", 1e-8),
                                   weight_decay=wd, foreach=False)
    if kind == "adagrad":
        return torch.optim.Adagrad(params, lr=kw["lr"], eps=kw.get("eps", 1e-10), weight_decay=wd,
                                   foreach=False)
    if kind == "adadelta":
        return torch.optim.Adadelta(params, lr=kw.get("lr", 1.0), rho=kw.get("rho", 0.9),
                                    eps=kw.get("eps", 1e-6), weight_decay=wd, foreach=False)
    if kind == "adam":
        return torch.optim.Adam(params, lr=kw["lr"], betas=(kw.get("beta1", 0.9), kw.get("beta2", 0.999)),
                                eps=kw.get("eps", 1e-8), weight_decay=wd, foreach=False)
    raise ValueError(kind)


def run_case(index, kind, kw, clip_norm, clip_value):
    gen = torch.Generator().manual_seed(1000 + index)
    params = [torch.randn(s, generator=gen, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    opt = make_optimizer(kind, params, kw)
    rows = [torch.cat([p.detach().flatten() for p in params])]
    grads, after = [], []
    for step in range(STEPS):
        gs = [torch.randn(s, generator=gen, dtype=torch.float64) * (0.5 + step * 0.4) for s in SHAPES]
        grads.append(torch.cat([g.flatten() for g in gs]))
        for p, g in zip(params, gs):
            p.grad = g.clone()
        if clip_value > 0:
            torch.nn.utils.clip_grad_value_(params, clip_value)
        if clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(params, clip_norm)
        opt.step()
        after.append(torch.cat([p.detach().flatten() for p in params]))
    return torch.stack(rows + grads + after).numpy()


def main():
    os.makedirs(OUT, exist_ok=True)
    lines = []
    for i, (name, kind, kw, cn, cv) in enumerate(CASES):
        np.save(os.path.join(OUT, name + ".npy"), run_case(i, kind, kw, cn, cv))
        v = dict(DEFAULTS)
        v.update(kw)
        if v["eps"] is None:
            v["eps"] = EPS_DEFAULT[kind]
        lines.append("%s %s %r %r %r %d %r %r %r %r %r %r %r %r" % (
            name, kind, v["lr"], v["momentum"], v["dampening"], int(v["nesterov"]), v["alpha"], v["eps"],
            v["rho"], v["beta1"], v["beta2"], v["weight_decay"], float(cn), float(cv)))
    with open(os.path.join(OUT, "cases.txt"), "w") as f:
        f.write("# generated by tests/gen/gen_optim.py (torch %s); steps %d; shapes %s\n"
                % (torch.__version__, STEPS, " ".join("x".join(map(str, s)) for s in SHAPES)))
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
