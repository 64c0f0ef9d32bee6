#!/usr/bin/env python3
"""Randomized-smoothing CERTIFY (Cohen, Rosenfeld & Kolter 2019) in PyTorch on a Credence
checkpoint, printing per-example predictions and radii and the certified accuracy as JSON, so
Credence's own implementation can be compared with it on the same weights.

    PYTHON scripts/smoothing-reference.py CHECKPOINT.safetensors --sigma 0.25 [--n0 100]
        [--n 100000] [--alpha 0.001] [--examples 100] [--skip 1] [--batch 1000] [--seed 0]
        [--data-dir /usr/share/datasets/fashion-mnist] [--radii 0,0.25,0.5,0.75,1,1.25,1.5]

Needs torch, numpy and scipy. CERTIFY follows locuslab/smoothing `code/core.py` (class Smooth:
certify, _sample_noise, _lower_confidence_bound) line for line: n0 noisy copies select the
class cA = argmax of the counts; n fresh noisy copies count nA = counts[cA]; pA's one-sided
Clopper–Pearson lower bound at level alpha is scipy.stats.beta.ppf(alpha, nA, n - nA + 1) — what
statsmodels' proportion_confint(nA, n, alpha=2 * alpha, method="beta")[0] returns — and 0 when
nA = 0; below 1/2 the smoothed classifier abstains (prediction -1, radius 0), otherwise the
certified L2 radius is sigma · Φ⁻¹(pA). Noise is torch.randn_like(batch) * sigma on repeated
copies of the image, no clipping, the model in eval mode under torch.no_grad().

Examples are test images 0, skip, 2·skip, … (the first `examples` of them), scaled to [0, 1] and
shaped [N, 1, 28, 28]. The checkpoint's tensor names are PyTorch's for an nn.Sequential
("1.weight", "3.bias", …), and the architecture is read from them:

  - MLP: nn.Sequential(Flatten, Linear(784, H1), ReLU, [Dropout], Linear(H1, H2), ReLU, [Dropout],
    …, Linear(Hk, classes)) — "1.weight", "3.weight", … (indices 1, 4, 7, … with dropout);
    any number of hidden layers, widths from the tensor shapes (Credence's ModelSpec.mlp).
  - CNN: nn.Sequential(Conv2d(1, 32, 3, padding=1), ReLU, MaxPool2d(2), Conv2d(32, 64, 3,
    padding=1), ReLU, MaxPool2d(2), Flatten, Linear(3136, 128), ReLU, [Dropout], Linear(128,
    classes)) — "0.weight", "3.weight", "7.weight", "9.weight" ("10.weight" with dropout)
    (Credence's ModelSpec.smallCNN, `--model cnn`).

Other tensors (optimizer state "optimizer.*") are ignored; any other architecture is an error.
"""
import argparse
import gzip
import json
import math
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn as nn
from scipy.stats import beta, norm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from credence_safetensors import read_safetensors  # noqa: E402

ABSTAIN = -1


def fail(message):
    sys.exit(f"smoothing-reference.py: {message}")


