#!/usr/bin/python3
"""gen_fixtures.py - PyTorch reference fixtures for dnncc's gradients (autodiff + emitter).

Writes tests/fixtures/<name>/ in the conformance case format (see /work/shared/conformance:
case.json, model.dnn, weights.safetensors, in_*.npy, out_*.npy, loss.npy, grad.safetensors)
for a few models that exercise ops the shared cases do not: softplus, hardtanh, elu,
leaky_relu, maxout, sqrt/square, grouped and dilated convolutions, batchnorm after a bias-free convolution (training-mode
gradient, inference-mode output), avgpool with stride, embedding, transpose, conv1d,
logsumexp, bce_logits. Each model is written twice: as .dnn text and as the same math in
PyTorch (float64 from the float32 weights and inputs), with parameters under their SPEC 2.6
names. Run with /usr/bin/python3 (python3-torch) from anywhere; the output is committed so
the tests need no PyTorch:  python3 /work/shared/conformance/run.py --dnncc D tests/fixtures/*
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
BATCH = 3


def write_safetensors(path, tensors):
    """tensors: {name: np.ndarray float32}, written with sorted keys."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --- models: .dnn text, parameter shapes, inputs, and the PyTorch forward ---------------

ACT_ZOO = """model act_zoo
input x : [6]
input t : [4]
h1 = softplus(dense(x, 8))
h2 = hardtanh(dense(h1, 8), lo=-0.5, hi=0.5)
h3 = elu(dense(x, 8), alpha=0.7)
h4 = maxout(leaky_relu(dense(h2 + h3, 8), slope=0.1), 2)
g = sigmoid(dense(h2, 4))
output o = sqrt(square(h4) + 1) * g
loss = mse(o, t)
"""


def act_zoo(p, x, t, train):
    lin = lambda v, n: F.linear(v, p[n + ".weight"], p[n + ".bias"])
    h1 = F.softplus(lin(x, "h1"))
    h2 = F.hardtanh(lin(h1, "h2"), -0.5, 0.5)
    h3 = F.elu(lin(x, "h3"), alpha=0.7)
    h4 = F.leaky_relu(lin(h2 + h3, "h4"), 0.1).view(-1, 4, 2).amax(2)
    g = torch.sigmoid(lin(h2, "g"))
    o = torch.sqrt(h4 * h4 + 1) * g
    return {"o": o}, ((o - t) ** 2).mean(1)


CONV_BN = """model conv_bn
input x : [4, 9, 9]
input y : class(5)
c1 = conv2d(x, 6, kernel=3, stride=2, pad=1, groups=2, bias=false)
b1 = batchnorm(c1)
p1 = avgpool(relu(b1), 2, stride=1)
c2 = conv2d(p1, 4, kernel=2, dilation=2)
output logits = dense(flatten(tanh(c2)), 5)
loss = cross_entropy(logits, y)
"""


def conv_bn(p, x, y, train):
    c1 = F.conv2d(x, p["c1.weight"], None, stride=2, padding=1, groups=2)
    rm, rv = p["b1.running_mean"].clone(), p["b1.running_var"].clone()
    b1 = F.batch_norm(c1, rm, rv, p["b1.weight"], p["b1.bias"], training=train, momentum=0.1, eps=1e-5)
    p1 = F.avg_pool2d(F.relu(b1), 2, stride=1)
    c2 = F.conv2d(p1, p["c2.weight"], p["c2.bias"], dilation=2)
    logits = F.linear(torch.tanh(c2).flatten(1), p["logits.weight"], p["logits.bias"])
    return {"logits": logits}, F.cross_entropy(logits, y, reduction="none")


EMBED_CONV1D = """model embed_conv1d
input c : class(10)[7]
input t : [3]
e = embedding(c, 10, 4)
s = transpose(e)
k = conv1d(s, 5, 3, pad=1)
m = logsumexp(k, axis=-1)
output o = dense(m, 3)
loss = bce_logits(o, t)
"""


