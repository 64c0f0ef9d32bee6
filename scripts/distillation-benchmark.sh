#!/usr/bin/env bash
# Fashion-MNIST posterior distillation (issue 9's GPED and BDK figures): MLP 784-512-512-10
# trained 10 epochs (Adam 1e-3, batch 128, 55,000 images, 5,000 held out), then from it
#   - the teacher: SGLD, 1 burn-in + SAMPLE_EPOCHS sampling epochs, every 50th iterate kept
#     (its Monte-Carlo predictive over the kept samples is what GPED is scored against);
#   - GPED with that very chain (same seed, same iterates — the students draw from their own
#     streams): a predictive student and an expected-entropy student, both 784-512-512, learning
#     at every iterate after burn-in on inputs perturbed by N(0, 0.5²);
#   - BDK: the same chain, the predictive student only.
# Scored on the 10k test images, OOD = the 5,000 MNIST digits. Then, for the first seed, the
# student architecture sweep (GPED with MLP students of other depths and widths).
#
#   bash scripts/distillation-benchmark.sh [OUTDIR] [SEED ...]   # default credence-results/distillation, seeds 0 1 2
#
# Resumable (re-running skips finished runs). Release build; SAMPLE_EPOCHS (default 4) sets the chain's length.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/distillation}"
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
SAMPLE_EPOCHS="${SAMPLE_EPOCHS:-4}"
swift build -c release --product credence >&2
C=.build/release/credence
CHAIN=(--set burnInEpochs=1 --set sampleEpochs="$SAMPLE_EPOCHS")

for SEED in "${SEEDS[@]}"; do
  D="$OUT/seed-$SEED"
  mkdir -p "$D"
  COMMON=(--dataset fashion-mnist --epochs 10 --holdout 5000 --seed "$SEED" --resume --ood mnist-5k --format json)
  $C train "${COMMON[@]}" --method map --out "$D/map.safetensors" > "$D/map.json"
  $C train "${COMMON[@]}" --method sgld "${CHAIN[@]}" --set thinning=50 --out "$D/sgld.safetensors" > "$D/sgld.json"
  $C train "${COMMON[@]}" --method gped "${CHAIN[@]}" --out "$D/gped.safetensors" > "$D/gped.json"
  $C train "${COMMON[@]}" --method bdk "${CHAIN[@]}" --out "$D/bdk.safetensors" > "$D/bdk.json"
done
SWEEP=("1 64" "2 64" "2 128" "2 256")
D="$OUT/seed-${SEEDS[0]}"
for S in "${SWEEP[@]}"; do
  read -r DEPTH WIDTH <<< "$S"
  $C train --dataset fashion-mnist --epochs 10 --holdout 5000 --seed "${SEEDS[0]}" --resume --ood mnist-5k --format json \
    --method gped "${CHAIN[@]}" --set studentDepth="$DEPTH" --set studentWidth="$WIDTH" \
    --out "$D/gped-$DEPTH-$WIDTH.safetensors" > "$D/gped-$DEPTH-$WIDTH.json"
done

python3 - "$OUT" "${SWEEP[*]}" "${SEEDS[@]}" <<'PY'
import json, sys, os, statistics as st
out, sweep, seeds = sys.argv[1], sys.argv[2].split(" "), sys.argv[3:]
sweep = [f"gped-{sweep[i]}-{sweep[i + 1]}" for i in range(0, len(sweep), 2)]
rows = [("MAP", "map"), ("SGLD teacher", "sgld"), ("GPED", "gped"), ("BDK", "bdk")]

def load(seed, f):
    r = json.load(open(os.path.join(out, f"seed-{seed}", f + ".json")))
    m = r["evaluation"]["metrics"]
    c, ood = m["classification"], m["ood"][0]["scores"]
    return {"acc": c["accuracy"], "nll": c["negativeLogLikelihood"], "ece": c["expectedCalibrationError"],
            "aurocH": ood["entropy"]["auroc"], "aurocEH": ood.get("expectedEntropy", {}).get("auroc", float("nan")),
            "aurocMI": ood.get("mutualInformation", {}).get("auroc", float("nan")),
            "predict": m["scalability"]["predictionSecondsPer1000"], "floats": m["scalability"]["storedFloats"]}

res = {f: [load(s, f) for s in seeds] for _, f in rows}
def cell(v, digits=4):
    v = [x for x in v if x == x]  # NaN: not measured (BDK has no expected-entropy student)
    if not v: return "–"
    return f"{st.mean(v):.{digits}f}" + (f" ± {st.stdev(v):.{digits}f}" if len(v) > 1 else "")
def col(f, k, digits=4): return cell([x[k] for x in res[f]], digits)

print(f"seeds {' '.join(seeds)}: mean ± standard deviation over seeds\n")
print("| method | acc | NLL | ECE | OOD AUROC H | OOD AUROC E H | OOD AUROC MI | s per 1,000 predictions | stored floats |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, f in rows:
    print(f"| {name} | {col(f, 'acc')} | {col(f, 'nll')} | {col(f, 'ece')} | {col(f, 'aurocH', 3)} | {col(f, 'aurocEH', 3)} | "
          f"{col(f, 'aurocMI', 3)} | {col(f, 'predict', 4)} | {col(f, 'floats', 0)} |")

print("\nthe issue's targets, per seed (NLL within 5 % of the teacher's, expected-entropy OOD AUROC within 0.02, ≥ 10× cheaper prediction):\n")
print("| seed | method | NLL / teacher NLL | OOD AUROC (E H) − teacher's | OOD AUROC (MI) − teacher's | teacher's prediction time / student's |")
print("|---|---|---:|---:|---:|---:|")
for i, s in enumerate(seeds):
    t = res["sgld"][i]
    for f in ("gped", "bdk"):
        x = res[f][i]
        print(f"| {s} | {f} | {x['nll'] / t['nll']:.3f} | {x['aurocEH'] - t['aurocEH']:+.3f} | {x['aurocMI'] - t['aurocMI']:+.3f} | {t['predict'] / x['predict']:.1f}× |")

t = load(seeds[0], "sgld")
print(f"\nstudent architecture sweep (seed {seeds[0]}; both students of the given depth × width; the teacher stores {t['floats']} floats):\n")
print("| students | NLL / teacher's | acc | OOD AUROC (E H) | s per 1,000 predictions | speed-up vs teacher | stored floats |")
print("|---|---:|---:|---:|---:|---:|---:|")
for f in sweep + ["gped"]:
    x = load(seeds[0], f)
    label = "2 × 512 (the teacher's)" if f == "gped" else " × ".join(f.split("-")[1:])
    print(f"| {label} | {x['nll'] / t['nll']:.3f} | {x['acc']:.4f} | {x['aurocEH']:.3f} | {x['predict']:.4f} | {t['predict'] / x['predict']:.1f}× | {x['floats']} |")
PY
