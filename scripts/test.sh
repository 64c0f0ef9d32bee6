#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), builds everything, and runs the whole
# test suite. This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
swift build --build-tests   # also builds the `credence` executable the CLI tests run
swift test --skip-build
# Every fuzz target for 2 s under libFuzzer and AddressSanitizer (a build of its own in
# .build-fuzz; scripts/fuzz.sh SECONDS runs them longer): a finding fails the run.
FUZZ_OUT="$(mktemp -d)" bash scripts/fuzz.sh 2
