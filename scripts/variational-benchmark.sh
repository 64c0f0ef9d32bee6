#!/usr/bin/env bash
# Fashion-MNIST variational inference (issue "Variational inference"): MLP 784-512-512-10,
# batch 128, Adam 1e-3, trained on 55,000 images (5,000 held out, as the posteriors
# benchmark), scored on the 10k test images and against the 5,000 MNIST digits as OOD.
#
#   bash scripts/variational-benchmark.sh [OUTDIR] [SEED ...]   # default credence-results/variational, seeds 0 1 2
#
# Methods: MAP (10 epochs, the bar), mean-field VI from scratch with local
# reparameterization and with Flipout (the run's 10 epochs, prior N(0, 1), T = 1), the same
# VI with a cold posterior (T = 0.1), and STF-BNN (the MAP network, then its first layer
# Bayesian by 3 epochs of VI with the rest fixed), and sparse variational dropout (the MAP
# network, then 10 epochs under the log-uniform prior) pruned by `credence compress` at
# 50–99 % of its weights, against magnitude pruning of the MAP network and signal-to-noise
# pruning of Flipout VI at the same fractions; and the first-layer optima experiment
# (`credence layer-optima`, first and last layer). The tables report mean ± standard
# deviation over seeds; "VI s" is the variational phase alone (STF-BNN's after its MAP),
# "extra floats" what the posterior stores beyond one network. Every run is resumable
# (re-running skips finished runs). Release build; about 17 minutes per seed on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/variational}"
shift || true
SEEDS=("$@")
[ ${#SEEDS[@]} -gt 0 ] || SEEDS=(0 1 2)
swift build -c release --product credence >&2
C=.build/release/credence

run() {  # run NAME ARGS...: one train command, skipped when its JSON exists
  local name="$1"; shift
  [ -s "$D/$name.json" ] && return
  $C train "${COMMON[@]}" "$@" --ood mnist-5k --out "$D/$name.safetensors" --format json > "$D/$name.json.part"
  mv "$D/$name.json.part" "$D/$name.json"
}

for SEED in "${SEEDS[@]}"; do
  D="$OUT/seed-$SEED"
  mkdir -p "$D"
  COMMON=(--dataset fashion-mnist --epochs 10 --holdout 5000 --seed "$SEED" --samples 32 --resume)
  run map --method map
  run vi --method vi
  run vi-flipout --method vi-flipout
  run vi-cold --method vi --set temperature=0.1
  run stf-bnn --method stf-bnn --set viEpochs=3
  run vd --method variational-dropout --set viEpochs=10
  FRACTIONS=(0 0.5 0.8 0.9 0.95 0.98 0.99)
  for NAME in vd map vi-flipout; do
    FILE="$D/$NAME.safetensors"; [ "$NAME" = map ] && FILE="$D/map.member-0.safetensors"
    [ -s "$D/$NAME.compress.json" ] || $C compress --posterior "$FILE" --fractions "${FRACTIONS[@]}" --format json > "$D/$NAME.compress.json"
  done
  # The experiment STF-BNN rests on: the first (and, for contrast, the last) layer retrained
  # from seeds 1–3 with the rest of the MAP network fixed.
  for LAYER in first last; do
    [ -s "$D/layer-optima-$LAYER.json" ] || $C layer-optima --checkpoint "$D/map.member-0.safetensors" --layer "$LAYER" \
      --restarts 3 --epochs 5 --format json > "$D/layer-optima-$LAYER.json"
  done
done

python3 - "$OUT" "${SEEDS[@]}" <<'PY'
import json, sys, os, statistics as st
out, seeds = sys.argv[1], sys.argv[2:]
rows = [("MAP", "map"), ("mean-field VI, local reparameterization", "vi"), ("mean-field VI, Flipout", "vi-flipout"),
        ("mean-field VI, local, cold T = 0.1", "vi-cold"), ("STF-BNN (first layer, 3 VI epochs)", "stf-bnn"),
        ("sparse variational dropout (10 epochs after MAP)", "vd")]

def load(seed, f):
    r = json.load(open(os.path.join(out, f"seed-{seed}", f + ".json")))
    m = r["evaluation"]["metrics"]
    c, cost = m["classification"], m["scalability"]
    ood = m["ood"][0]["scores"] if m["ood"] else {}
    return {"acc": c["accuracy"], "nll": c["negativeLogLikelihood"], "ece": c["expectedCalibrationError"],
            "auroc": ood["entropy"]["auroc"] if "entropy" in ood else float("nan"),
            "vi_seconds": r.get("posteriorSeconds", 0.0), "seconds": cost["fitSeconds"],
            "extra": cost["storedFloats"] - cost["parameterCount"]}

res = {f: [load(s, f) for s in seeds] for _, f in rows}
def cell(f, k, digits=4):
    v = [x[k] for x in res[f]]
    return f"{st.mean(v):.{digits}f}" + (f" ± {st.stdev(v):.{digits}f}" if len(v) > 1 else "")

print(f"seeds {' '.join(seeds)}: mean ± standard deviation over seeds\n")
print("| method | acc | NLL | ECE | OOD AUROC (entropy, MNIST) | VI s | total s | extra floats |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for name, f in rows:
    print(f"| {name} | {cell(f, 'acc')} | {cell(f, 'nll')} | {cell(f, 'ece')} | {cell(f, 'auroc')} | "
          f"{cell(f, 'vi_seconds', 1)} | {cell(f, 'seconds', 1)} | {res[f][0]['extra']:,} |")

print("\nthe issue's targets, per seed:\n")
print("| seed | Flipout acc − MAP (≥ −0.015) | Flipout ECE / MAP ECE (≤ 1) | Flipout AUROC − MAP (≥ 0) | STF VI s / VI s (≤ 0.15) | STF extra floats / VI's (≤ 0.15) | STF ECE / VI ECE (≤ 1) | STF AUROC − VI (≥ 0) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for i, s in enumerate(seeds):
    m, v, fl, stf = res["map"][i], res["vi"][i], res["vi-flipout"][i], res["stf-bnn"][i]
    print(f"| {s} | {fl['acc'] - m['acc']:+.4f} | {fl['ece'] / m['ece']:.3f} | {fl['auroc'] - m['auroc']:+.4f} | "
          f"{stf['vi_seconds'] / fl['vi_seconds']:.3f} | {stf['extra'] / fl['extra']:.4f} | {stf['ece'] / fl['ece']:.3f} | "
          f"{stf['auroc'] - fl['auroc']:+.4f} |")

print("\ncompression: test accuracy of the pruned mean (or point) network, by fraction of weights pruned\n")
curves = {f: [json.load(open(os.path.join(out, f"seed-{s}", f + ".compress.json"))) for s in seeds] for f in ("vd", "vi-flipout", "map")}
fractions = [r["fraction"] for r in curves["vd"][0]["rows"]]
print("| pruned | " + " | ".join(f"{100 * f:.0f} %" for f in fractions) + " |")
print("|---|" + "---:|" * len(fractions))
for name, f in [("variational dropout (SNR = log α)", "vd"), ("Flipout VI (SNR)", "vi-flipout"), ("MAP (magnitude)", "map")]:
    cells = []
    for k in range(len(fractions)):
        v = [c["rows"][k]["accuracy"] for c in curves[f]]
        cells.append(f"{st.mean(v):.4f}" + (f" ± {st.stdev(v):.4f}" if len(v) > 1 else ""))
    print(f"| {name} | " + " | ".join(cells) + " |")
above = [c["fractionWithLogAlphaAbove3"] for c in curves["vd"]]
print(f"\nvariational dropout: weights with log α > 3: {', '.join(f'{100 * a:.2f} %' for a in above)} (seeds {' '.join(seeds)})")

print("\nlayer optima: one layer of the MAP network retrained from seeds 1–3 (5 epochs of Adam), the rest fixed\n")
print("| MAP seed | layer | parameters | trained: train loss | restarts: train loss | restarts: test acc | relative distance between restarts | to the trained layer | barrier on the line 1→2 |")
print("|---|---|---:|---:|---|---|---|---|---:|")
for s in seeds:
    for layer in ("first", "last"):
        r = json.load(open(os.path.join(out, f"seed-{s}", f"layer-optima-{layer}.json")))
        pairs = [r["relativeDistances"][i][j] for i in range(len(r["restarts"])) for j in range(i + 1, len(r["restarts"]))]
        losses = " / ".join("%.4f" % x["trainLoss"] for x in r["restarts"])
        accuracies = " / ".join("%.4f" % x["testAccuracy"] for x in r["restarts"])
        print(f"| {s} | {layer} | {r['parameters']:,} | {r['original']['trainLoss']:.4f} | {losses} | {accuracies} | "
              f"{min(pairs):.3f}–{max(pairs):.3f} | {min(r['relativeDistanceToOriginal']):.3f}–{max(r['relativeDistanceToOriginal']):.3f} | {r['barrier']:.4f} |")
PY
