#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), builds the release CLI, and runs the main
# job on the embedded default: the built-in `quick` benchmark suite (two moons and 1-D
# regression, generated from seeds, so nothing is downloaded; MAP, MC dropout, ensemble,
# SWAG and Laplace, 3 seeds). Results go to credence-results/bench.sqlite and the HTML
# report to credence-results/report/index.html. Extra arguments go to `credence bench`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
swift build -c release --product credence
.build/release/credence bench quick --db credence-results/bench.sqlite "$@"
