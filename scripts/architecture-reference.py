#!/usr/bin/env python3
"""PyTorch's training throughput for the architectures `credence perf --parts lenet5,resnet20,densenet`
measures: the same module trees as scripts/make_pytorch_fixture.py (LeNet-5, ResNet-20 with
projection shortcuts, DenseNet-BC-40 k=12) on Fashion-MNIST 28×28×1, batch 128, Adam lr 1e-3,
`--warmup` steps untimed, then `--steps` timed steps; torch.set_num_threads(2).

    /tmp/bn-venv/bin/python scripts/architecture-reference.py --steps 40 --out /tmp/arch.json

Prints and writes {"lenet5": {"samples_per_s": ...}, ...}.
"""

import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_pytorch_fixture import DenseNet, ResNet, lenet5  # noqa: E402

MODELS = {
    "lenet5": lenet5,
    "resnet20": lambda: ResNet(1, 3, [16, 32, 64], 10),
    "densenet": lambda: DenseNet(1, 12, [6, 6, 6], 10),
}


def fashion_mnist(root: str):
    with gzip.open(os.path.join(root, "train-images-idx3-ubyte.gz"), "rb") as f:
        x = np.frombuffer(f.read(), dtype=np.uint8, offset=16)
    with gzip.open(os.path.join(root, "train-labels-idx1-ubyte.gz"), "rb") as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    return torch.from_numpy(x.reshape(-1, 1, 28, 28).astype(np.float32) / 255), torch.from_numpy(y.astype(np.int64))


def throughput(model, x, y, steps: int, warmup: int, batch: int) -> float:
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    order = torch.randperm(x.shape[0])
    start = None
    for step in range(warmup + steps):
        if step == warmup:
            start = time.perf_counter()
        index = order[(step * batch) % (x.shape[0] - batch):][:batch]
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x[index]), y[index]).backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="lenet5,resnet20,densenet")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--data", default=os.environ.get("CREDENCE_DATA", "/usr/share/datasets/fashion-mnist"))
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(2)
    x, y = fashion_mnist(args.data)
    report = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    for name in args.models.split(","):
        torch.manual_seed(0)
        steps = args.steps * (4 if name == "lenet5" else 1)
        rate = throughput(MODELS[name](), x, y, steps, args.warmup, args.batch)
        report[name] = {"samples_per_s": round(rate, 1), "steps": steps}
        print(f"{name}: {rate:.0f} samples/s", file=sys.stderr)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
