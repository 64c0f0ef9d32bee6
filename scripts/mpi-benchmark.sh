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
#     the fashion-mnist suite's run lengths (taken from its README figure for the seven-method
#     version of the suite: 14 runs, 16 min).
#  3. Data-parallel training: Fashion-MNIST MLP 784-512-512-10, 2 epochs, batch 128;
#     samples/s of 1 rank × 1 thread, `mpirun -np 2` × 1 thread each, and, for reference,
#     1 process × 2 threads.
#  4. Evaluations split over ranks, on the network of 3. (a MAP MLP): `credence attack`
#     (PGD-10 at ε 0.1 on 1,000 test images in batches of 250, with the gradient-masking
#     checks: 6 jobs) and `credence evaluate --shifts all` (the 81 shifted test sets of
#     10,000 images through the MAP network); wall
#     time of 1 rank × 1 thread against 2 ranks × 1 thread, and the results compared.
#
#   bash scripts/mpi-benchmark.sh [OUTDIR]      # default credence-results/mpi; ~20 min with the build
#   PARTS="evaluations" bash scripts/mpi-benchmark.sh OUTDIR   # some parts only (grids coordinator dp evaluations)
#
# Needs Open MPI (scripts/setup.sh installs it). Release build; run it on a quiet machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/mpi}"
PARTS="${PARTS:-grids coordinator dp evaluations}"
part() { [[ " $PARTS " == *" $1 "* ]]; }
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

part grids && for SUITE in quick "$OUT/fmnist-grid.json"; do
  NAME=$(basename "$SUITE" .json)
  echo "grid $NAME: 1 rank × 1 thread" >&2
  CREDENCE_THREADS=1 "$C" bench "$SUITE" --db "$OUT/$NAME-1rank.sqlite" --no-report --format json > "$OUT/$NAME-1rank.json"
  echo "grid $NAME: 2 ranks × 1 thread" >&2
  CREDENCE_THREADS=1 "${MPIRUN[@]}" -np 2 "$C" bench "$SUITE" --db "$OUT/$NAME-2ranks.sqlite" --no-report --format json \
    > "$OUT/$NAME-2ranks.json" 2> "$OUT/$NAME-2ranks.log"
done

if part coordinator; then
  python3 - "$OUT/no-work.json" <<'PY'
import json, sys
json.dump({"name": "no-work-2000", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}],
           "methods": [{"name": "map"}], "seeds": list(range(2000)), "epochs": 1,
           "evaluations": ["in-distribution"]}, open(sys.argv[1], "w"))
PY
  echo "coordinator: 2,000 runs that do no work, 3 ranks" >&2
  rm -f "$OUT/no-work.sqlite"
  "${MPIRUN[@]}" -np 3 "$C" bench "$OUT/no-work.json" --db "$OUT/no-work.sqlite" --no-report --no-work --format json \
    > "$OUT/no-work-result.json" 2> "$OUT/no-work.log"
fi

TRAIN=(train --dataset fashion-mnist --hidden 512,512 --epochs 2 --batch-size 128 --format json)
if part dp || { part evaluations && [ ! -f "$OUT/dp-1rank.safetensors" ]; }; then
  echo "data parallel: 1 rank × 1 thread, 2 ranks × 1 thread, 1 process × 2 threads" >&2
  rm -f "$OUT"/dp-*.safetensors*
  CREDENCE_THREADS=1 "$C" "${TRAIN[@]}" --out "$OUT/dp-1rank.safetensors" > "$OUT/dp-1rank.json" 2>/dev/null
  CREDENCE_THREADS=1 "${MPIRUN[@]}" -np 2 "$C" "${TRAIN[@]}" --out "$OUT/dp-2ranks.safetensors" > "$OUT/dp-2ranks.json" 2>/dev/null
  CREDENCE_THREADS=2 "$C" "${TRAIN[@]}" --out "$OUT/dp-2threads.safetensors" > "$OUT/dp-2threads.json" 2>/dev/null
fi

# Runs a command on 1 thread per process; its stdout to NAME.json, its wall time to NAME.seconds.
timed() {
  local name="$1"; shift
  local start; start=$(date +%s%N)
  CREDENCE_THREADS=1 "$@" > "$name.json" 2>/dev/null
  python3 -c "import sys; print((int(sys.argv[2]) - int(sys.argv[1])) / 1e9)" "$start" "$(date +%s%N)" > "$name.seconds"
}

