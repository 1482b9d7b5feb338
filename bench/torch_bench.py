#!/usr/bin/python3
"""PyTorch (eager) side of bench/run: the same four architectures, same batch sizes.
Prints one line per measurement: `<model> <infer|train> <threads> <median microseconds>`."""
import sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(s):
        super().__init__(); s.a = nn.Linear(784, 256); s.b = nn.Linear(256, 128); s.c = nn.Linear(128, 10)
    def forward(s, x):
        return s.c(F.relu(s.b(F.relu(s.a(x)))))


class LeNet5(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1 = nn.Conv2d(1, 6, 5, padding=2); s.c2 = nn.Conv2d(6, 16, 5)
        s.f1 = nn.Linear(400, 120); s.f2 = nn.Linear(120, 84); s.f3 = nn.Linear(84, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.c1(x)), 2); x = F.max_pool2d(F.relu(s.c2(x)), 2)
        return s.f3(F.relu(s.f2(F.relu(s.f1(x.flatten(1))))))


class CifarCNN(nn.Module):
    def __init__(s):
        super().__init__()
        s.a1 = nn.Conv2d(3, 32, 3, padding=1); s.a2 = nn.Conv2d(32, 32, 3, padding=1)
        s.b1 = nn.Conv2d(32, 64, 3, padding=1); s.b2 = nn.Conv2d(64, 64, 3, padding=1)
        s.f = nn.Linear(64 * 8 * 8, 256); s.o = nn.Linear(256, 10)
    def forward(s, x):
        x = F.max_pool2d(F.relu(s.a2(F.relu(s.a1(x)))), 2)
        x = F.max_pool2d(F.relu(s.b2(F.relu(s.b1(x)))), 2)
        return s.o(F.relu(s.f(x.flatten(1))))


class LSTM(nn.Module):
    def __init__(s):
        super().__init__(); s.l = nn.LSTM(64, 128, batch_first=True); s.o = nn.Linear(128, 10)
    def forward(s, x):
        return s.o(s.l(x)[0][:, -1])


MODELS = {"mlp": (MLP, (784,)), "lenet5": (LeNet5, (1, 28, 28)), "cifar_cnn": (CifarCNN, (3, 32, 32)),
          "lstm": (LSTM, (32, 64))}


def median_us(fn, iters):
    for _ in range(5):
        fn()
    ts = []
    for _ in range(iters):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1e6)
    ts.sort()
    return ts[len(ts) // 2]


def main():
    iters = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    names = sys.argv[2:] or list(MODELS)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for name in names:
            cls, shape = MODELS[name]
            torch.manual_seed(0)
            m = cls()
            x1 = torch.rand(1, *shape)
            with torch.no_grad():
                t = median_us(lambda: m(x1), iters)
            print(f"{name} infer {threads} {t:.2f}", flush=True)
            opt = torch.optim.SGD(m.parameters(), lr=0.01)
            x = torch.rand(64, *shape); y = torch.randint(0, 10, (64,))
            def step():
                opt.zero_grad(); F.cross_entropy(m(x), y).backward(); opt.step()
            t = median_us(step, max(iters // 4, 20))
            print(f"{name} train {threads} {t:.2f}", flush=True)


if __name__ == "__main__":
    main()
