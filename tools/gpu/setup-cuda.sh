#!/usr/bin/env bash
# Installs a CUDA 13.0 toolkit from PyPI wheels into a venv of its own, so that
# `cargo build --release --features cuda` builds on a machine without a system CUDA (and without a GPU).
#
#   tools/gpu/setup-cuda.sh [DIR]        # default DIR: tools/gpu/.cuda (ignored by git)
#   source DIR/env.sh                    # the exports it prints at the end
#   cargo build --release --features cuda
#
# Every nvidia-* wheel is pinned to one 13.0 release and installed with --no-deps (see
# requirements-cuda.txt: an unpinned nvidia-nvvm pulls 13.5, whose PTX the 13.0 ptxas rejects).
# The wheels ship no libcuda.so (that comes with the driver), so a link-time stub is generated
# from cuda.h; it is only on the linker's search path, never on LD_LIBRARY_PATH.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-$here/.cuda}"
python="${PYTHON:-python3}"

need() { command -v "$1" >/dev/null || { echo "setup-cuda: '$1' is needed but not found ($2)" >&2; exit 2; }; }
need "$python" "Python 3.9 or newer with the venv module"
need gcc "nvcc's host compiler and the stub's compiler: apt-get install build-essential"

if [ ! -x "$dir/bin/python" ]; then
    "$python" -m venv "$dir"
fi
"$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$here/requirements-cuda.txt"

root="$("$dir/bin/python" - <<'EOF'
import pathlib, sysconfig
print(pathlib.Path(sysconfig.get_paths()["purelib"]) / "nvidia" / "cu13")
EOF
)"
[ -x "$root/bin/nvcc" ] || { echo "setup-cuda: no nvcc under $root after the install" >&2; exit 1; }

# Every installed nvidia-* wheel must be the pinned one (a stray newer nvvm is the trap above).
"$dir/bin/python" - "$here/requirements-cuda.txt" <<'EOF'
import sys
from importlib import metadata
pins = {}
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, version = line.split("==")
        pins[name.lower()] = version
bad = []
for dist in metadata.distributions():
    name = dist.metadata["Name"].lower()
    if name.startswith("nvidia-") and pins.get(name) != dist.version:
        bad.append(f"{name}=={dist.version} (pinned: {pins.get(name, 'not pinned')})")
missing = sorted(set(pins) - {d.metadata["Name"].lower() for d in metadata.distributions()})
if bad or missing:
    sys.exit("setup-cuda: wheels do not match requirements-cuda.txt: " + ", ".join(bad + missing))
EOF

# The linker wants unversioned names; the wheels ship only the sonames.
for lib in cudart cublas cublasLt curand nvrtc; do
    so="$(cd "$root/lib" && ls "lib$lib.so."* 2>/dev/null | grep -v alt | head -n 1)"
    [ -n "$so" ] || { echo "setup-cuda: lib$lib.so.* missing under $root/lib" >&2; exit 1; }
    ln -sf "$so" "$root/lib/lib$lib.so"
done

# Link-time stub of the driver library: one empty function per cu* entry point of cuda.h, soname
# libcuda.so.1, so the binary binds to the real driver at run time.
mkdir -p "$root/lib/stubs"
gcc -E -P -I"$root/include" "$root/include/cuda.h" \
    | grep -oE '\bcu[A-Z][A-Za-z0-9_]*[[:space:]]*\(' | tr -d ' (' | sort -u \
    | sed 's/.*/void &(void) {}/' >"$root/lib/stubs/libcuda_stub.c"
gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$root/lib/stubs/libcuda.so" "$root/lib/stubs/libcuda_stub.c"

# The PTX trap, checked: cicc (nvvm) and ptxas must agree on the PTX version.
probe="$(mktemp -d)"
trap 'rm -rf "$probe"' EXIT
printf '__global__ void probe(float *x) { x[threadIdx.x] *= 2.0f; }\n' >"$probe/probe.cu"
PATH="$root/bin:$PATH" nvcc --ptx -arch=compute_90 -o "$probe/probe.ptx" "$probe/probe.cu"
PATH="$root/bin:$PATH" ptxas -arch=sm_90 -o "$probe/probe.cubin" "$probe/probe.ptx"
ptx_version="$(grep -m1 '^\.version' "$probe/probe.ptx" | awk '{print $2}')"

cat >"$dir/env.sh" <<EOF
# CUDA 13.0 from PyPI wheels (tools/gpu/setup-cuda.sh). Source this before a --features cuda build.
export CUDA_ROOT="$root"
export CUDA_PATH="$root"
export CUDA_HOME="$root"
export PATH="$root/bin:\$PATH"
export LD_LIBRARY_PATH="$root/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
# H100 / H200; nothing can query a GPU on a build machine.
export CUDA_COMPUTE_CAP="\${CUDA_COMPUTE_CAP:-90}"
EOF

echo "setup-cuda: $("$root/bin/nvcc" --version | grep release), PTX .version $ptx_version assembles with ptxas"
echo "setup-cuda: run these (or: source $dir/env.sh):"
grep '^export' "$dir/env.sh"
