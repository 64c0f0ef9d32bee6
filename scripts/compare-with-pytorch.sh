#!/usr/bin/env bash
# Runs `credence perf` and the PyTorch reference benchmark back to back on this machine
# and prints Credence/PyTorch throughput ratios.
#
#   bash scripts/compare-with-pytorch.sh PATH/TO/anchor_bench.py [PYTHON]
#
# PYTHON defaults to /opt/anchor-venv/bin/python (the venv the reference's setup.sh builds).
# PARTS (environment) limits `credence perf` to some parts, e.g.
#   PARTS="gemm mlp cnn mc-dropout pgd lenet5 resnet20 densenet hmc" bash scripts/compare-with-pytorch.sh ...
# Absolute numbers on a shared machine drift; the ratio measured in one run is the figure.
set -euo pipefail
REF="${1:?usage: $0 PATH/TO/anchor_bench.py [PYTHON]}"
PY="${2:-/opt/anchor-venv/bin/python}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$(mktemp -d)"
[ -f "$REF" ] || { echo "error: reference script $REF not found" >&2; exit 1; }
[ -x "$PY" ] || { echo "error: $PY not found; build the reference venv with its setup.sh" >&2; exit 1; }

cd "$HERE"
swift build -c release --product credence >&2
echo "== Credence (release) ==" >&2
# shellcheck disable=SC2086  # PARTS is a list of words
.build/release/credence perf --format json ${PARTS:+--parts $PARTS} > "$OUT/credence.json"
echo "== PyTorch reference ==" >&2
"$PY" "$REF" --parts speed --out "$OUT/pytorch.json" > /dev/null
echo "== PyTorch, the architectures (scripts/architecture-reference.py) ==" >&2
"$PY" "$HERE/scripts/architecture-reference.py" --out "$OUT/architectures.json" > /dev/null
if [ -z "${PARTS:-}" ] || [[ " $PARTS " == *" hmc "* ]]; then
  echo "== PyTorch, HMC's full-batch gradients (scripts/hmc-gradient-reference.py) ==" >&2
  "$PY" "$HERE/scripts/hmc-gradient-reference.py" --out "$OUT/hmc.json" > /dev/null
fi

python3 - "$OUT/credence.json" "$OUT/pytorch.json" "$OUT/architectures.json" "$OUT/hmc.json" <<'PYEOF'
import json, os, sys
c = json.load(open(sys.argv[1]))
p = json.load(open(sys.argv[2]))["speed"]
architectures = json.load(open(sys.argv[3]))
hmc = json.load(open(sys.argv[4]))["gradients_per_s"] if os.path.exists(sys.argv[4]) else {}
rows = []  # only the parts Credence measured (PARTS may leave some out)
if "mlpTrainingSamplesPerSecond" in c:
    rows.append(("MLP training (samples/s)", c["mlpTrainingSamplesPerSecond"], p["mlp_train"]["steady_samples_per_s"], 1.5))
if "cnnTrainingSamplesPerSecond" in c:
    rows.append(("CNN training (samples/s)", c["cnnTrainingSamplesPerSecond"], p["cnn_train"]["steady_samples_per_s"], 1.0))
if "mcDropoutImagesPerSecond" in c:
    mc = p["mc_dropout_inference"]
    rows.append(("MC dropout, 32 passes (images/s)", c["mcDropoutImagesPerSecond"], mc["images_per_s_median"], 2.5))
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
print(f"{'workload':45} {'Credence':>10} {'PyTorch':>10} {'ratio':>7} {'target':>7}")
for name, a, b, target in rows:
    t = f"≥{target:.1f}" if target else ""
    print(f"{name:45} {a:10.0f} {b:10.0f} {a / b:7.2f} {t:>7}")
if "gemmGFLOPS" in c:
    print(f"{'GEMM 2048³ (GFLOP/s, Credence)':45} {c['gemmGFLOPS']:10.1f}")
PYEOF
echo "raw reports: $OUT" >&2
