#!/usr/bin/env python3
"""Summarise a `credence bench gold-standard` database over its seeds (issue 9).

Per data set and method, mean ± sd over the seeds of: accuracy, NLL and ECE (classification) or
RMSE, NLL and 90 % interval coverage (regression); each classifier's top-1 agreement with the
NUTS run of its own seed and the mean total variation between their predictives (Izmailov et
al. 2021, as the report's section 8 computes them from the records' mean test probabilities),
each regression run's mean 1-Wasserstein distance to it (from the records' quantile-cell
means, in the targets' units; records written before they were kept show "–");
the samplers' worst split-R̂ and smallest bulk ESS over the test-point predictions the run
recorded (≤ 1.01 and ≥ 400 asked), the worst R̂ of its random projections of θ, and its
divergences; the time to fit.

    python3 scripts/gold-standard-summary.py credence-results/bench.sqlite   # Markdown on stdout

Standard library only (sqlite3, json, statistics).
"""
import json
import sqlite3
import statistics
import sys


def mean_sd(values, digits):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def worst(quantities, key, pick):
    """The worst finite value of `key` among the quantities (a constant one — a probability
    saturated at 1 — has R̂ NaN, stored as the string "NaN"), or None."""
    values = [float(q[key]) for q in quantities]
    values = [v for v in values if v == v]
    return pick(values) if values else None


def agreement(probabilities, reference, classes):
    """Top-1 agreement and mean total variation between two [N, C] row-major probability lists."""
    n = len(reference) // classes
    same, total_variation = 0, 0.0
    for i in range(n):
        p = probabilities[i * classes:(i + 1) * classes]
        q = reference[i * classes:(i + 1) * classes]
        same += max(range(classes), key=p.__getitem__) == max(range(classes), key=q.__getitem__)
        total_variation += 0.5 * sum(abs(a - b) for a, b in zip(p, q))
    return same / n, total_variation / n


def wasserstein(cell_means, reference):
    """Mean W1 between two predictives from their quantile-cell means ([N, D, K] row-major, the
    same K): the mean absolute difference, as RegressionAgreement computes it."""
    return sum(abs(a - b) for a, b in zip(cell_means, reference)) / len(reference)


def main(path):
    rows = sqlite3.connect(f"file:{path}?mode=ro", uri=True).execute(
        "select dataset, method, seed, label, record from runs order by dataset, seed").fetchall()
    if not rows:
        sys.exit(f"{path} holds no runs; run `credence bench gold-standard --db {path}` first")
    by_dataset, method_of = {}, {}
    for dataset, method, seed, label, record in rows:
        by_dataset.setdefault(dataset, {}).setdefault(label, {})[seed] = json.loads(record)
        method_of[label] = method
    for dataset, methods in by_dataset.items():
        references = next((runs for label, runs in methods.items() if method_of[label] == "nuts"), {})
        seeds = sorted({seed for runs in methods.values() for seed in runs})
        print(f"\n### {dataset} (seeds {', '.join(map(str, seeds))})\n")
        classification = any("classification" in r["metrics"] for runs in methods.values() for r in runs.values())
        if classification:
            print("| method | accuracy | NLL | ECE | top-1 agreement with NUTS | TV to NUTS | worst R̂ (predictions) | smallest bulk ESS (predictions) | worst R̂ (θ projections) | divergences | fit (s) |")
        else:
            print("| method | RMSE | NLL | 90 % interval coverage | W₁ to NUTS | worst R̂ (predictions) | smallest bulk ESS (predictions) | worst R̂ (θ projections) | divergences | fit (s) |")
        print("|---|" + "---:|" * (10 if classification else 9))
        for label, runs in methods.items():
            cells = []
            if classification:
                metrics = [r["metrics"]["classification"] for r in runs.values()]
                cells += [mean_sd([m["accuracy"] for m in metrics], 4), mean_sd([m["negativeLogLikelihood"] for m in metrics], 4),
                          mean_sd([m["expectedCalibrationError"] for m in metrics], 4)]
                pairs = [agreement(r["metrics"]["testProbabilities"], references[s]["metrics"]["testProbabilities"],
                                   r["metrics"]["classification"]["classes"])
                         for s, r in runs.items() if s in references and r["metrics"].get("testProbabilities")]
                cells += [mean_sd([a for a, _ in pairs], 3), mean_sd([t for _, t in pairs], 4)]
            else:
                metrics = [r["metrics"]["regression"] for r in runs.values()]
                coverage = [next((c["coverage"] for c in m["coverage"] if abs(c["level"] - 0.9) < 1e-9), None) for m in metrics]
                cells += [mean_sd([m["rootMeanSquaredError"] for m in metrics], 4), mean_sd([m["negativeLogLikelihood"] for m in metrics], 3),
                          mean_sd(coverage, 3)]
                cells.append(mean_sd([wasserstein(r["metrics"]["testQuantileCellMeans"], references[s]["metrics"]["testQuantileCellMeans"])
                                      for s, r in runs.items()
                                      if r["metrics"].get("testQuantileCellMeans") and references.get(s, {}).get("metrics", {}).get("testQuantileCellMeans")], 4))
            chains = [r["metrics"]["chain"] for r in runs.values() if r["metrics"].get("chain")]
            predictions = [[q for q in c["quantities"] if not q["quantity"].startswith("projection")] for c in chains]
            projections = [[q for q in c["quantities"] if q["quantity"].startswith("projection")] for c in chains]
            cells += [mean_sd([worst(qs, "rHat", max) for qs in predictions], 4),
                      mean_sd([worst(qs, "bulkEffectiveSampleSize", min) for qs in predictions], 0),
                      mean_sd([worst(qs, "rHat", max) for qs in projections], 3),
                      mean_sd([sum(s["divergences"] for s in c["sampler"]) for c in chains if c.get("sampler")], 0)]
            cells.append(mean_sd([r["metrics"]["scalability"]["fitSeconds"] for r in runs.values()], 1))
            print(f"| {label} ({len(runs)}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
