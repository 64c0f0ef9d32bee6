#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), builds the release CLI, and runs the
# default job on the embedded synthetic data (no downloads): an MLP on two moons,
# evaluated on a held-out draw. Extra arguments go to `credence train`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
swift build -c release --product credence
.build/release/credence train --dataset two-moons --epochs 30 --out credence-results/two-moons.safetensors "$@"
