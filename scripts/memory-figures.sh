#!/usr/bin/env bash
# Peak memory of the long jobs (issue 14's "memory stays bounded" figures), each the command's
# own: anonymous memory (what it holds: data set, networks, predictions) and resident memory
# (with the pages of memory-mapped posteriors and sample files), with the growth a bounded
# design must not show set beside it:
#
#   ensemble  a 100-member deep ensemble of the 784-512-512-10 MLP on Fashion-MNIST (1 epoch
#             each): training it; evaluating it on the test set and MNIST as OOD; and the same
#             with the 13 strongest shifts — against the same for 10 members.
#   sampler   SGLD chains keeping 27 and 198 networks (3 and 22 epochs, every 50th iterate)
#             with sampleMemory 0.02 GiB, so all but the first 7 go to the samples file:
#             training and evaluating each.
#   bench     `credence bench fashion-mnist` (its 14 runs, ~20 minutes) — the whole command.
#
#   PARTS="ensemble sampler bench" bash scripts/memory-figures.sh [OUTDIR]   # default credence-results/memory
#
# Resumable: finished trainings are kept in OUTDIR (--resume), finished measurements in
# OUTDIR/peaks.tsv are not repeated. Release build; prints a table of MB per command.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="${1:-credence-results/memory}"
PARTS="${PARTS:-ensemble sampler bench}"
mkdir -p "$OUT"
swift build -c release --product credence >&2
C=.build/release/credence
$C doctor 2>&1 | grep -i -E "cpu|kernel" >&2 || true
PEAKS="$OUT/peaks.tsv"
touch "$PEAKS"

# measure NAME COMMAND...: runs COMMAND (stdout to OUTDIR/NAME.out) and records its peaks in MB,
# polled from /proc/PID/status every 50 ms: anonymous memory (RssAnon: what the process holds)
# and resident memory (VmHWM, the kernel's own high-water mark: with the pages of mapped files,
# which the kernel may drop and read again).
measure() {
  local name="$1"; shift
  if grep -q "^$name	" "$PEAKS"; then echo "kept: $(grep "^$name	" "$PEAKS")" >&2; return; fi
  echo "measuring $name: $*" >&2
  local start=$SECONDS
  python3 - "$OUT/$name.out" "$@" <<'PY' > "$OUT/$name.peak"
import subprocess, sys, time
peak = {"RssAnon": 0, "VmHWM": 0}
with open(sys.argv[1], "w") as out:
    child = subprocess.Popen(sys.argv[2:], stdout=out)
    while child.poll() is None:
        try:
            for line in open(f"/proc/{child.pid}/status"):
                key = line.split(":")[0]
                if key in peak:
                    peak[key] = max(peak[key], int(line.split()[1]))
        except (FileNotFoundError, ProcessLookupError):
            pass
        time.sleep(0.05)
if child.returncode != 0:
    sys.exit(f"exit status {child.returncode}: {' '.join(sys.argv[2:])}")
print(f"{peak['RssAnon'] / 1024:.0f}\t{peak['VmHWM'] / 1024:.0f}")
PY
  printf '%s\t%s\t%d\n' "$name" "$(cat "$OUT/$name.peak")" $((SECONDS - start)) >> "$PEAKS"
}

DATA=(--dataset fashion-mnist --seed 0)
for part in $PARTS; do
  case "$part" in
    ensemble)
      for members in 10 100; do
        measure "train ensemble, $members members" $C train "${DATA[@]}" --epochs 1 --method ensemble --set members=$members \
          --resume --out "$OUT/ensemble-$members.safetensors" --format json
        measure "evaluate ensemble, $members members" $C evaluate --checkpoint "$OUT/ensemble-$members.safetensors" \
          --ood mnist-5k --format json
        measure "evaluate ensemble, $members members, 13 shifts" $C evaluate --checkpoint "$OUT/ensemble-$members.safetensors" \
          --ood mnist-5k --shifts strongest --format json
      done
      ;;
    sampler)
      # 469 steps per epoch, every 50th iterate kept: 9 samples per epoch; 3, 22 epochs → 27, 198 samples.
      for epochs in 3 22; do
        measure "train SGLD, $epochs epochs" $C train "${DATA[@]}" --epochs 1 --method sgld --set burnInEpochs=0 \
          --set sampleEpochs=$epochs --set thinning=50 --set sampleMemory=0.02 --resume \
          --out "$OUT/sgld-$epochs.safetensors" --format json
        measure "evaluate SGLD, $epochs epochs" $C evaluate --checkpoint "$OUT/sgld-$epochs.safetensors" --ood mnist-5k --format json
      done
      ;;
    bench)
      measure "bench fashion-mnist (14 runs)" $C bench fashion-mnist --db "$OUT/bench.sqlite" --no-report --format json
      ;;
    *) echo "memory-figures.sh: unknown part '$part' (ensemble, sampler, bench)" >&2; exit 2 ;;
  esac
done

echo "| command | peak anonymous MB | peak resident MB | seconds |"
echo "|---|---:|---:|---:|"
awk -F'\t' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$PEAKS"
