#!/usr/bin/env bash
# Fashion-MNIST SG-MCMC comparison (issue 9's figures): MLP 784-512-512-10 trained 10 epochs
# (Adam 1e-3, batch 128, 55,000 images; 5,000 held out as in the posteriors benchmark), then
# each sampler's chain from that network: SGLD, pSGLD and SGHMC (1 burn-in + 4 sampling
# epochs, every 50th iterate kept), cSGLD and cSGHMC (4 cosine cycles of 10 epochs, the last
# 20 % of each sampling, every 100th iterate kept), and cSGHMC with 10 cycles of 5 epochs
# sampling the last 70 % of each ("csghmc-10x5"). Scored on the 10k test images, OOD = the
# 5,000 MNIST digits; mean ± sd over seeds, then the issue's targets per seed. Then
# `credence perf --parts sgmcmc`: one sampler step's cost against the MAP step's, interleaved.
#
#   bash scripts/sgmcmc-benchmark.sh [OUTDIR] [SEED ...]   # default credence-results/sgmcmc, seeds 0 1 2
#
# Resumable (re-running skips finished chains). Release build; about 9 minutes per seed on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/sgmcmc}"
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
swift build -c release --product credence >&2
C=.build/release/credence
CYCLES=(--set cycles=4 --set cycleEpochs=10 --set explorationFraction=0.8 --set thinning=100)
MORE_CYCLES=(--set cycles=10 --set cycleEpochs=5 --set explorationFraction=0.3 --set thinning=100)

for SEED in "${SEEDS[@]}"; do
  D="$OUT/seed-$SEED"
  mkdir -p "$D"
  COMMON=(--dataset fashion-mnist --epochs 10 --holdout 5000 --seed "$SEED" --resume --ood mnist-5k --format json)
  $C train "${COMMON[@]}" --method map --out "$D/map.safetensors" > "$D/map.json"
  for M in sgld psgld sghmc; do
    $C train "${COMMON[@]}" --method $M --out "$D/$M.safetensors" > "$D/$M.json"
  done
  for M in csgld csghmc; do
    $C train "${COMMON[@]}" --method $M "${CYCLES[@]}" --out "$D/$M.safetensors" > "$D/$M.json"
  done
  $C train "${COMMON[@]}" --method csghmc "${MORE_CYCLES[@]}" --out "$D/csghmc-10x5.safetensors" > "$D/csghmc-10x5.json"
done
$C perf --parts sgmcmc --format json > "$OUT/perf.json"

python3 - "$OUT" "${SEEDS[@]}" <<'PY'
import json, sys, os, statistics as st
out, seeds = sys.argv[1], sys.argv[2:]
rows = [("MAP", "map"), ("SGLD", "sgld"), ("pSGLD", "psgld"), ("SGHMC", "sghmc"), ("cSGLD", "csgld"), ("cSGHMC", "csghmc"),
        ("cSGHMC 10 × 5 epochs, 70 % sampling", "csghmc-10x5")]

def load(seed, f):
    r = json.load(open(os.path.join(out, f"seed-{seed}", f + ".json")))
    m = r["evaluation"]["metrics"]
    c, ood = m["classification"], (m["ood"][0]["scores"] if m["ood"] else {})
    chain = m.get("chain") or {}
    return {"acc": c["accuracy"], "nll": c["negativeLogLikelihood"], "ece": c["expectedCalibrationError"],
            "auroc": ood.get("entropy", {}).get("auroc", float("nan")),
            "samples": chain.get("samples", float("nan")),
            "rhat": chain.get("worstRHat", float("nan")), "ess": chain.get("smallestBulkEffectiveSampleSize", float("nan")),
            "seconds": m["scalability"]["fitSeconds"]}

res = {f: [load(s, f) for s in seeds] for _, f in rows}
def cell(f, k, digits=4):
    v = [x[k] for x in res[f] if x[k] == x[k]]  # NaN: not measured (MAP has no chain)
    if not v: return "–"
    return f"{st.mean(v):.{digits}f}" + (f" ± {st.stdev(v):.{digits}f}" if len(v) > 1 else "")

print(f"seeds {' '.join(seeds)}: mean ± standard deviation over seeds\n")
print("| method | acc | NLL | ECE | OOD AUROC (entropy) | samples | worst R̂ | smallest bulk ESS | train + chain s |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, f in rows:
    print(f"| {name} | {cell(f, 'acc')} | {cell(f, 'nll')} | {cell(f, 'ece')} | {cell(f, 'auroc', 3)} | "
          f"{cell(f, 'samples', 0)} | {cell(f, 'rhat', 3)} | {cell(f, 'ess', 0)} | {cell(f, 'seconds', 0)} |")

print("\nthe issue's targets for cSGHMC, per seed (NLL and ECE ≤ MAP's, accuracy ≥ MAP's − 0.3 points):\n")
print("| cSGHMC | seed | NLL / MAP NLL | ECE / MAP ECE | accuracy − MAP's (points) |")
print("|---|---|---:|---:|---:|")
for name, f in rows[-2:]:
    for i, s in enumerate(seeds):
        m, c = res["map"][i], res[f][i]
        print(f"| {name} | {s} | {c['nll'] / m['nll']:.3f} | {c['ece'] / m['ece']:.3f} | {100 * (c['acc'] - m['acc']):+.2f} |")

perf = json.load(open(os.path.join(out, "perf.json")))
print(f"\none step's cost against the MAP step (BLAS kernel {perf.get('blasKernel')}; ≤ 1.15 asked):\n")
for name, ratios in sorted(perf["samplerRatiosToMAP"].items()):
    costs = [1 / r for r in ratios]
    print(f"- {name}: {st.median(costs):.3f}× a MAP step (rounds: {', '.join(f'{c:.3f}' for c in costs)})")
PY
