"""Are an MLP posterior's chains in different modes, or in copies of one mode that the network's
symmetries map onto each other? (Issue 9: on the 1-D regression, NUTS's chains agree on the
predictions while random projections of θ give R̂ ≈ 1.4–1.9.)

A ReLU MLP computes the same function when a hidden layer's units are permuted, or when a unit's
incoming weights and bias are scaled by a > 0 and its outgoing weights by 1/a. This script takes
each draw to a canonical form — every hidden unit's incoming vector (weights and bias) scaled to
unit length, the outgoing weights scaled inversely — then, layer by layer from the input, matches
each chain's units to chain 0's (the Hungarian algorithm on the distance between the chains' mean
canonical incoming vectors, after the previous layer's matching has been applied to its columns),
and compares split-R̂ and bulk ESS (rank-normalised, Vehtari et al. 2021, as `credence diagnose`)
of random projections of θ: raw, canonical (scale only), and canonical + matched. If matching
brings R̂ near 1, the chains sit in symmetric copies of one mode; if not, in different modes.

    /opt/anchor-venv/bin/python scripts/chain-symmetry.py RUN/nuts.safetensors [--projections 8] [--seed 0]

Reads the posterior archive `credence train --method nuts|hmc` writes (members chain after chain,
the chain count in its metadata); the model must be dense layers with ReLU between them (a leading
flatten is allowed). Needs numpy and scipy (the reference venv has both).
"""
import argparse
import json
import struct
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import norm


