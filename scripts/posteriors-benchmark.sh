#!/usr/bin/env bash
# Fashion-MNIST posterior comparison (issue "Posteriors I"): MLP 784-512-512-10, 10 epochs,
# Adam 1e-3, batch 128, trained on 55,000 images (5,000 held out for temperature scaling),
# scored on the 10k test images and against the 5,000 MNIST digits as OOD.
#
#   bash scripts/posteriors-benchmark.sh [OUTDIR]      # default credence-results/posteriors
#
# Peak MB is the whole command's resident peak (data set, training or fitting, evaluation).
# Every run is resumable (re-running skips finished networks, whose time then reads 0) and
# writes one JSON file per method; a table follows. Release build; about 4 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/posteriors}"
mkdir -p "$OUT"
swift build -c release --product credence >&2
C=.build/release/credence
COMMON=(--dataset fashion-mnist --epochs 10 --holdout 5000 --seed 0 --resume)

$C train "${COMMON[@]}" --method map --ood mnist-5k --out "$OUT/map.safetensors" --format json > "$OUT/map.json"
$C fit --checkpoint "$OUT/map.safetensors" --method temperature --ood mnist-5k --out "$OUT/map-ts.safetensors" --format json > "$OUT/map-ts.json"
$C fit --checkpoint "$OUT/map.safetensors" --method laplace --subset last-layer --hessian kronecker --ood mnist-5k --out "$OUT/laplace-kron.safetensors" --format json > "$OUT/laplace-kron.json"
$C fit --checkpoint "$OUT/map.safetensors" --method laplace --subset last-layer --hessian full --ood mnist-5k --out "$OUT/laplace-full.safetensors" --format json > "$OUT/laplace-full.json"
$C train "${COMMON[@]}" --method mc-dropout --dropout 0.1 --samples 32 --ood mnist-5k --out "$OUT/mc-dropout.safetensors" --format json > "$OUT/mc-dropout.json"
$C train "${COMMON[@]}" --method swag --rank 20 --swag-epochs 5 --samples 32 --ood mnist-5k --out "$OUT/swag.safetensors" --format json > "$OUT/swag.json"
$C train "${COMMON[@]}" --method ensemble --members 5 --ood mnist-5k --out "$OUT/ensemble.safetensors" --format json > "$OUT/ensemble.json"

python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
rows = [("MAP", "map.json"), ("temperature-scaled MAP", "map-ts.json"),
        ("last-layer Laplace KFAC", "laplace-kron.json"), ("last-layer Laplace full", "laplace-full.json"),
        ("MC dropout p0.1, 32", "mc-dropout.json"), ("SWAG rank 20, 32", "swag.json"),
        ("deep ensemble 5", "ensemble.json")]
print(f"| {'method':24} | acc | NLL | Brier | ECE | OOD AUROC (entropy) | OOD AUROC (1−max p) | train/fit s | peak MB |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, f in rows:
    r = json.load(open(os.path.join(out, f)))
    e = r["evaluation"]
    ood = e["ood"][0] if e["ood"] else {}
    secs = r["fitSeconds"] if "fitSeconds" in r else sum(x["trainingSeconds"] for x in r["runs"]) + r.get("posteriorSeconds", 0)
    print(f"| {name:24} | {e['accuracy']:.4f} | {e['negativeLogLikelihood']:.4f} | {e['brierScore']:.4f} | "
          f"{e['expectedCalibrationError']:.4f} | {ood.get('aurocEntropy', float('nan')):.4f} | "
          f"{ood.get('aurocMaxProbability', float('nan')):.4f} | {secs:.1f} | {r.get('peakResidentMegabytes', float('nan')):.0f} |")
PY
