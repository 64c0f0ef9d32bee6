#!/usr/bin/env bash
# Coverage-guided fuzzing of every reader of untrusted input (issue 14) with libFuzzer:
# safetensors, checkpoints, posterior archives, .npy, IDX, gzip, CSV/TSV, suites (JSON and
# YAML), stored run records and certify results — `FuzzTarget` in Sources/CredenceFuzzing
# says what each checks beyond "no crash".
#
#   bash scripts/fuzz.sh [SECONDS] [TARGET ...]     # default: 60 s per target, every target
#   FUZZ_OUT=DIR bash scripts/fuzz.sh ...           # results in DIR instead of credence-results/fuzz
#
# Builds `credence-fuzz` with libFuzzer's instrumentation and AddressSanitizer in .build-fuzz/
# (libFuzzer from the Swift toolchain's clang runtime), then runs each target for SECONDS, starting
# from the committed seeds in Fuzz/corpus/TARGET (read only) and keeping what it finds in
# credence-results/fuzz/corpus/TARGET. A single allocation over 2 GiB counts as a finding
# (an input that makes a reader allocate more than it holds). The inputs of findings (crash,
# oom, timeout; and slow units, over 10 s, which are reported but do not fail the run) are
# saved as credence-results/fuzz/finding-TARGET-*; replay one with any build:
#   .build/debug/credence-fuzz TARGET credence-results/fuzz/finding-TARGET-...
# Prints a table: executions, executions per second, corpus size and findings per target;
# exits 1 when there is a finding. The test command runs every target for 2 s this way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SECONDS_EACH="${1:-60}"
shift || true
OUT="${FUZZ_OUT:-credence-results/fuzz}"   # where corpora, logs and findings go
mkdir -p "$OUT"
# The frontend's -sanitize=fuzzer instruments for libFuzzer (8-bit counters, PC table,
# comparisons) without the driver linking libFuzzer's main: credence-fuzz has its own, which
# calls LLVMFuzzerRunDriver from libFuzzer's no-main runtime (kept and exported by the linker).
RUNTIME="$(swiftc -print-target-info | python3 -c 'import json, sys; print(json.load(sys.stdin)["paths"]["runtimeResourcePath"])')/clang/lib/linux"
[ -f "$RUNTIME/libclang_rt.fuzzer_no_main-x86_64.a" ] || { echo "fuzz.sh: no libFuzzer in $RUNTIME (the Swift toolchain ships it)" >&2; exit 1; }
swift build --scratch-path .build-fuzz --product credence-fuzz \
  -Xswiftc -sanitize=address -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer \
  -Xlinker --undefined=LLVMFuzzerRunDriver -Xlinker "$RUNTIME/libclang_rt.fuzzer_no_main-x86_64.a" \
  -Xlinker --export-dynamic -Xlinker -lstdc++ 2>&1 | grep -v "Cannot export local symbol" >&2
FUZZ=.build-fuzz/debug/credence-fuzz
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || mapfile -t TARGETS < <("$FUZZ" --list)

for T in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus/$T"
  echo "fuzzing $T for $SECONDS_EACH s" >&2
  SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 "$FUZZ" "$T" -max_total_time="$SECONDS_EACH" -rss_limit_mb=6144 -malloc_limit_mb=2048 \
    -timeout=30 -print_final_stats=1 -artifact_prefix="$OUT/finding-$T-" "$OUT/corpus/$T" "Fuzz/corpus/$T" \
    > "$OUT/$T.log" 2>&1 || true
done

python3 - "$OUT" "${TARGETS[@]}" <<'PY'
import glob, os, re, sys
out, targets = sys.argv[1], sys.argv[2:]
print("| target | executions | exec/s | corpus | findings |\n|---|---:|---:|---:|---|")
found = 0
for t in targets:
    log = open(os.path.join(out, f"{t}.log"), errors="replace").read()
    stat = lambda name: (re.findall(rf"stat::{name}:\s+(\d+)", log) or ["?"])[-1]
    corpus = len(os.listdir(os.path.join(out, "corpus", t)))
    saved = sorted(glob.glob(os.path.join(out, f"finding-{t}-*")))
    findings = [f for f in saved if "-slow-unit-" not in f]   # slow units are reported, not failures
    found += len(findings)
    finding = "; ".join(os.path.basename(f) for f in saved) or "0"
    print(f"| {t} | {stat('number_of_executed_units')} | {stat('average_exec_per_sec')} | {corpus} | {finding} |")
sys.exit(1 if found else 0)
PY