def read_archive(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    names = sorted((k for k in header if k.startswith("member.")), key=lambda k: int(k.split(".")[1]))
    if not names:
        sys.exit(f"{path}: no member.N tensors — not a posterior archive of `credence train`")
    draws = np.stack([np.frombuffer(raw[8 + n + header[k]["data_offsets"][0]:8 + n + header[k]["data_offsets"][1]],
                                    dtype=np.float32) for k in names]).astype(np.float64)
    return draws, meta


def dense_shapes(spec):
    """(outputs, inputs) of each dense layer; exits on anything but dense + ReLU (+ leading flatten)."""
    shapes = []
    for i, layer in enumerate(spec["layers"]):
        kind = next(iter(layer))
        if kind == "dense":
            if not layer["dense"].get("bias", True):
                sys.exit("dense layers without bias are not handled")
            shapes.append((layer["dense"]["outputs"], layer["dense"]["inputs"]))
        elif kind == "activation" and layer["activation"].get("_0") == "relu":
            continue
        elif kind == "flatten" and i == 0:
            continue
        else:
            sys.exit(f"layer {i} ({kind}): only dense layers with ReLU between them are handled")
    return shapes


def unflatten(theta, shapes):
    """[draws, P] → per layer (W [draws, out, in], b [draws, out]) views into copies."""
    layers, at = [], 0
    for out, inp in shapes:
        w = theta[:, at:at + out * inp].reshape(-1, out, inp).copy(); at += out * inp
        b = theta[:, at:at + out].copy(); at += out
        layers.append([w, b])
    assert at == theta.shape[1], f"{at} parameters in the layers, {theta.shape[1]} in a draw"
    return layers


def flatten(layers):
    return np.concatenate([np.concatenate([w.reshape(w.shape[0], -1), b], axis=1) for w, b in layers], axis=1)


def canonicalize(layers):
    """Each hidden unit's incoming (w, b) scaled to unit length, its outgoing column inversely (in place)."""
    for k in range(len(layers) - 1):
        w, b = layers[k]
        scale = np.sqrt((w ** 2).sum(axis=2) + b ** 2)  # [draws, units]
        scale = np.maximum(scale, 1e-12)
        w /= scale[:, :, None]; b /= scale
        layers[k + 1][0] *= scale[:, None, :]


def match_to_first_chain(layers, chain_of_draw, chains):
    """Permutes each chain's hidden units, layer by layer, to best match chain 0's (in place)."""
    for k in range(len(layers) - 1):
        w, b = layers[k]
        incoming = np.concatenate([w, b[:, :, None]], axis=2)  # [draws, units, in + 1]
        reference = incoming[chain_of_draw == 0].mean(axis=0)
        for c in range(1, chains):
            rows = chain_of_draw == c
            mean = incoming[rows].mean(axis=0)
            cost = ((mean[:, None, :] - reference[None, :, :]) ** 2).sum(axis=2)  # [this unit, reference unit]
            mine, theirs = linear_sum_assignment(cost)
            order = mine[np.argsort(theirs)]  # the unit of this chain that plays reference unit j
            w[rows] = w[rows][:, order, :]; b[rows] = b[rows][:, order]
            layers[k + 1][0][rows] = layers[k + 1][0][rows][:, :, order]


def split_rhat_and_ess(x):
    """Rank-normalised split-R̂ (max of bulk and folded) and bulk ESS of x [chains, draws]."""
    def normal_scores(y):
        ranks = np.argsort(np.argsort(y, axis=None), axis=None).reshape(y.shape) + 1.0
        return norm.ppf((ranks - 0.375) / (y.size + 0.25))

    def split(y):
        half = y.shape[1] // 2
        return np.concatenate([y[:, :half], y[:, y.shape[1] - half:]], axis=0)

    def rhat(z):
        m, n = z.shape
        within = z.var(axis=1, ddof=1).mean()
        between = n * z.mean(axis=1).var(ddof=1)
        return np.sqrt(((n - 1) / n * within + between / n) / within)

    def ess(z):
        m, n = z.shape
        centred = z - z.mean(axis=1, keepdims=True)
        spectrum = np.fft.rfft(centred, n=2 * n, axis=1)
        acov = np.fft.irfft(spectrum * np.conj(spectrum), axis=1)[:, :n] / n
        within = (acov[:, 0] * n / (n - 1)).mean()
        var_plus = within * (n - 1) / n + z.mean(axis=1).var(ddof=1)
        rho = 1 - (within - acov.mean(axis=0)) / var_plus
        rho[0] = 1
        total, t = 0.0, 0
        while t + 1 < n:  # Geyer's initial monotone positive sequence
            pair = rho[t] + rho[t + 1]
            if pair < 0:
                break
            total += pair
            t += 2
        return m * n / max(-1 + 2 * total, 1 / np.log10(m * n))

    s = split(x)
    bulk = normal_scores(s)
    folded = normal_scores(np.abs(s - np.median(s)))
    return max(rhat(bulk), rhat(folded)), ess(bulk)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("posterior")
    parser.add_argument("--projections", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    draws, meta = read_archive(args.posterior)
    chains = int(meta.get("credence.posterior.setting.chains", "0"))
    if chains < 2 or draws.shape[0] % chains:
        sys.exit(f"{args.posterior}: {draws.shape[0]} members, chain count {chains or 'missing'} — need ≥ 2 equal chains")
    shapes = dense_shapes(json.loads(meta["credence.model_spec"]))
    per_chain = draws.shape[0] // chains
    chain_of_draw = np.repeat(np.arange(chains), per_chain)

    canonical = unflatten(draws, shapes)
    canonicalize(canonical)
    scaled = flatten(canonical)
    match_to_first_chain(canonical, chain_of_draw, chains)
    matched = flatten(canonical)

    rng = np.random.default_rng(args.seed)
    directions = rng.standard_normal((args.projections, draws.shape[1]))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    print(f"{args.posterior}: {chains} chains × {per_chain} draws, {draws.shape[1]} parameters, layers "
          + " → ".join(str(i) for _, i in shapes) + f" → {shapes[-1][0]}")
    print(f"{'θ as':<34} {'worst R̂':>8} {'median R̂':>9} {'smallest ESS':>13}")
    for label, theta in [("sampled", draws), ("canonical (unit scale)", scaled), ("canonical + units matched", matched)]:
        stats = [split_rhat_and_ess((theta @ d).reshape(chains, per_chain)) for d in directions]
        r = [s[0] for s in stats]
        print(f"{label:<34} {max(r):>8.3f} {np.median(r):>9.3f} {min(s[1] for s in stats):>13.0f}")
    distance = [np.linalg.norm(matched[chain_of_draw == c].mean(axis=0) - matched[chain_of_draw == 0].mean(axis=0)) for c in range(1, chains)]
    spread = np.sqrt(matched[chain_of_draw == 0].var(axis=0).sum())
    print("distance of each chain's matched mean from chain 0's: " + ", ".join(f"{d:.2f}" for d in distance)
          + f" (chain 0's own spread, √Σ var: {spread:.2f})")


if __name__ == "__main__":
    main()