def read_idx(path, offset):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def test_images(directory):
    for suffix in (".gz", ""):
        images = os.path.join(directory, "t10k-images-idx3-ubyte" + suffix)
        labels = os.path.join(directory, "t10k-labels-idx1-ubyte" + suffix)
        if os.path.exists(images) and os.path.exists(labels):
            x = read_idx(images, 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
            y = read_idx(labels, 8).astype(np.int64)
            return torch.from_numpy(x), torch.from_numpy(y)
    fail(f"no Fashion-MNIST test files (t10k-images-idx3-ubyte[.gz]) in {directory}")


# --------------------------------------------------------------------------
# the model, from the checkpoint's tensor names
# --------------------------------------------------------------------------
def parameter_shapes(weights):
    """{module index: weight shape} of the nn.Sequential the tensors belong to."""
    shapes, biases = {}, set()
    for name, tensor in weights.items():
        if name.startswith("optimizer."):
            continue
        match = re.fullmatch(r"(\d+)\.(weight|bias)", name)
        if match is None:
            fail(f"tensor {name!r} is not a parameter of the MLP or small CNN this script supports "
                 "(expected only \"<i>.weight\" / \"<i>.bias\" of an nn.Sequential)")
        index = int(match.group(1))
        if match.group(2) == "weight":
            shapes[index] = tuple(tensor.shape)
        else:
            biases.add(index)
    if not shapes:
        fail("no \"<i>.weight\" tensors in the checkpoint")
    if biases != set(shapes):
        fail(f"every layer needs a weight and a bias; weights at {sorted(shapes)}, biases at {sorted(biases)}")
    return dict(sorted(shapes.items()))


def check_activations(metadata):
    """Credence's MLP may use another activation; this script rebuilds ReLU only."""
    spec = metadata.get("credence.model_spec")
    if spec is None:
        return
    for layer in json.loads(spec).get("layers", []):
        if "activation" in layer:
            kind = next(iter(layer["activation"].values()), None)
            if kind != "relu":
                fail(f"the checkpoint's model uses activation {kind!r}; this script supports ReLU only")


def build_mlp(shapes):
    indices = list(shapes)
    gaps = {b - a for a, b in zip(indices, indices[1:])}
    if indices[0] != 1 or len(gaps) > 1 or not gaps <= {2, 3}:
        return None
    if shapes[indices[0]][1] != 28 * 28:
        fail(f"the MLP's first layer takes {shapes[indices[0]][1]} inputs, not 784 (28×28 images)")
    dropout = gaps == {3}
    layers, widths = [nn.Flatten()], [784]
    for k, index in enumerate(indices):
        out_features, in_features = shapes[index]
        if in_features != widths[-1]:
            fail(f"layer {index} takes {in_features} inputs but the layer before gives {widths[-1]}")
        layers.append(nn.Linear(in_features, out_features))
        widths.append(out_features)
        if k < len(indices) - 1:
            layers.append(nn.ReLU())
            if dropout:
                layers.append(nn.Dropout())
    name = "mlp " + "-".join(str(w) for w in widths) + (" (dropout layers)" if dropout else "")
    return nn.Sequential(*layers), name


def build_cnn(shapes):
    indices = list(shapes)
    if indices not in ([0, 3, 7, 9], [0, 3, 7, 10]):
        return None
    c1, c0, k1, k1w = shapes[0]
    c2, c1b, k2, k2w = shapes[3]
    d1, flat = shapes[7]
    classes, d1b = shapes[indices[3]]
    if (k1, k1w, k2, k2w) != (3, 3, 3, 3) or c0 != 1 or c1b != c1 or flat != c2 * 7 * 7 or d1b != d1:
        fail(f"the CNN's shapes {shapes} do not fit conv(1→C1, 3×3)-pool-conv(C1→C2, 3×3)-pool-"
             "dense(C2·7·7→D)-dense(D→classes) on 28×28 images")
    layers = [nn.Conv2d(c0, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
              nn.Flatten(), nn.Linear(flat, d1), nn.ReLU()]
    dropout = indices[3] == 10
    if dropout:
        layers.append(nn.Dropout())
    layers.append(nn.Linear(d1, classes))
    name = f"cnn conv{c1}-pool-conv{c2}-pool-dense{d1}-{classes}" + (" (dropout layer)" if dropout else "")
    return nn.Sequential(*layers), name


def load_model(path):
    weights, metadata = read_safetensors(path)
    shapes = parameter_shapes(weights)
    if all(len(s) == 2 for s in shapes.values()):
        built = build_mlp(shapes)
    elif [len(s) for s in shapes.values()] == [4, 4, 2, 2]:
        built = build_cnn(shapes)
    else:
        built = None
    if built is None:
        fail(f"the checkpoint's layers {{index: weight shape}} = {shapes} are neither the MLP "
             "(Flatten, Linear, ReLU, …: \"1.weight\", \"3.weight\", …) nor the small CNN "
             "(\"0.weight\", \"3.weight\", \"7.weight\", \"9.weight\"/\"10.weight\")")
    check_activations(metadata)
    model, name = built
    state = model.state_dict()
    model.load_state_dict({k: weights[k] for k in state.keys()})
    model.eval()
    return model, name, shapes[list(shapes)[-1]][0]


# --------------------------------------------------------------------------
# CERTIFY, as locuslab/smoothing code/core.py
# --------------------------------------------------------------------------
def sample_noise(model, x, num, sigma, batch_size, num_classes):
    """Class counts of the base classifier on `num` copies of x plus N(0, sigma² I) noise."""
    with torch.no_grad():
        counts = np.zeros(num_classes, dtype=np.int64)
        for _ in range(math.ceil(num / batch_size)):
            this_batch_size = min(batch_size, num)
            num -= this_batch_size
            batch = x.repeat((this_batch_size, 1, 1, 1))
            noise = torch.randn_like(batch) * sigma
            predictions = model(batch + noise).argmax(1)
            counts += np.bincount(predictions.numpy(), minlength=num_classes)
        return counts


def lower_confidence_bound(n_a, n, alpha):
    """One-sided (1 − alpha) Clopper–Pearson lower bound on pA from nA successes of n."""
    return 0.0 if n_a == 0 else float(beta.ppf(alpha, n_a, n - n_a + 1))


def certify(model, x, sigma, n0, n, alpha, batch_size, num_classes):
    model.eval()
    counts_selection = sample_noise(model, x, n0, sigma, batch_size, num_classes)
    c_a_hat = int(counts_selection.argmax())
    counts_estimation = sample_noise(model, x, n, sigma, batch_size, num_classes)
    n_a = int(counts_estimation[c_a_hat])
    p_a_bar = lower_confidence_bound(n_a, n, alpha)
    if p_a_bar < 0.5:
        return ABSTAIN, 0.0, c_a_hat, n_a
    return c_a_hat, sigma * float(norm.ppf(p_a_bar)), c_a_hat, n_a


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint")
    parser.add_argument("--sigma", type=float, required=True)
    parser.add_argument("--n0", type=int, default=100)
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--alpha", type=float, default=0.001)
    parser.add_argument("--examples", type=int, default=100)
    parser.add_argument("--skip", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--radii", default="0,0.25,0.5,0.75,1,1.25,1.5")
    args = parser.parse_args()
    if args.sigma <= 0 or args.n0 < 1 or args.n < 1 or args.examples < 1 or args.skip < 1 or args.batch < 1:
        fail("--sigma must be positive and --n0, --n, --examples, --skip, --batch at least 1")
    if not 0 < args.alpha < 1:
        fail("--alpha must be in (0, 1)")
    radii = [float(r) for r in args.radii.split(",")]

    torch.set_num_threads(2)
    model, name, num_classes = load_model(args.checkpoint)
    images, labels = test_images(args.data_dir)
    indices = list(range(0, len(labels), args.skip))[:args.examples]
    if len(indices) < args.examples:
        fail(f"only {len(indices)} test images at skip {args.skip}, not {args.examples}")

    torch.manual_seed(args.seed)
    per_example = []
    start = time.time()
    for i in indices:
        x, label = images[i], int(labels[i])
        t = time.time()
        prediction, radius, top_class, top_count = certify(model, x, args.sigma, args.n0, args.n, args.alpha, args.batch, num_classes)
        seconds = time.time() - t
        correct = int(prediction == label)
        per_example.append({"index": i, "label": label, "prediction": prediction, "radius": radius,
                            "top_class": top_class, "top_count": top_count, "correct": correct, "seconds": seconds})
        print(f"{i}\t{label}\t{prediction}\t{radius:.4f}\t{correct}\t{seconds:.2f}s", file=sys.stderr)
    total = time.time() - start

    count = len(per_example)
    certified = {str(r): sum(1 for e in per_example if e["correct"] and e["radius"] >= r) / count for r in radii}
    results = {
        "sigma": args.sigma, "n0": args.n0, "n": args.n, "alpha": args.alpha, "examples": count,
        "threads": torch.get_num_threads(), "model": name, "torch": torch.__version__,
        "per_example": per_example,
        "certified_accuracy": certified,
        "abstention_rate": sum(1 for e in per_example if e["prediction"] == ABSTAIN) / count,
        "seconds": total,
        "noise_samples_per_second": count * (args.n0 + args.n) / total,
    }
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
