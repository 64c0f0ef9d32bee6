#!/usr/bin/env bash
# Fashion-MNIST posterior comparison (issue "Posteriors I"): MLP 784-512-512-10, 10 epochs,
# Adam 1e-3, batch 128, trained on 55,000 images (5,000 held out for temperature scaling),
# scored on the 10k test images and against the 5,000 MNIST digits as OOD.
#
#   bash scripts/posteriors-benchmark.sh [OUTDIR] [SEED ...]   # default credence-results/posteriors, seeds 0 1 2 3 4
#
# One training seed moves MAP's ECE between 0.019 and 0.032, so every method runs with
# each seed and the table reports mean ± standard deviation over seeds, followed by the
# issue's targets as ratios per seed. Peak MB is the whole command's resident peak (data
# set, training or fitting, evaluation). Every run is resumable (re-running skips finished
# networks, whose time then reads 0) and writes one JSON file per method and seed.
# Release build; about 4 minutes per seed on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/posteriors}"
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2 3 4)
swift build -c release --product credence >&2
C=.build/release/credence

for SEED in "${SEEDS[@]}"; do
  D="$OUT/seed-$SEED"
  mkdir -p "$D"
  COMMON=(--dataset fashion-mnist --epochs 10 --holdout 5000 --seed "$SEED" --resume)
  $C train "${COMMON[@]}" --method map --ood mnist-5k --out "$D/map.safetensors" --format json > "$D/map.json"
  $C fit --checkpoint "$D/map.safetensors" --method temperature --ood mnist-5k --out "$D/map-ts.safetensors" --format json > "$D/map-ts.json"
  $C fit --checkpoint "$D/map.safetensors" --method laplace --set subset=last-layer --set hessian=kronecker --ood mnist-5k --out "$D/laplace-kron.safetensors" --format json > "$D/laplace-kron.json"
  $C fit --checkpoint "$D/map.safetensors" --method laplace --set subset=last-layer --set hessian=full --ood mnist-5k --out "$D/laplace-full.safetensors" --format json > "$D/laplace-full.json"
  $C train "${COMMON[@]}" --method mc-dropout --set dropout=0.1 --samples 32 --ood mnist-5k --out "$D/mc-dropout.safetensors" --format json > "$D/mc-dropout.json"
  $C train "${COMMON[@]}" --method swag --set rank=20 --set swagEpochs=5 --samples 32 --ood mnist-5k --out "$D/swag.safetensors" --format json > "$D/swag.json"
  $C train "${COMMON[@]}" --method ensemble --set members=5 --ood mnist-5k --out "$D/ensemble.safetensors" --format json > "$D/ensemble.json"
  $C train "${COMMON[@]}" --method ensemble --set members=5 --set member=swag --set rank=20 --samples 32 --ood mnist-5k --out "$D/multiswag.safetensors" --format json > "$D/multiswag.json"
  $C train "${COMMON[@]}" --method ensemble --set members=5 --set member=laplace --ood mnist-5k --out "$D/laplace-mixture.safetensors" --format json > "$D/laplace-mixture.json"
done

python3 - "$OUT" "${SEEDS[@]}" <<'PY'
import json, sys, os, statistics as st
out, seeds = sys.argv[1], sys.argv[2:]
rows = [("MAP", "map"), ("temperature-scaled MAP", "map-ts"),
        ("last-layer Laplace KFAC", "laplace-kron"), ("last-layer Laplace full", "laplace-full"),
        ("MC dropout p0.1, 32", "mc-dropout"), ("SWAG rank 20, 32", "swag"),
        ("deep ensemble 5", "ensemble"), ("MultiSWAG 5 × rank 20, 32", "multiswag"),
        ("mixture of 5 last-layer KFAC Laplaces", "laplace-mixture")]

def load(seed, f):
    r = json.load(open(os.path.join(out, f"seed-{seed}", f + ".json")))
    m = r["evaluation"]["metrics"]   # EvaluationMetrics, the schema of every command
    c, cost = m["classification"], m["scalability"]
    ood = m["ood"][0]["scores"] if m["ood"] else {}
    auroc = lambda score: ood[score]["auroc"] if score in ood else float("nan")
    return {"acc": c["accuracy"], "nll": c["negativeLogLikelihood"], "brier": c["brierScore"],
            "ece": c["expectedCalibrationError"], "auroc_entropy": auroc("entropy"),
            "auroc_maxp": auroc("maxProbability"), "seconds": cost["fitSeconds"],
            "peak_mb": cost["peakResidentBytes"] / 1e6}

res = {f: [load(s, f) for s in seeds] for _, f in rows}
def cell(f, k, digits=4):
    v = [x[k] for x in res[f]]
    return f"{st.mean(v):.{digits}f}" + (f" ± {st.stdev(v):.{digits}f}" if len(v) > 1 else "")

print(f"seeds {' '.join(seeds)}: mean ± standard deviation over seeds\n")
print("| method | acc | NLL | Brier | ECE | OOD AUROC (entropy) | OOD AUROC (1−max p) | train/fit s | peak MB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, f in rows:
    print(f"| {name} | {cell(f, 'acc')} | {cell(f, 'nll')} | {cell(f, 'brier')} | {cell(f, 'ece')} | "
          f"{cell(f, 'auroc_entropy')} | {cell(f, 'auroc_maxp')} | {cell(f, 'seconds', 1)} | {max(x['peak_mb'] for x in res[f]):.0f} |")

print("\nthe issue's targets, per seed (ratios to that seed's MAP):\n")
print("| seed | max ECE / MAP ECE (all methods) | KFAC ECE / MAP ECE (≤ 0.5) | ensemble NLL / MAP NLL (≤ 0.92) | ensemble OOD AUROC (≥ 0.78) | SWAG NLL / MAP NLL (≤ 0.92) | KFAC fit s (≤ 2.5) | full fit s (≤ 30) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
ratios = []
for i, s in enumerate(seeds):
    m = res["map"][i]
    worst = max(res[f][i]["ece"] for _, f in rows[1:]) / m["ece"]
    kfac = res["laplace-kron"][i]["ece"] / m["ece"]
    ratios.append(kfac)
    print(f"| {s} | {worst:.3f} | {kfac:.3f} | {res['ensemble'][i]['nll'] / m['nll']:.3f} | "
          f"{res['ensemble'][i]['auroc_entropy']:.3f} | {res['swag'][i]['nll'] / m['nll']:.3f} | "
          f"{res['laplace-kron'][i]['seconds']:.1f} | {res['laplace-full'][i]['seconds']:.1f} |")
map_ece = st.mean(x["ece"] for x in res["map"])
print(f"\nKFAC ECE / MAP ECE: mean of per-seed ratios {st.mean(ratios):.3f}; "
      f"ratio of mean ECEs {st.mean(x['ece'] for x in res['laplace-kron']) / map_ece:.3f}")
PY
