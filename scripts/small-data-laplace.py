#!/usr/bin/env python3
"""The small-data Laplace question (issue 14): on a data set of 1,000 examples, is
last-layer KFAC Laplace (GLM predictive, probit link, marginal-likelihood scalar prior)
less calibrated than MAP in laplace-torch too, or only in Credence?

    bash: credence train --dataset shapes --hidden 64,64 --epochs 60 --batch-size 64 --lr 0.005 --out MAP
          credence fit --checkpoint MAP --method laplace --set subset=last-layer --set hessian=kronecker --out LA
          credence data export shapes --out DATA
    /opt/anchor-venv/bin/python scripts/small-data-laplace.py MAP DATA [--credence-laplace LA]

With a held-out split — the MAP trained with `--holdout 200`, `credence fit ... --set
prior=held-out --out LAH`, the data exported with `--holdout 200` (the same examples) — it also
fits laplace-torch with the prior chosen by `gridsearch` on DATA/holdout-*.npy (NLL, 10^-4…10^4,
100 points) and prints its test figures and prior beside Credence's (--credence-heldout LAH),
and the prior laplace-torch 0.3's gridsearch picks with its default loss (see below).

Loads Credence's MAP network into PyTorch (safetensors names are PyTorch's), fits
laplace-torch on exactly Credence's training examples (from `credence data export`), and
prints accuracy, NLL and ECE (15 equal-width bins of top-1 confidence, as Credence's) of MAP
and of the Laplace on the test examples, with the fitted prior precision; with
--credence-laplace, Credence's prior precision beside it. When DATA holds OOD sets
(`--ood far` at export), the AUROC of telling them from the test set by predictive entropy
and by 1 − max probability (Kristiadi et al. 2020: a last-layer Laplace should drive
confidence far from the data towards uniform).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from credence_safetensors import read_safetensors  # noqa: E402


def network(weights):
    """The MLP of a Credence checkpoint: Linear layers at the indices their names give, ReLU between."""
    weights = {k: v for k, v in weights.items() if k.split(".")[0].isdigit()}   # not the optimizer state
    indices = sorted({int(k.split(".")[0]) for k in weights})
    layers, flatten = [], min(indices) == 1
    if flatten:
        layers.append(torch.nn.Flatten())
    for n, i in enumerate(indices):
        w, b = weights[f"{i}.weight"], weights[f"{i}.bias"]
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        linear.weight.data, linear.bias.data = torch.as_tensor(w), torch.as_tensor(b)
        layers.append(linear)
        if n < len(indices) - 1:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def figures(p, y, bins=15):
    p = p.double()
    confidence, predicted = p.max(1)
    correct = (predicted == y).double()
    nll = -torch.log(p[torch.arange(len(y)), y].clamp_min(1e-12)).mean().item()
    edges = torch.linspace(0, 1, bins + 1, dtype=torch.float64)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (confidence > lo) & (confidence <= hi) if lo > 0 else (confidence >= lo) & (confidence <= hi)
        if inside.any():
            ece += inside.double().mean().item() * abs(correct[inside].mean().item() - confidence[inside].mean().item())
    return {"accuracy": round(correct.mean().item(), 4), "nll": round(nll, 4), "ece": round(ece, 4),
            "mean_confidence": round(confidence.mean().item(), 4)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("data", help="a directory written by `credence data export`")
    ap.add_argument("--credence-laplace", help="Credence's fitted Laplace posterior, for its prior precision")
    ap.add_argument("--credence-heldout", help="Credence's Laplace with the held-out prior, for its prior precision")
    args = ap.parse_args()
    torch.set_num_threads(1)
    weights, _ = read_safetensors(args.checkpoint)
    model = network(weights)
    load = lambda name: torch.from_numpy(np.load(os.path.join(args.data, name)))
    Xtr, ytr, Xte, yte = load("train-inputs.npy"), load("train-labels.npy"), load("test-inputs.npy"), load("test-labels.npy")
    with torch.no_grad():
        p_map = torch.softmax(model(Xte), -1)
    result = {"map": figures(p_map, yte)}
    from laplace import Laplace
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(Xtr, ytr), batch_size=500, shuffle=False)
    la = Laplace(model, "classification", subset_of_weights="last_layer", hessian_structure="kron")
    la.fit(loader)
    la.optimize_prior_precision(method="marglik", pred_type="glm", link_approx="probit", prior_structure="scalar")
    with torch.no_grad():
        p_la = la(Xte, pred_type="glm", link_approx="probit")
    result["laplace-torch"] = figures(p_la, yte) | {"prior_precision": round(float(la.prior_precision.mean()), 4)}
    if os.path.exists(os.path.join(args.data, "holdout-inputs.npy")):
        held = torch.utils.data.TensorDataset(load("holdout-inputs.npy"), load("holdout-labels.npy"))
        held_loader = torch.utils.data.DataLoader(held, batch_size=500, shuffle=False)
        tuned = Laplace(model, "classification", subset_of_weights="last_layer", hessian_structure="kron")
        tuned.fit(loader)
        # The NLL of each grid point's predictive. (laplace-torch 0.3's default loss, a running
        # torchmetrics NLL, is never reset between grid points, so each point is scored by the
        # mean over it and every point before it — reported below as "default loss".)
        nll = lambda p, y: torch.nn.functional.nll_loss(p.clamp_min(1e-12).log(), y)
        tuned.optimize_prior_precision(method="gridsearch", pred_type="glm", link_approx="probit", val_loader=held_loader, loss=nll)
        with torch.no_grad():
            p_tuned = tuned(Xte, pred_type="glm", link_approx="probit")
        result["laplace-torch held-out"] = figures(p_tuned, yte) | {"prior_precision": round(float(tuned.prior_precision.mean()), 4)}
        tuned.optimize_prior_precision(method="gridsearch", pred_type="glm", link_approx="probit", val_loader=held_loader)
        result["laplace-torch held-out, default loss"] = {"prior_precision": round(float(tuned.prior_precision.mean()), 4)}
    from sklearn.metrics import roc_auc_score
    for name in sorted(os.listdir(args.data)):
        if not (name.startswith("ood-") and name.endswith("-inputs.npy")):
            continue
        Xood = load(name)
        with torch.no_grad():
            q_map, q_la = torch.softmax(model(Xood), -1), la(Xood, pred_type="glm", link_approx="probit")
        for label, p, q in [("map", p_map, q_map), ("laplace-torch", p_la, q_la)]:
            def scores(r):
                r = r.double().clamp_min(1e-12)
                return {"entropy": -(r * r.log()).sum(1), "1-max p": 1 - r.max(1).values}
            s_in, s_out = scores(p), scores(q)
            truth = np.r_[np.zeros(len(p)), np.ones(len(q))]
            result[label][name[4:-11] + " AUROC"] = {k: round(roc_auc_score(truth, np.r_[s_in[k].numpy(), s_out[k].numpy()]), 4)
                                                     for k in s_in}
    if args.credence_laplace:
        _, meta = read_safetensors(args.credence_laplace)
        result["credence prior precision"] = round(float(meta["credence.posterior.setting.prior"]), 4)
    if args.credence_heldout:
        _, meta = read_safetensors(args.credence_heldout)
        result["credence held-out prior precision"] = round(float(meta["credence.posterior.setting.prior"]), 4)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
