#!/usr/bin/python3
"""gen_recurrent.py - PyTorch reference cases for dnncc's recurrent layers and `scan`.

Writes tests/fixtures/rec_<name>/ in the format of /work/shared/conformance/cases/*:
case.json, model.dnn, weights.safetensors (SPEC 2.6 names, F32), in_<input>.npy,
out_<output>.npy, loss.npy (float64 scalar: the batch-mean loss) and grad.safetensors
(gradient of the batch-mean loss w.r.t. every trainable parameter). Weights and inputs are
float32; every reference is computed by PyTorch in float64 from those float32 values.
rnn/lstm/gru go through torch.nn.RNN/LSTM/GRU (PyTorch's own layer-0 layout and gate
order); reverse=true is PyTorch's backward direction (flip, run, flip back); explicit
`scan` bodies are written as plain Python loops over time.
Run with /usr/bin/python3 (python3-torch) from anywhere; deterministic.
"""
import json
import os
import struct

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")
B = 2  # batch of every case
torch.set_default_dtype(torch.float64)


def write_safetensors(path, tensors):
    """tensors: {name: float32 ndarray}, written in sorted key order."""
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = np.ascontiguousarray(tensors[k], dtype="<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# --- reference layers -------------------------------------------------------------------

def _layer(kind, x, P, name, H, reverse=False, act="tanh"):
    """x: [B, T, I] float64 tensor; returns [B, T, H] with the weights P[name + '.*'].

    Calls the kernels behind torch.nn.RNN/LSTM/GRU (torch._VF.*, the same calls as their
    forward()) with the tensors of P, so layouts and gate orders are PyTorch's own and the
    gradients reach P (torch 1.13's functional_call does not reach an RNN's flat weights).
    """
    w = [P[f"{name}.{p}"] for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    xs = torch.flip(x, [1]) if reverse else x
    h0 = torch.zeros(1, x.shape[0], H)
    args = (w, True, 1, 0.0, False, False, True)  # biases, layers, dropout, train, bidir, batch_first
    if kind == "lstm":
        out = torch._VF.lstm(xs, (h0, h0), *args)[0]
    elif kind == "gru":
        out = torch._VF.gru(xs, h0, *args)[0]
    else:
        out = (torch._VF.rnn_tanh if act == "tanh" else torch._VF.rnn_relu)(xs, h0, *args)[0]
    return torch.flip(out, [1]) if reverse else out


def _dense(x, P, name, bias=True):
    y = x @ P[name + ".weight"].t()
    return y + P[name + ".bias"] if bias else y


def _ce(logits, y):
    """per-sample cross entropy: logits [B, ..., K], y [B, ...] -> [B] (mean over positions)."""
    lp = F.log_softmax(logits, dim=-1)
    nll = -lp.gather(-1, y.unsqueeze(-1)).squeeze(-1)
    return nll.reshape(nll.shape[0], -1).mean(1)


def _mse(p, t):
    return ((p - t) ** 2).reshape(p.shape[0], -1).mean(1)


def layer_params(name, kind, I, H):
    g = {"rnn": 1, "lstm": 4, "gru": 3}[kind]
    bound = 1 / np.sqrt(H)
    return [(f"{name}.weight_ih", (g * H, I), bound), (f"{name}.weight_hh", (g * H, H), bound),
            (f"{name}.bias_ih", (g * H,), bound), (f"{name}.bias_hh", (g * H,), bound)]


def dense_params(name, I, U, bias=True):
    b = 1 / np.sqrt(I)
    return [(f"{name}.weight", (U, I), b)] + ([(f"{name}.bias", (U,), b)] if bias else [])


# --- the cases --------------------------------------------------------------------------
# Each case: name, model text, params [(name, shape, bound)], inputs [(name, shape, K or 0)],
# infer_inputs, outputs, forward(P, X) -> ({output: tensor}, per-sample loss [B]).

CASES = []


def case(name, text, params, inputs, infer, outputs):
    def deco(fn):
        CASES.append((name, text, params, inputs, infer, outputs, fn))
        return fn
    return deco


def simple_layer_case(name, kind, act="tanh", reverse=False, T=6, I=4, H=5, K=3):
    opts = (f", activation={act}" if kind == "rnn" and act != "tanh" else "") + (", reverse=true" if reverse else "")
    pick = "hs[0]" if reverse else "hs[-1]"
    text = (f"model {name}\ninput x : [{T}, {I}]\ninput y : class({K})\n"
            f"hs = {kind}(x, {H}{opts})\n"
            f"output logits = dense({pick}, {K})\nloss = cross_entropy(logits, y)\n")

    @case(name, text, layer_params("hs", kind, I, H) + dense_params("logits", H, K),
          [("x", (T, I), 0), ("y", (), K)], ["x"], ["logits"])
    def fwd(P, X):
        hs = _layer(kind, X["x"], P, "hs", H, reverse, act)
        logits = _dense(hs[:, 0] if reverse else hs[:, -1], P, "logits")
        return {"logits": logits}, _ce(logits, X["y"])


simple_layer_case("rec_rnn_tanh", "rnn")
simple_layer_case("rec_rnn_relu", "rnn", act="relu")
simple_layer_case("rec_lstm", "lstm")
simple_layer_case("rec_gru", "gru")
simple_layer_case("rec_rnn_reverse", "rnn", reverse=True)
simple_layer_case("rec_lstm_reverse", "lstm", reverse=True)
simple_layer_case("rec_gru_reverse", "gru", reverse=True)


@case("rec_lstm_seq", """model rec_lstm_seq
input x : [5, 3]
input t : [5, 2]
hs = lstm(x, 4)
output pred = dense(hs, 2)
loss = mse(pred, t)
""", layer_params("hs", "lstm", 3, 4) + dense_params("pred", 4, 2),
    [("x", (5, 3), 0), ("t", (5, 2), 0)], ["x"], ["pred"])
def _lstm_seq(P, X):
    pred = _dense(_layer("lstm", X["x"], P, "hs", 4), P, "pred")
    return {"pred": pred}, _mse(pred, X["t"])


@case("rec_bidir", """model rec_bidir
input x : [6, 4]
input y : class(3)[6]
fwd = gru(x, 5)
bwd = gru(x, 5, reverse=true)
both = concat(fwd, bwd, axis=1)
output logits = dense(both, 3)
loss = cross_entropy(logits, y)
""", layer_params("fwd", "gru", 4, 5) + layer_params("bwd", "gru", 4, 5) + dense_params("logits", 10, 3),
    [("x", (6, 4), 0), ("y", (6,), 3)], ["x"], ["logits"])
def _bidir(P, X):
    both = torch.cat([_layer("gru", X["x"], P, "fwd", 5), _layer("gru", X["x"], P, "bwd", 5, True)], 2)
    logits = _dense(both, P, "logits")
    return {"logits": logits}, _ce(logits, X["y"])


@case("rec_scan_two_states", """model rec_scan_two_states
input x : [6, 3]
input y : class(3)
param W : [4, 3]
param U : [4, 4]
param b : [4]
scan x_t in x {
  state h : [4] = 0
  state c : [4] = 0.5
  g = sigmoid(W @ x_t + U @ h + b)
  c = g * c + (1 - g) * tanh(W @ x_t)
  h = tanh(c) * g + 0.1 * h
}
output logits = dense(h[-1] + c[2], 3)
loss = cross_entropy(logits, y)
""", [("W", (4, 3), 0.6), ("U", (4, 4), 0.6), ("b", (4,), 0.3)] + dense_params("logits", 4, 3),
    [("x", (6, 3), 0), ("y", (), 3)], ["x"], ["logits"])
def _two_states(P, X):
    x = X["x"]
    h = torch.zeros(x.shape[0], 4)
    c = torch.full((x.shape[0], 4), 0.5)
    hs, cs = [], []
    for t in range(x.shape[1]):
        xt = x[:, t]
        g = torch.sigmoid(xt @ P["W"].t() + h @ P["U"].t() + P["b"])
        c = g * c + (1 - g) * torch.tanh(xt @ P["W"].t())
        h = torch.tanh(c) * g + 0.1 * h
        hs.append(h)
        cs.append(c)
    logits = _dense(hs[-1] + cs[2], P, "logits")
    return {"logits": logits}, _ce(logits, X["y"])


@case("rec_scan_range", """model rec_scan_range
input z : [4]
input t : [5, 4]
param W : [4, 4]
param b : [4]
scan i in range(5) {
  state h : [4] = z
  h = tanh(W @ h + b + 0.1 * i)
}
output seq = h
loss = mse(h, t)
""", [("W", (4, 4), 0.7), ("b", (4,), 0.3)], [("z", (4,), 0), ("t", (5, 4), 0)], ["z"], ["seq"])
def _scan_range(P, X):
    h, hs = X["z"], []
    for i in range(5):
        h = torch.tanh(h @ P["W"].t() + P["b"] + 0.1 * i)
        hs.append(h)
    seq = torch.stack(hs, 1)
    return {"seq": seq}, _mse(seq, X["t"])


@case("rec_scan_reverse", """model rec_scan_reverse
input x : [6, 3]
input y : class(3)
param W : [4, 3]
param U : [4, 4]
scan x_t in reverse(x) {
  state h : [4] = 0
  h = tanh(W @ x_t + U @ h)
}
output logits = dense(h[0] + 0.5 * h[5], 3)
loss = cross_entropy(logits, y)
""", [("W", (4, 3), 0.6), ("U", (4, 4), 0.6)] + dense_params("logits", 4, 3),
    [("x", (6, 3), 0), ("y", (), 3)], ["x"], ["logits"])
def _scan_reverse(P, X):
    # runs t = T-1 .. 0; the stacked states keep time order (h[0] is the last one computed)
    x = X["x"]
    h = torch.zeros(x.shape[0], 4)
    hs = [None] * x.shape[1]
    for t in reversed(range(x.shape[1])):
        h = torch.tanh(x[:, t] @ P["W"].t() + h @ P["U"].t())
        hs[t] = h
    logits = _dense(hs[0] + 0.5 * hs[5], P, "logits")
    return {"logits": logits}, _ce(logits, X["y"])


@case("rec_scan_nested", """model rec_scan_nested
input x : [4, 3]
input m : [3, 4]
input y : class(3)
param W : [4, 3]
param U : [4, 4]
param V : [4, 4]
scan x_t in x {
  state h : [4] = 0
  scan m_j in m {
    state a : [4] = h
    a = tanh(V @ m_j + U @ a)
  }
  h = tanh(W @ x_t + a[-1])
}
output logits = dense(h[-1], 3)
loss = cross_entropy(logits, y)
""", [("W", (4, 3), 0.6), ("U", (4, 4), 0.6), ("V", (4, 4), 0.6)] + dense_params("logits", 4, 3),
    [("x", (4, 3), 0), ("m", (3, 4), 0), ("y", (), 3)], ["x", "m"], ["logits"])
def _scan_nested(P, X):
    x, m = X["x"], X["m"]
    h = torch.zeros(x.shape[0], 4)
    for t in range(x.shape[1]):
        a = h
        for j in range(m.shape[1]):
            a = torch.tanh(m[:, j] @ P["V"].t() + a @ P["U"].t())
        h = torch.tanh(x[:, t] @ P["W"].t() + a)
    logits = _dense(h, P, "logits")
    return {"logits": logits}, _ce(logits, X["y"])


@case("rec_scan_attention", """model rec_scan_attention
input x : [5, 4]
input q : [3, 4]
input y : class(3)[3]
enc = rnn(x, 4)
param Wa : [4, 4]
param va : [4]
scan q_t in q {
  state h : [4] = enc[-1]
  e = tanh(enc + Wa @ h) @ va
  ctx = softmax(e) @ enc
  h = tanh(q_t + ctx)
}
output logits = dense(h, 3)
loss = cross_entropy(logits, y)
""", layer_params("enc", "rnn", 4, 4) + [("Wa", (4, 4), 0.6), ("va", (4,), 0.6)] + dense_params("logits", 4, 3),
    [("x", (5, 4), 0), ("q", (3, 4), 0), ("y", (3,), 3)], ["x", "q"], ["logits"])
def _scan_attention(P, X):
    enc = _layer("rnn", X["x"], P, "enc", 4)
    h, hs = enc[:, -1], []
    for t in range(X["q"].shape[1]):
        e = torch.tanh(enc + (h @ P["Wa"].t()).unsqueeze(1)) @ P["va"]
        ctx = (F.softmax(e, dim=-1).unsqueeze(2) * enc).sum(1)
        h = torch.tanh(X["q"][:, t] + ctx)
        hs.append(h)
    logits = _dense(torch.stack(hs, 1), P, "logits")
    return {"logits": logits}, _ce(logits, X["y"])


@case("rec_tbptt", """model rec_tbptt
input x : [7, 3]
input t : [7, 2]
hs = rnn(x, 4)
param W : [4, 3]
param U : [4, 4]
scan x_t in reverse(x) {
  state g : [4] = 0
  g = tanh(W @ x_t + U @ g)
}
output pred = dense(hs + g, 2)
loss = mse(pred, t)
train { tbptt = 3 }
""", layer_params("hs", "rnn", 3, 4) + [("W", (4, 3), 0.6), ("U", (4, 4), 0.6)] + dense_params("pred", 4, 2),
    [("x", (7, 3), 0), ("t", (7, 2), 0)], ["x"], ["pred"])
def _tbptt(P, X):
    """Truncated BPTT with K = 3: the state entering every third step (in processing order,
    so from the end for the reverse scan) is detached, as PyTorch users do by hand."""
    x, K = X["x"], 3
    h = torch.zeros(x.shape[0], 4)
    hs = []
    for s in range(x.shape[1]):
        if s > 0 and s % K == 0:
            h = h.detach()
        h = torch.tanh(x[:, s] @ P["hs.weight_ih"].t() + P["hs.bias_ih"] + h @ P["hs.weight_hh"].t() + P["hs.bias_hh"])
        hs.append(h)
    g = torch.zeros(x.shape[0], 4)
    gs = [None] * x.shape[1]
    for s in range(x.shape[1]):
        t = x.shape[1] - 1 - s
        if s > 0 and s % K == 0:
            g = g.detach()
        g = torch.tanh(x[:, t] @ P["W"].t() + g @ P["U"].t())
        gs[t] = g
    pred = _dense(torch.stack(hs, 1) + torch.stack(gs, 1), P, "pred")
    return {"pred": pred}, _mse(pred, X["t"])


# --- writing ----------------------------------------------------------------------------

def write_case(idx, name, text, params, inputs, infer, outputs, fn):
    rng = np.random.default_rng(1000 + idx)
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    w32 = {k: rng.uniform(-b, b, size=s).astype(np.float32) for k, s, b in params}
    P = {k: torch.tensor(v.astype(np.float64), requires_grad=True) for k, v in w32.items()}
    X = {}
    for k, s, K in inputs:
        if K:
            a = rng.integers(0, K, size=(B,) + tuple(s)).astype(np.int32)
            X[k] = torch.tensor(a.astype(np.int64))
        else:
            a = rng.normal(0, 1, size=(B,) + tuple(s)).astype(np.float32)
            X[k] = torch.tensor(a.astype(np.float64))
        np.save(os.path.join(d, f"in_{k}.npy"), a)
    outs, per = fn(P, X)
    loss = per.mean()
    loss.backward()
    for k in outputs:
        np.save(os.path.join(d, f"out_{k}.npy"), outs[k].detach().numpy().astype(np.float32))
    np.save(os.path.join(d, "loss.npy"), np.array(loss.item(), dtype=np.float64))
    write_safetensors(os.path.join(d, "weights.safetensors"), w32)
    write_safetensors(os.path.join(d, "grad.safetensors"), {k: P[k].grad.numpy() for k in P})
    with open(os.path.join(d, "model.dnn"), "w") as f:
        f.write(text)
    meta = {"name": name, "batch": B, "inputs": [k for k, _, _ in inputs], "infer_inputs": infer,
            "outputs": outputs, "train": True, "trainable": [k for k, _, _ in params]}
    with open(os.path.join(d, "case.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: loss {loss.item():.6f}")


def main():
    for i, c in enumerate(CASES):
        write_case(i, *c)


if __name__ == "__main__":
    main()
