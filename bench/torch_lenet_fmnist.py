#!/usr/bin/python3
"""PyTorch side of the README's main job, for comparison with
`dnncc train examples/lenet5_bn.dnn --data fashion-mnist` (or examples/lenet5.dnn with
`bn=0 batch=64`): the same LeNet-5 (with batchnorm after both convolutions and the first dense layer when bn=1), Adam
(lr 0.001), 2 epochs over the 60000 training images (reshuffled every epoch), pixels scaled
to [0, 1], then test accuracy on the 10000 test images in inference mode. Prints the test
accuracy, the wall time and the training samples per second.

usage: bench/torch_lenet_fmnist.py [threads=1] [epochs=2] [bn=1] [batch=32]  (python3-torch)
"""
import gzip
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

DIR = "/usr/share/datasets/fashion-mnist"


def idx(name, offset):
    with gzip.open(os.path.join(DIR, name)) as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def main():
    opt = dict(threads=1, epochs=2, bn=1, batch=32)
    for a in sys.argv[1:]:
        k, v = a.split("=")
        opt[k] = int(v)
    threads, epochs, bn, B = opt["threads"], opt["epochs"], opt["bn"], opt["batch"]
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    xtr = torch.tensor(idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    ytr = torch.tensor(idx("train-labels-idx1-ubyte.gz", 8).astype(np.int64))
    xte = torch.tensor(idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28) / 255.0, dtype=torch.float32)
    yte = torch.tensor(idx("t10k-labels-idx1-ubyte.gz", 8).astype(np.int64))
    norm = (lambda c: torch.nn.BatchNorm2d(c)) if bn else (lambda c: torch.nn.Identity())
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2, bias=not bn), norm(6), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(6, 16, 5, bias=not bn), norm(16), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(400, 120, bias=not bn), torch.nn.BatchNorm1d(120) if bn else torch.nn.Identity(),
        torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
        torch.nn.Linear(84, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    t0 = time.time()
    train_s = 0.0
    n = xtr.shape[0] // B * B
    for _ in range(epochs):
        perm = torch.randperm(xtr.shape[0])
        s0 = time.time()
        for i in range(0, n, B):
            b = perm[i:i + B]
            opt.zero_grad()
            F.cross_entropy(net(xtr[b]), ytr[b]).backward()
            opt.step()
        train_s += time.time() - s0
    net.eval()
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"torch {torch.__version__}, {threads} thread(s), {epochs} epochs, batch {B}, bn {bn}")
    print(f"test accuracy {acc:.4f}")
    print(f"wall time {time.time() - t0:.1f} s")
    print(f"samples/s {epochs * n / train_s:.0f}")


if __name__ == "__main__":
    main()