def embed_conv1d(p, c, t, train):
    e = F.embedding(c, p["e.weight"])
    k = F.conv1d(e.transpose(1, 2), p["k.weight"], p["k.bias"], padding=1)
    m = torch.logsumexp(k, dim=-1)
    o = F.linear(m, p["o.weight"], p["o.bias"])
    return {"o": o}, F.binary_cross_entropy_with_logits(o, t, reduction="none").mean(1)


MODELS = [
    ("act_zoo", ACT_ZOO, act_zoo,
     {"h1.weight": (8, 6), "h1.bias": (8,), "h2.weight": (8, 8), "h2.bias": (8,), "h3.weight": (8, 6),
      "h3.bias": (8,), "h4.weight": (8, 8), "h4.bias": (8,), "g.weight": (4, 8), "g.bias": (4,)},
     [("x", "f", (6,)), ("t", "f", (4,))], ["x"]),
    ("conv_bn", CONV_BN, conv_bn,
     {"c1.weight": (6, 2, 3, 3), "b1.weight": (6,), "b1.bias": (6,),
      "b1.running_mean": (6,), "b1.running_var": (6,), "c2.weight": (4, 6, 2, 2), "c2.bias": (4,),
      "logits.weight": (5, 16), "logits.bias": (5,)},
     [("x", "f", (4, 9, 9)), ("y", 5, ())], ["x"]),
    ("embed_conv1d", EMBED_CONV1D, embed_conv1d,
     {"e.weight": (10, 4), "k.weight": (5, 4, 3), "k.bias": (5,), "o.weight": (3, 5), "o.bias": (3,)},
     [("c", 10, (7,)), ("t", "u", (3,))], ["c"]),
]
STATE = {"b1.running_mean", "b1.running_var"}


def make_inputs(rng, spec):
    arrs = {}
    for name, kind, shape in spec:
        if kind == "f":
            arrs[name] = rng.standard_normal((BATCH,) + shape).astype(np.float32)
        elif kind == "u":
            arrs[name] = rng.uniform(0, 1, (BATCH,) + shape).astype(np.float32)
        else:
            arrs[name] = rng.integers(0, kind, (BATCH,) + shape).astype(np.int32)
    return arrs


def make_weights(rng, shapes):
    w = {}
    for name, shape in shapes.items():
        if name.endswith("running_var"):
            w[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        else:
            w[name] = (0.5 * rng.standard_normal(shape)).astype(np.float32)
    return w


def as_torch(a):
    return torch.tensor(a.astype(np.int64)) if a.dtype == np.int32 else torch.tensor(a.astype(np.float64))


def generate(index, name, text, fn, shapes, inputs, infer_inputs):
    rng = np.random.default_rng(1000 + index)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    w = make_weights(rng, shapes)
    ins = make_inputs(rng, inputs)
    p = {k: torch.tensor(v.astype(np.float64), requires_grad=k not in STATE) for k, v in w.items()}
    args = [as_torch(ins[n]) for n, _, _ in inputs]
    with torch.no_grad():
        outs, _ = fn(p, *args, train=False)
    _, per_sample = fn(p, *args, train=True)
    loss = per_sample.mean()
    loss.backward()
    with open(os.path.join(d, "model.dnn"), "w") as f:
        f.write(text)
    write_safetensors(os.path.join(d, "weights.safetensors"), w)
    for n, a in ins.items():
        np.save(os.path.join(d, "in_" + n + ".npy"), a)
    for n, o in outs.items():
        np.save(os.path.join(d, "out_" + n + ".npy"), o.numpy().astype(np.float32))
    np.save(os.path.join(d, "loss.npy"), np.array(loss.item(), dtype=np.float64))
    trainable = [k for k in shapes if k not in STATE]
    write_safetensors(os.path.join(d, "grad.safetensors"), {k: p[k].grad.numpy() for k in trainable})
    meta = {"name": name, "batch": BATCH, "inputs": [n for n, _, _ in inputs], "infer_inputs": infer_inputs,
            "outputs": list(outs), "train": True, "trainable": trainable}
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"{name}: loss {loss.item():.9g}")


if __name__ == "__main__":
    for i, m in enumerate(MODELS):
        generate(i, *m)
