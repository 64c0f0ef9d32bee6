#!/bin/bash
# Randomized smoothing's CERTIFY in Credence and in an independent PyTorch implementation
# (scripts/smoothing-reference.py, Cohen et al.'s core.py) on the same weights, back to back:
# certified accuracy per radius from both, whether the two agree within the Monte-Carlo error,
# and the throughput ratio (noisy inputs classified per second).
#
#   scripts/compare-smoothing-with-pytorch.sh CHECKPOINT [SIGMA] [EXAMPLES] [N] [SKIP]
#
# Agreement: where both choose the same class for an example, their counts n_A of n noisy
# inputs are two independent Binomial(n, p) draws, so z = (n_A − n_A′)/√(2·n·p̂(1 − p̂)) is
# about N(0, 1); the script prints how many |z| exceed 3 (expected: ~0.3% of the examples), the
# mean of z (≈ 0) and of z² (≈ 1), and,
# per radius, the difference of the certified accuracies with its standard error from the
# examples whose certification differs between the runs.
# Environment: PYTHON (default /opt/anchor-venv/bin/python, ../shared/reference's venv),
# CREDENCE (default .build/release/credence), KEEP (a directory to keep both JSON results in).
# Timings are meaningful only on a quiet machine.
set -euo pipefail
checkpoint=${1:?usage: $0 CHECKPOINT [SIGMA] [EXAMPLES] [N] [SKIP]}
sigma=${2:-0.25}
examples=${3:-100}
n=${4:-100000}
skip=${5:-1}
python=${PYTHON:-/opt/anchor-venv/bin/python}
credence=${CREDENCE:-.build/release/credence}
if [ -n "${KEEP:-}" ]; then work=$KEEP; mkdir -p "$work"; else work=$(mktemp -d); trap 'rm -rf "$work"' EXIT; fi

echo "kernel: $("$credence" doctor 2>/dev/null | grep -i 'kernel' | head -1 | tr -s ' ')" >&2
"$credence" certify --checkpoint "$checkpoint" --sigma "$sigma" --n "$n" --examples "$examples" --skip "$skip" \
    --radii 0,0.25,0.5,0.75,1,1.25,1.5 --format json > "$work/credence.json" 2> "$work/credence.log"
"$python" "$(dirname "$0")/smoothing-reference.py" "$checkpoint" --sigma "$sigma" --n "$n" --examples "$examples" --skip "$skip" \
    --radii 0,0.25,0.5,0.75,1,1.25,1.5 > "$work/pytorch.json" 2> "$work/pytorch.log"

python3 - "$work/credence.json" "$work/pytorch.json" <<'EOF'
import json, math, sys
ours, ref = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
n = ours["settings"]["estimationSamples"]
a, b = ours["perExample"], ref["per_example"]
assert [e["index"] for e in a] == [e["index"] for e in b], "the two runs certified different examples"
same = [(x, y) for x, y in zip(a, b) if x["topClass"] == y["top_class"]]
z = []
for x, y in same:
    p = (x["topCount"] + y["top_count"]) / (2 * n)
    if 0 < p < 1:
        z.append((x["topCount"] - y["top_count"]) / math.sqrt(2 * n * p * (1 - p)))
print(f"{len(a)} examples, n = {n}, σ = {ours['settings']['sigma']}: same class chosen for {len(same)}; "
      f"|z| > 3 for {sum(abs(v) > 3 for v in z)} of {len(z)} with 0 < p̂ < 1 (max |z| {max((abs(v) for v in z), default=0):.2f}, "
      f"mean z {sum(z) / max(len(z), 1):+.3f} ± {1 / math.sqrt(max(len(z), 1)):.3f}, mean z² {sum(v * v for v in z) / max(len(z), 1):.3f} "
      f"± {math.sqrt(2 / max(len(z), 1)):.3f})")
print("radius   Credence  PyTorch   difference (± 2 s.e.)")
for point in ours["points"]:
    r = point["radius"]
    mine = [x.get("prediction") == x["label"] and x["radius"] >= r for x in a]
    theirs = [y["prediction"] == y["label"] and y["radius"] >= r for y in b]
    differing = sum(u != v for u, v in zip(mine, theirs))
    se = math.sqrt(differing) / len(a)
    d = point["certifiedAccuracy"] - ref["certified_accuracy"][str(float(r))]
    print(f"{r:<8g} {point['certifiedAccuracy']:.4f}    {ref['certified_accuracy'][str(float(r))]:.4f}    "
          f"{d:+.4f} (± {2 * se:.4f}){'' if abs(d) <= 2 * se + 1e-12 else '  OUTSIDE'}")
ratio = ours["noiseSamplesPerSecond"] / ref["noise_samples_per_second"]
print(f"throughput: Credence {ours['noiseSamplesPerSecond']:.0f} noisy inputs/s ({ours['seconds']:.1f} s), "
      f"PyTorch {ref['noise_samples_per_second']:.0f} ({ref['seconds']:.1f} s, {ref['threads']} threads): {ratio:.2f}×")
EOF
