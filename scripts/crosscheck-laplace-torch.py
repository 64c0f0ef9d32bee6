#!/usr/bin/env python3
"""Fit laplace-torch on a Credence MAP checkpoint and print what it finds, to compare
with `credence fit --method laplace` on the same network.

    /opt/anchor-venv/bin/python scripts/crosscheck-laplace-torch.py MAP.safetensors [--hessian kron|full]
        [--posterior CREDENCE_LAPLACE.safetensors]
    /opt/anchor-venv/bin/python scripts/crosscheck-laplace-torch.py --train-reference OUT.safetensors [--seed S]

The second form goes the other way: it trains the reference's MAP exactly as
anchor_bench.py does (seed S, hold-out 5,000 by NumPy permutation, 10 epochs of Adam)
and writes it as a Credence checkpoint, for `credence fit --method laplace` on
PyTorch's network.

Needs the PyTorch reference environment of ../shared/reference (torch, laplace-torch,
its anchor_bench.py for the data loaders and metrics) and a checkpoint of the
Fashion-MNIST MLP 784-512-512-10 (`credence train --dataset fashion-mnist --holdout 5000`).
The Laplace is fitted with the reference protocol — last layer, marginal-likelihood
scalar prior, GLM predictive with the probit link — on 55,000 training images: the
hold-out is a torch permutation of the recorded size and seed, not Credence's own, so
about 4,500 of the images differ (the fitted prior moves by well under 1 %). With
--posterior it also prints the prior precision Credence fitted.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "shared", "reference"))
import anchor_bench as ab  # noqa: E402
sys.path.insert(0, HERE)
from credence_safetensors import read_safetensors  # noqa: E402


def write_reference_map(path, seed):
    """Trains the reference protocol's MAP network and saves it with Credence's names and metadata."""
    (Xtr_all, ytr_all), _ = ab.load_fashion_mnist()
    perm = torch.from_numpy(np.random.default_rng(seed).permutation(Xtr_all.shape[0]))
    Xtr, ytr = Xtr_all[perm[5000:]], ytr_all[perm[5000:]]
    torch.manual_seed(seed)
    model = ab.make_mlp()
    ab.train_epochs(model, Xtr, ytr, 10, 128, 1e-3, seed, tag="reference map")
    names = {"0": "1", "2": "3", "4": "5"}
    tensors = {names[k.split(".")[0]] + "." + k.split(".")[1]: v.detach().contiguous().numpy().astype("<f4")
               for k, v in model.state_dict().items()}
    spec = {"inputShape": [1, 28, 28], "layers": [
        {"flatten": {}}, {"dense": {"bias": True, "inputs": 784, "outputs": 512}}, {"activation": {"_0": "relu"}},
        {"dense": {"bias": True, "inputs": 512, "outputs": 512}}, {"activation": {"_0": "relu"}},
        {"dense": {"bias": True, "inputs": 512, "outputs": 10}}]}
    options = {"dataset": "fashion-mnist", "model": "mlp", "epochs": 10, "batchSize": 128, "learningRate": 0.001,
               "optimizer": "adam", "seed": seed, "holdout": 5000}
    header = {"__metadata__": {"credence.model_spec": json.dumps(spec), "credence.dataset": "fashion-mnist",
                               "credence.seed": str(seed), "credence.epoch": "10",
                               "credence.training_options": json.dumps(options),
                               "credence.note": "trained by PyTorch (anchor_bench.py protocol)"}}
    offset, blobs = 0, []
    for name in sorted(tensors):
        blob = tensors[name].tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("--train-reference", metavar="OUT", help="train the reference MAP and save it for Credence")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hessian", default="kron", choices=["kron", "full"])
    ap.add_argument("--posterior", help="Credence's fitted Laplace posterior, to print its prior precision")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.train_reference:
        return write_reference_map(args.train_reference, args.seed)
    if not args.checkpoint:
        ap.error("give a Credence MAP checkpoint, or --train-reference OUT")

    weights, meta = read_safetensors(args.checkpoint)
    model = ab.make_mlp()
    model.load_state_dict({"0.weight": weights["1.weight"], "0.bias": weights["1.bias"],
                           "2.weight": weights["3.weight"], "2.bias": weights["3.bias"],
                           "4.weight": weights["5.weight"], "4.bias": weights["5.bias"]})
    model.eval()
    options = json.loads(meta.get("credence.training_options", "{}"))
    (Xtr, ytr), (Xte, yte) = ab.load_fashion_mnist()
    Xood = ab.load_mnist_ood()[0]
    holdout = int(options.get("holdout", 0))
    perm = torch.randperm(Xtr.shape[0], generator=torch.Generator().manual_seed(int(options.get("seed", 0))))
    Xf, yf = Xtr[perm[holdout:]], ytr[perm[holdout:]]

    with torch.no_grad():
        p_map, p_map_ood = torch.softmax(model(Xte), -1), torch.softmax(model(Xood), -1)
    print("MAP                ", ab.metrics(p_map, yte), ab.ood_scores(p_map, p_map_ood))

    from laplace import Laplace
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xf, yf), batch_size=500, shuffle=False)
    t0 = time.perf_counter()
    la = Laplace(model, "classification", subset_of_weights="last_layer", hessian_structure=args.hessian)
    la.fit(loader)
    t1 = time.perf_counter()
    la.optimize_prior_precision(method="marglik", pred_type="glm", link_approx="probit", prior_structure="scalar")
    t2 = time.perf_counter()
    with torch.no_grad():
        p = torch.cat([la(Xte[i:i + 1000], pred_type="glm", link_approx="probit") for i in range(0, len(Xte), 1000)])
        q = torch.cat([la(Xood[i:i + 1000], pred_type="glm", link_approx="probit") for i in range(0, len(Xood), 1000)])
    print(f"laplace-torch {args.hessian:4}", ab.metrics(p.double(), yte), ab.ood_scores(p.double(), q.double()))
    print(f"laplace-torch prior precision {float(la.prior_precision.mean()):.4f}; "
          f"fit {t1 - t0:.2f} s + prior {t2 - t1:.2f} s on {len(Xf)} images")
    if args.posterior:
        _, pmeta = read_safetensors(args.posterior)
        print(f"Credence prior precision      {float(pmeta['credence.posterior.setting.prior']):.4f}")


if __name__ == "__main__":
    main()