if part evaluations; then
  ATTACK=(attack --checkpoint "$OUT/dp-1rank.safetensors" --attack pgd --eps 0.1 --examples 1000 --format json)
  SHIFTS=(evaluate --checkpoint "$OUT/dp-1rank.safetensors" --shifts all --format json)
  for KIND in attack shifts; do
    if [ "$KIND" = attack ]; then CMD=("${ATTACK[@]}"); else CMD=("${SHIFTS[@]}"); fi
    echo "$KIND: 1 rank × 1 thread, 2 ranks × 1 thread" >&2
    timed "$OUT/$KIND-1rank" "$C" "${CMD[@]}"
    timed "$OUT/$KIND-2ranks" "${MPIRUN[@]}" -np 2 "$C" "${CMD[@]}"
  done
fi

python3 - "$OUT" "$PARTS" <<'PY'
import json, os, sys
out, parts = sys.argv[1], sys.argv[2].split()
load = lambda f: json.load(open(os.path.join(out, f)))
print(open(os.path.join(out, "machine.txt")).read().strip())
print("\n| grid | runs | 1 rank × 1 thread | 2 ranks × 1 thread | ratio (target ≤ 0.55) |\n|---|---:|---:|---:|---:|")
for name in ["quick", "fmnist-grid"] if "grids" in parts else []:
    one, two = load(f"{name}-1rank.json"), load(f"{name}-2ranks.json")
    assert one["completed"] == one["total"] and two["completed"] == two["total"], (one["failures"], two["failures"])
    print(f"| {name} | {one['total']} | {one['seconds']:.1f} s | {two['seconds']:.1f} s | {two['seconds'] / one['seconds']:.3f} |")
if "coordinator" in parts:
    nw = load("no-work-result.json")
    rate = nw["completed"] / nw["seconds"]
    run_seconds = 16 * 60 / 14   # the fashion-mnist suite's seven-method version: 14 runs in 16 min on one 2-core machine
    print(f"\ncoordinator: {nw['completed']} runs that do no work handed out and written in {nw['seconds']:.2f} s = {rate:.0f} runs/s;"
          f" with fashion-mnist's mean run of {run_seconds:.0f} s per 2-core rank it would saturate at ≈ {rate * run_seconds:,.0f} ranks")
if "dp" in parts:
    dp = {k: load(f"dp-{k}.json") for k in ["1rank", "2ranks", "2threads"]}
    s = {k: v["samplesPerSecond"] for k, v in dp.items()}
    print(f"\ndata-parallel MLP training: 1 rank × 1 thread {s['1rank']:,.0f} samples/s; 2 ranks × 1 thread {s['2ranks']:,.0f}"
          f" ({s['2ranks'] / s['1rank']:.2f}×); 1 process × 2 threads {s['2threads']:,.0f} ({s['2threads'] / s['1rank']:.2f}×);"
          f" test accuracy {dp['1rank']['test']['accuracy']:.4f} / {dp['2ranks']['test']['accuracy']:.4f} / {dp['2threads']['test']['accuracy']:.4f}")
if "evaluations" in parts:
    def strip(r):  # the figures, without the wall times that differ
        r = dict(r); r.pop("seconds", None)
        if "metrics" in r: r["metrics"] = {k: v for k, v in r["metrics"].items() if k != "scalability"}
        return r
    print("\n| evaluation | 1 rank × 1 thread | 2 ranks × 1 thread | ratio | same result |\n|---|---:|---:|---:|---|")
    for kind, label in [("attack", "attack: PGD-10 ε 0.1, 1,000 images + masking checks"), ("shifts", "evaluate --shifts all (81 × 10,000 images)")]:
        t1, t2 = (float(open(os.path.join(out, f"{kind}-{r}.seconds")).read()) for r in ["1rank", "2ranks"])
        same = strip(load(f"{kind}-1rank.json")) == strip(load(f"{kind}-2ranks.json"))
        print(f"| {label} | {t1:.1f} s | {t2:.1f} s | {t2 / t1:.3f} | {'yes' if same else 'NO'} |")
        if kind == "attack":  # the attack's own time, without starting MPI and loading the data
            a1, a2 = load("attack-1rank.json")["seconds"], load("attack-2ranks.json")["seconds"]
            print(f"| (the attack workflow alone) | {a1:.2f} s | {a2:.2f} s | {a2 / a1:.3f} | |")
PY
