#!/usr/bin/env bash
# MPI scale-out figures (issue 12), all in one run of this script, on this machine's cores:
#
#  1. Benchmark grids, 1 rank × 1 thread against `mpirun -np 2` × 1 thread each: the
#     built-in quick suite (60 runs of about a second) and a 12-run Fashion-MNIST grid
#     (MLP 784-512-512-10, 3 epochs on the 60,000 images; MAP, MC dropout, 2-member
#     ensemble, SWAG; seeds 0-2; runs of 10-30 s).
#     Each database starts empty; the wall time is the command's.
#  2. The coordinator's capacity: `mpirun -np 3 credence bench --no-work` on a suite of
#     2,000 runs whose work is skipped (each rank answers an empty record at once), so
#     what is timed is handing out, receiving and writing (one SQLite transaction, synced,
#     per run); and, on paper, the cluster size at which it would become the bottleneck for
#     the fashion-mnist suite's run lengths (taken from its README figure: 14 runs, 16 min).
#  3. Data-parallel training: Fashion-MNIST MLP 784-512-512-10, 2 epochs, batch 128;
#     samples/s of 1 rank × 1 thread, `mpirun -np 2` × 1 thread each, and, for reference,
#     1 process × 2 threads.
#
#   bash scripts/mpi-benchmark.sh [OUTDIR]      # default credence-results/mpi; ~15 min with the build
#
# Needs Open MPI (scripts/setup.sh installs it). Release build; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/mpi}"
rm -rf "$OUT"
mkdir -p "$OUT"
swift build -c release --product credence >&2
C="$OUT/credence"
cp .build/release/credence "$C"   # a copy: a rebuild meanwhile does not change what is timed
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
"$C" doctor | grep -E "^(kernel|CPU|MPI)" | tee "$OUT/machine.txt"

seconds() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["seconds"])' "$1"; }

cat > "$OUT/fmnist-grid.json" <<'JSON'
{
  "name": "fmnist-grid-12",
  "datasets": ["fashion-mnist"],
  "models": [{"kind": "mlp", "hidden": [512, 512]}],
  "methods": [
    {"name": "map"},
    {"name": "mc-dropout", "dropout": 0.1, "samples": 16},
    {"name": "ensemble", "members": 2},
    {"name": "swag", "swagEpochs": 1, "rank": 10}
  ],
  "seeds": [0, 1, 2],
  "epochs": 3, "batchSize": 128, "learningRate": 0.001,
  "evaluations": ["in-distribution"]
}
JSON

for SUITE in quick "$OUT/fmnist-grid.json"; do
  NAME=$(basename "$SUITE" .json)
  echo "grid $NAME: 1 rank × 1 thread" >&2
  CREDENCE_THREADS=1 "$C" bench "$SUITE" --db "$OUT/$NAME-1rank.sqlite" --no-report --format json > "$OUT/$NAME-1rank.json"
  echo "grid $NAME: 2 ranks × 1 thread" >&2
  CREDENCE_THREADS=1 "${MPIRUN[@]}" -np 2 "$C" bench "$SUITE" --db "$OUT/$NAME-2ranks.sqlite" --no-report --format json \
    > "$OUT/$NAME-2ranks.json" 2> "$OUT/$NAME-2ranks.log"
done

python3 - "$OUT/no-work.json" <<'PY'
import json, sys
json.dump({"name": "no-work-2000", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}],
           "methods": [{"name": "map"}], "seeds": list(range(2000)), "epochs": 1,
           "evaluations": ["in-distribution"]}, open(sys.argv[1], "w"))
PY
echo "coordinator: 2,000 runs that do no work, 3 ranks" >&2
"${MPIRUN[@]}" -np 3 "$C" bench "$OUT/no-work.json" --db "$OUT/no-work.sqlite" --no-report --no-work --format json \
  > "$OUT/no-work-result.json" 2> "$OUT/no-work.log"

TRAIN=(train --dataset fashion-mnist --hidden 512,512 --epochs 2 --batch-size 128 --format json)
echo "data parallel: 1 rank × 1 thread, 2 ranks × 1 thread, 1 process × 2 threads" >&2
CREDENCE_THREADS=1 "$C" "${TRAIN[@]}" --out "$OUT/dp-1rank.safetensors" > "$OUT/dp-1rank.json" 2>/dev/null
CREDENCE_THREADS=1 "${MPIRUN[@]}" -np 2 "$C" "${TRAIN[@]}" --out "$OUT/dp-2ranks.safetensors" > "$OUT/dp-2ranks.json" 2>/dev/null
CREDENCE_THREADS=2 "$C" "${TRAIN[@]}" --out "$OUT/dp-2threads.safetensors" > "$OUT/dp-2threads.json" 2>/dev/null

python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
load = lambda f: json.load(open(os.path.join(out, f)))
print(open(os.path.join(out, "machine.txt")).read().strip())
print("\n| grid | runs | 1 rank × 1 thread | 2 ranks × 1 thread | ratio (target ≤ 0.55) |\n|---|---:|---:|---:|---:|")
for name in ["quick", "fmnist-grid"]:
    one, two = load(f"{name}-1rank.json"), load(f"{name}-2ranks.json")
    assert one["completed"] == one["total"] and two["completed"] == two["total"], (one["failures"], two["failures"])
    print(f"| {name} | {one['total']} | {one['seconds']:.1f} s | {two['seconds']:.1f} s | {two['seconds'] / one['seconds']:.3f} |")
nw = load("no-work-result.json")
rate = nw["completed"] / nw["seconds"]
run_seconds = 16 * 60 / 14   # the fashion-mnist suite: 14 runs in 16 min on one 2-core machine
print(f"\ncoordinator: {nw['completed']} runs that do no work handed out and written in {nw['seconds']:.2f} s = {rate:.0f} runs/s;"
      f" with fashion-mnist's mean run of {run_seconds:.0f} s per 2-core rank it would saturate at ≈ {rate * run_seconds:,.0f} ranks")
dp = {k: load(f"dp-{k}.json") for k in ["1rank", "2ranks", "2threads"]}
s = {k: v["samplesPerSecond"] for k, v in dp.items()}
print(f"\ndata-parallel MLP training: 1 rank × 1 thread {s['1rank']:,.0f} samples/s; 2 ranks × 1 thread {s['2ranks']:,.0f}"
      f" ({s['2ranks'] / s['1rank']:.2f}×); 1 process × 2 threads {s['2threads']:,.0f} ({s['2threads'] / s['1rank']:.2f}×);"
      f" test accuracy {dp['1rank']['test']['accuracy']:.4f} / {dp['2ranks']['test']['accuracy']:.4f} / {dp['2threads']['test']['accuracy']:.4f}")
PY
