#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), builds everything, and runs the whole
# test suite. This is the command CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
swift build --build-tests   # also builds the `credence` executable the CLI tests run
swift test --skip-build
