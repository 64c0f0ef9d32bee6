#!/usr/bin/env bash
# Robust accuracy versus ε for every posterior, with and without EOT (issue "Adversarial
# robustness I"): the Fashion-MNIST MLP 784-512-512-10 trained as in posteriors-benchmark.sh
# (10 epochs, Adam 1e-3, batch 128, 5,000 held out), attacked on the first 1,000 test images by
# PGD-10 (L∞, random start) and APGD-CE at each ε — stochastic posteriors once with one sample
# per gradient and once with EOT over 8 samples of the model average's loss.
#
#   bash scripts/robustness-benchmark.sh [OUTDIR] [SEED]     # default credence-results/robustness, seed 0
#
# Then transfer: a MAP network trained with seed SEED+1 is attacked with inputs crafted on each
# posterior of seed SEED (PGD-10; the stochastic ones through EOT over 8 samples, an ensemble
# through its members) — do Bayesian surrogates transfer better than a single network?
#
# Networks are reused when present (the runs resume); one JSON per posterior and attack; the
# table follows. EPS overrides the budgets (default 0.02,0.05,0.1). Release build; about 15
# minutes on 2 cores.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/robustness}"
SEED="${2:-0}"
EPS="${EPS:-0.02,0.05,0.1}"
swift build -c release --product credence >&2
C=.build/release/credence
D="$OUT/seed-$SEED"
mkdir -p "$D"
COMMON=(--dataset fashion-mnist --epochs 10 --holdout 5000 --seed "$SEED" --resume)
train() { local name="$1"; shift; [ -f "$D/$name.safetensors" ] || $C train "${COMMON[@]}" "$@" --out "$D/$name.safetensors" >&2; }
train map --method map
train mc-dropout --method mc-dropout --set dropout=0.1
train swag --method swag --set rank=20 --set swagEpochs=5
train ensemble --method ensemble --set members=5
train vi-flipout --method vi-flipout
train sgld --method csgld
# Bayesian Dark Knowledge against its teacher: the constant-step SGLD chain (34 samples) and the
# student distilled from that very chain (one network).
train sgld-chain --method sgld --set thinning=50
train bdk --method bdk
[ -f "$D/laplace.safetensors" ] || $C fit --checkpoint "$D/map.safetensors" --method laplace --set subset=last-layer \
    --set hessian=kronecker --out "$D/laplace.safetensors" >&2

for name in map mc-dropout swag ensemble laplace vi-flipout sgld sgld-chain bdk; do
  for attack in pgd apgd-ce; do
    for eot in 1 8; do
      [ "$eot" = 8 ] && [[ "$name" = map || "$name" = ensemble || "$name" = sgld* || "$name" = bdk ]] && continue   # deterministic: every attack uses all its networks
      f="$D/$name.$attack.eot$eot.json"
      [ -f "$f" ] && continue
      checks=(--no-checks); [ "$eot" = 1 ] && [ "$attack" = pgd ] && checks=()
      echo "== $name $attack EOT $eot ==" >&2
      $C attack --posterior "$D/$name.safetensors" --attack "$attack" --eps "$EPS" --eot-samples "$eot" --examples 1000 \
          --samples 32 --seed "$SEED" "${checks[@]}" --format json > "$f.part" 2> >(grep -v "^warning: .*no EOT" >&2)
      mv "$f.part" "$f"
    done
  done
done

# Transfer to an independently trained MAP network.
V="$OUT/seed-$((SEED + 1))"
mkdir -p "$V"
[ -f "$V/map.safetensors" ] || $C train --dataset fashion-mnist --epochs 10 --holdout 5000 --seed "$((SEED + 1))" --method map \
    --out "$V/map.safetensors" >&2
for name in map mc-dropout swag ensemble laplace vi-flipout sgld; do
  f="$D/transfer-from-$name.json"
  [ -f "$f" ] && continue
  eot=8; [[ "$name" = map ]] && eot=1; [[ "$name" = ensemble || "$name" = sgld ]] && eot=1   # their networks are all used anyway
  echo "== transfer from $name ==" >&2
  $C attack --checkpoint "$V/map.safetensors" --surrogate "$D/$name.safetensors" --attack pgd --eps "$EPS" --eot-samples "$eot" \
      --examples 1000 --seed "$SEED" --format json > "$f.part" 2> >(grep -v "^warning: .*no EOT" >&2)
  mv "$f.part" "$f"
done

python3 - "$D" <<'PY'
import glob, json, os, sys
d = sys.argv[1]
names = ["map", "mc-dropout", "swag", "ensemble", "laplace", "vi-flipout", "sgld", "sgld-chain", "bdk"]
print(f"{'posterior':12} {'attack':8} {'EOT':>3} {'clean':>7} " + " ".join(f"{'ε ' + format(p, 'g'):>9}" for p in
      [pt["epsilon"] for pt in json.load(open(os.path.join(d, "map.pgd.eot1.json")))["points"]]) + "   detection AUROC (entropy) at the largest ε")
for name in names:
    for attack in ["pgd", "apgd-ce"]:
        for eot in (1, 8):
            f = os.path.join(d, f"{name}.{attack}.eot{eot}.json")
            if not os.path.exists(f):
                continue
            r = json.load(open(f))
            cells = " ".join(f"{p['robustAccuracy']:9.4f}" for p in r["points"])
            print(f"{name:12} {attack:8} {eot:3d} {r['cleanAccuracy']:7.4f} {cells}   {r['points'][-1]['detectionAUROC']['entropy']:.3f}")
print()
for name in names:
    f = os.path.join(d, f"{name}.pgd.eot1.json")
    if os.path.exists(f):
        failed = [c["name"] for c in json.load(open(f)).get("checks") or [] if not c["passed"]]
        print(f"{name:12} masking checks: " + ("all passed" if not failed else "FAILED " + "; ".join(failed)))
print()
print("transfer to an independently trained MAP network (its robust accuracy; lower = the surrogate transfers better):")
for name in names:
    f = os.path.join(d, f"transfer-from-{name}.json")
    if os.path.exists(f):
        r = json.load(open(f))
        print(f"from {name:12} EOT {r['eotSamples']:2d}: clean {r['cleanAccuracy']:.4f} " + " ".join(f"{p['robustAccuracy']:9.4f}" for p in r["points"]))
PY
