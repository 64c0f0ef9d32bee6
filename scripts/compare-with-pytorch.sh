#!/usr/bin/env bash
# Runs `credence perf` and the PyTorch reference benchmark back to back on this machine
# and prints Credence/PyTorch throughput ratios.
#
#   bash scripts/compare-with-pytorch.sh PATH/TO/anchor_bench.py [PYTHON]
#
# PYTHON defaults to /opt/anchor-venv/bin/python (the venv the reference's setup.sh builds).
# PARTS (environment) limits `credence perf` to some parts, e.g.
#   PARTS="gemm mlp cnn mc-dropout pgd lenet5 resnet20 densenet hmc" bash scripts/compare-with-pytorch.sh ...
# ROUNDS (environment, default 1) alternates the two sides that many times — Credence, then
# PyTorch, then Credence again … — and prints each round's ratio and their median: on a shared
# machine whose speed drifts by tens of percent between minutes, a ratio from adjacent runs,
# taken over several rounds, is the figure; one run's ratio is a sample of it.
set -euo pipefail
REF="${1:?usage: $0 PATH/TO/anchor_bench.py [PYTHON]}"
PY="${2:-/opt/anchor-venv/bin/python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mktemp -d)"
ROUNDS="${ROUNDS:-1}"
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "error: ROUNDS must be a whole number ≥ 1, got '$ROUNDS'" >&2; exit 1; }
[ -f "$REF" ] || { echo "error: reference script $REF not found" >&2; exit 1; }
[ -x "$PY" ] || { echo "error: $PY not found; build the reference venv with its setup.sh" >&2; exit 1; }

cd "$HERE"
swift build -c release --product credence >&2
for ((r = 1; r <= ROUNDS; r++)); do
  echo "== round $r of $ROUNDS: Credence (release) ==" >&2
  # shellcheck disable=SC2086  # PARTS is a list of words
  .build/release/credence perf --format json ${PARTS:+--parts $PARTS} > "$OUT/credence-$r.json"
  echo "== round $r of $ROUNDS: PyTorch reference ==" >&2
  "$PY" "$REF" --parts speed --out "$OUT/pytorch-$r.json" > /dev/null
  if [ -z "${PARTS:-}" ] || [[ " $PARTS " =~ \ (lenet5|resnet20|densenet)\  ]]; then
    echo "== round $r of $ROUNDS: PyTorch, the architectures (scripts/architecture-reference.py) ==" >&2
    "$PY" "$HERE/scripts/architecture-reference.py" --out "$OUT/architectures-$r.json" > /dev/null
  fi
  if [ -z "${PARTS:-}" ] || [[ " $PARTS " == *" hmc "* ]]; then
    echo "== round $r of $ROUNDS: PyTorch, HMC's full-batch gradients (scripts/hmc-gradient-reference.py) ==" >&2
    "$PY" "$HERE/scripts/hmc-gradient-reference.py" --out "$OUT/hmc-$r.json" > /dev/null
  fi
done

python3 - "$OUT" "$ROUNDS" <<'PYEOF'
import json, os, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])

def rows_of(r):
    """One round's (workload, Credence, PyTorch, target) rows."""
    c = json.load(open(f"{out}/credence-{r}.json"))
    p = json.load(open(f"{out}/pytorch-{r}.json"))["speed"]
    architectures = json.load(open(f"{out}/architectures-{r}.json")) if os.path.exists(f"{out}/architectures-{r}.json") else {}
    hmc = json.load(open(f"{out}/hmc-{r}.json"))["gradients_per_s"] if os.path.exists(f"{out}/hmc-{r}.json") else {}
    rows = []  # only the parts Credence measured (PARTS may leave some out)
    if "mlpTrainingSamplesPerSecond" in c:
        rows.append(("MLP training (samples/s)", c["mlpTrainingSamplesPerSecond"], p["mlp_train"]["steady_samples_per_s"], 1.7))
    if "cnnTrainingSamplesPerSecond" in c:
        rows.append(("CNN training (samples/s)", c["cnnTrainingSamplesPerSecond"], p["cnn_train"]["steady_samples_per_s"], 1.5))
    if "mcDropoutImagesPerSecond" in c:
        mc = p["mc_dropout_inference"]
        rows.append(("MC dropout, 32 passes (images/s)", c["mcDropoutImagesPerSecond"], mc["images_per_s_median"], 4.0))
        rows.append(("  vs PyTorch's batched variant", c["mcDropoutImagesPerSecond"], mc["batched_variant"]["images_per_s_median"], None))
    pgd = p.get("pgd_attack_mlp", {})
    if "pgdImagesPerSecond" in c:
        for impl, target in (("torchattacks", 2.0), ("own", None)):
            if impl in pgd:
                label = "PGD-10 attack (images/s)" if target else "  vs the reference's own PGD loop"
                rows.append((label + (" vs torchattacks" if target else ""), c["pgdImagesPerSecond"], pgd[impl]["images_per_s_median"], target))
    for name, label in (("lenet5", "LeNet-5"), ("resnet20", "ResNet-20"), ("densenet", "DenseNet-BC-40")):
        ours = c.get("architectureTrainingSamplesPerSecond", {}).get(name)
        if ours and name in architectures:
            rows.append((f"{label} training (samples/s)", ours, architectures[name]["samples_per_s"], 1.0 if name != "densenet" else None))
    for task, ours in sorted(c.get("hamiltonianGradientsPerSecond", {}).items()):
        if task in hmc:
            rows.append((f"HMC gradient, {task} (gradients/s)", ours, hmc[task], None))
    return rows, c.get("gemmGFLOPS"), c.get("mlpFractionOfCeiling")

per_round = [rows_of(r) for r in range(1, rounds + 1)]
names = [row[0] for row in per_round[0][0]]
if rounds == 1:
    print(f"{'workload':45} {'Credence':>10} {'PyTorch':>10} {'ratio':>7} {'target':>7}")
else:
    print(f"{'workload':45} {'Credence':>10} {'PyTorch':>10} {'ratio':>7} {'target':>7}  rounds (ratio each)")
for i, name in enumerate(names):
    rows = [rs[i] for rs, _, _ in per_round if i < len(rs) and rs[i][0] == name]
    ratios = [a / b for _, a, b, _ in rows]
    target = rows[0][3]
    t = f"≥{target:.1f}" if target else ""
    # The median round's own figures beside the median ratio (for an even count, the lower middle).
    middle = sorted(range(len(rows)), key=lambda k: ratios[k])[(len(rows) - 1) // 2]
    _, a, b, _ = rows[middle]
    line = f"{name:45} {a:10.0f} {b:10.0f} {statistics.median(ratios):7.2f} {t:>7}"
    if rounds > 1:
        line += "  " + " / ".join(f"{x:.2f}" for x in ratios)
    print(line)
for r, (_, gemm, fraction) in enumerate(per_round, 1):
    suffix = f", round {r}" if rounds > 1 else ""
    if gemm is not None:
        print(f"{'GEMM 2048³ (GFLOP/s, Credence)' + suffix:45} {gemm:10.1f}")
    if fraction is not None:
        print(f"{'MLP, fraction of its GEMM-bound ceiling' + suffix:45} {100 * fraction:9.0f}%   ≥70%")
PYEOF
echo "raw reports: $OUT" >&2
