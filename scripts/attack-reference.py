#!/usr/bin/env python3
"""Attack a Credence MAP checkpoint of the Fashion-MNIST MLP 784-512-512-10 with torchattacks
and print robust accuracies as JSON, for `scripts/compare-attacks-with-torchattacks.sh`.

    PYTHON scripts/attack-reference.py MAP.safetensors [--examples 1000] [--eps 0.05,0.1]
        [--data-dir /usr/share/datasets/fashion-mnist] [--seed 0]

Needs torch and torchattacks (the reference environment of ../shared/reference). The
checkpoint's tensor names are PyTorch's for nn.Sequential(Flatten, Linear, ReLU, Linear, ReLU,
Linear) — "1.weight", "3.bias", … — so the weights load unchanged. Images are the first N of
the test set, scaled to [0, 1] and shaped [N, 1, 28, 28] as torchattacks expects.
"""
import argparse
import gzip
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from credence_safetensors import read_safetensors  # noqa: E402


def read_idx(path, offset):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def test_images(directory, count):
    for suffix in (".gz", ""):
        images = os.path.join(directory, "t10k-images-idx3-ubyte" + suffix)
        labels = os.path.join(directory, "t10k-labels-idx1-ubyte" + suffix)
        if os.path.exists(images) and os.path.exists(labels):
            x = read_idx(images, 16).reshape(-1, 1, 28, 28)[:count].astype(np.float32) / 255.0
            y = read_idx(labels, 8)[:count].astype(np.int64)
            return torch.from_numpy(x), torch.from_numpy(y)
    sys.exit(f"attack-reference.py: no Fashion-MNIST test files (t10k-images-idx3-ubyte[.gz]) in {directory}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--examples", type=int, default=1000)
    parser.add_argument("--eps", default="0.05,0.1")
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--attacks", help="comma-separated: run only these (default: all)")
    args = parser.parse_args()
    import torchattacks

    torch.set_num_threads(2)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    weights, _ = read_safetensors(args.checkpoint)
    model.load_state_dict({k: weights[k] for k in model.state_dict().keys()})
    model.eval()
    x, y = test_images(args.data_dir, args.examples)
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    attacks = {
        "fgsm": lambda e: torchattacks.FGSM(model, eps=e),
        "pgd": lambda e: torchattacks.PGD(model, eps=e, alpha=2.5 * e / 10, steps=10, random_start=True),
        "pgd-step-0.01": lambda e: torchattacks.PGD(model, eps=e, alpha=0.01, steps=10, random_start=True),
        "mim": lambda e: torchattacks.MIFGSM(model, eps=e, alpha=e / 10, steps=10, decay=1.0),
        "apgd-ce": lambda e: torchattacks.APGD(model, norm="Linf", eps=e, steps=100, n_restarts=1, loss="ce", seed=args.seed),
        "apgd-dlr": lambda e: torchattacks.APGD(model, norm="Linf", eps=e, steps=100, n_restarts=1, loss="dlr", seed=args.seed),
        "apgd-t": lambda e: torchattacks.APGDT(model, norm="Linf", eps=e, steps=100, n_restarts=1, n_classes=10, seed=args.seed),
        "fab-t": lambda e: torchattacks.FAB(model, norm="Linf", eps=e, steps=100, n_restarts=1, multi_targeted=True, n_classes=10,
                                            seed=args.seed),
        "square": lambda e: torchattacks.Square(model, norm="Linf", eps=e, n_queries=5000, n_restarts=1, p_init=0.8, seed=args.seed),
    }
    results = {"clean": clean, "examples": len(y), "torch": torch.__version__, "torchattacks": torchattacks.__version__, "robust": {}}
    chosen = args.attacks.split(",") if args.attacks else list(attacks)
    for name, make in attacks.items():
        if name not in chosen:
            continue
        for e in [float(v) for v in args.eps.split(",")]:
            torch.manual_seed(args.seed)
            start = time.time()
            adversarial = make(e)(x, y)
            with torch.no_grad():
                accuracy = (model(adversarial).argmax(1) == y).float().mean().item()
            results["robust"][f"{name}@{e:g}"] = {"accuracy": accuracy, "seconds": time.time() - start}
            print(f"{name} ε {e:g}: {accuracy:.4f}", file=sys.stderr)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
