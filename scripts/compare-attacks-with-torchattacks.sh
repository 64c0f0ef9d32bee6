#!/usr/bin/env bash
# Attack strength on the same weights: Credence's FGSM, PGD, MIM, APGD (CE, DLR, targeted), FAB-T and Square
# against torchattacks' on one Credence MAP checkpoint of the Fashion-MNIST MLP, at each ε, on
# the first N test images; prints both robust accuracies and flags where Credence's attack is
# weaker (higher robust accuracy) by more than half a point.
#
#   bash scripts/compare-attacks-with-torchattacks.sh [PYTHON] [WORK_DIR]
#
# PYTHON defaults to /opt/anchor-venv/bin/python (the reference venv of ../shared/reference,
# with torch and torchattacks). WORK_DIR (default /work/attack-compare) keeps the trained MAP
# network (10 epochs, Adam 1e-3, batch 128, hold-out 5,000, as the reference) and the reports;
# an existing network is reused. EPS and EXAMPLES override the defaults 0.05,0.1 and 1000;
# ATTACKS (e.g. "fab-t apgd-t") runs only those, on both sides.
set -euo pipefail
PY="${1:-/opt/anchor-venv/bin/python}"
WORK="${2:-/work/attack-compare}"
EPS="${EPS:-0.05,0.1}"
EXAMPLES="${EXAMPLES:-1000}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ -x "$PY" ] || { echo "error: $PY not found; build the reference venv with ../shared/reference/setup.sh" >&2; exit 1; }
"$PY" -c "import torchattacks" 2>/dev/null || { echo "error: torchattacks is not installed in $PY's environment" >&2; exit 1; }
mkdir -p "$WORK"
cd "$HERE"
swift build -c release --product credence >&2
CREDENCE=.build/release/credence
MAP="$WORK/map.safetensors"
if [ ! -f "$MAP" ]; then
    "$CREDENCE" train --dataset fashion-mnist --epochs 10 --batch-size 128 --holdout 5000 --seed 0 --out "$MAP" >&2
fi
for attack in ${ATTACKS:-fgsm pgd pgd-step-0.01 mim apgd-ce apgd-dlr apgd-t fab-t square}; do
    case "$attack" in
        pgd-step-0.01) args=(--attack pgd --step-size 0.01) ;;
        *) args=(--attack "$attack") ;;
    esac
    echo "== Credence $attack ==" >&2
    "$CREDENCE" attack --checkpoint "$MAP" "${args[@]}" --eps "$EPS" --examples "$EXAMPLES" --samples 1 --no-checks --format json \
        > "$WORK/credence-$attack.json"
done
echo "== torchattacks ==" >&2
"$PY" scripts/attack-reference.py "$MAP" --examples "$EXAMPLES" --eps "$EPS" ${ATTACKS:+--attacks "${ATTACKS// /,}"} > "$WORK/torchattacks.json"

python3 - "$WORK" <<'PYEOF'
import glob, json, os, sys
work = sys.argv[1]
reference = json.load(open(os.path.join(work, "torchattacks.json")))
print(f"clean accuracy: Credence-trained MAP, first {reference['examples']} test images: {reference['clean']:.4f} "
      f"(torch {reference['torch']}, torchattacks {reference['torchattacks']})")
print(f"{'attack':16} {'ε':>6} {'Credence':>9} {'torchattacks':>13} {'difference':>11}  {'Credence s':>10} {'torch s':>8}")
weaker = 0
for attack in ["fgsm", "pgd", "pgd-step-0.01", "mim", "apgd-ce", "apgd-dlr", "apgd-t", "fab-t", "square"]:
    if not os.path.exists(os.path.join(work, f"credence-{attack}.json")) or f"{attack}@" not in " ".join(reference["robust"]):
        continue
    ours = json.load(open(os.path.join(work, f"credence-{attack}.json")))
    share = ours["seconds"] / len(ours["points"])
    for point in ours["points"]:
        key = f"{attack}@{point['epsilon']:g}"
        theirs = reference["robust"][key]
        difference = point["robustAccuracy"] - theirs["accuracy"]
        flag = "  WEAKER" if difference > 0.005 else ""
        weaker += bool(flag)
        print(f"{attack:16} {point['epsilon']:6g} {point['robustAccuracy']:9.4f} {theirs['accuracy']:13.4f} {difference:+11.4f}"
              f"  {share:10.1f} {theirs['seconds']:8.1f}{flag}")
print("every Credence attack matches or beats torchattacks' (within 0.5 points)" if weaker == 0
      else f"{weaker} comparisons where Credence's attack is weaker by more than 0.5 points")
PYEOF
echo "reports: $WORK" >&2
