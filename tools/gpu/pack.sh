#!/usr/bin/env bash
# Builds what tools/gpu/device-check.sh needs on a GPU machine into tools/gpu/bundle/ (ignored by git):
# bin/bench_gpu.xz and bin/parity.xz (release, --features cuda, stripped, xz-compressed) and wheels/ (the pure-Python packages
# PyTorch's image may lack: ltx-core and the Gemma reference's transformers with its light dependencies).
# Fails when the bundle exceeds the 60 MB a device run can carry.
#
#   tools/gpu/setup-cuda.sh && tools/gpu/pack.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tools/gpu"
bundle="$here/bundle"
limit_mb="${LIMIT_MB:-60}"
[ -f "$here/.cuda/env.sh" ] || { echo "pack: run tools/gpu/setup-cuda.sh first" >&2; exit 2; }
# shellcheck disable=SC1091
source "$here/.cuda/env.sh"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target-cuda}"

(cd "$root" && cargo build --release --features cuda,parity -p promptbook-models --example bench_gpu --example parity)
rm -rf "$bundle"
mkdir -p "$bundle/bin" "$bundle/wheels"
# xz: the stripped binaries are ~60 MB each, mostly candle-kernels' PTX text, and shrink to ~6.5 MB.
# device-check.sh unpacks them with Python's lzma (no xz needed there).
for exe in bench_gpu parity; do
    cp "$CARGO_TARGET_DIR/release/examples/$exe" "$bundle/bin/$exe"
    strip "$bundle/bin/$exe"
    xz -6 -f "$bundle/bin/$exe"
done
# The GPU machine's Python version is not known in advance: the few compiled wheels come for each. The pins
# (filelock 4.3, transformers 5.12's dependencies) need Python 3.11 or newer, so 3.10 is not offered.
for py in 3.11 3.12 3.13; do
    "$here/.cuda/bin/python" -m pip download -q --no-deps --only-binary=:all: --python-version "$py" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 -d "$bundle/wheels" -r "$here/requirements-device.txt"
done
du -sh "$bundle/bin"/* "$bundle/wheels"
size_mb=$(( $(du -sk "$bundle" | cut -f1) / 1024 ))
echo "pack: bundle is $size_mb MB (limit $limit_mb MB)"
[ "$size_mb" -le "$limit_mb" ] || { echo "pack: over the limit" >&2; exit 1; }
