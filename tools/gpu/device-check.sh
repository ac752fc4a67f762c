#!/usr/bin/env bash
# One run on a GPU machine that says everything (issue 19): parity on CUDA (the f32 and bf16 cases), full-size
# random-weight timings of candle against the PyTorch reference on the same GPU, peak GPU memory per stage.
#
#   tools/gpu/device-check.sh              # on the GPU machine, with tools/gpu/bundle/ made by pack.sh
#   tools/gpu/device-check.sh --dry-run    # here, on the CPU: tiny dims, the same steps and tables
#
# Options: --gemma-layers N (build N of Gemma's 48 layers and extrapolate; default all), --budget S (stop
# starting new steps after S seconds; default 420), --out DIR (default $OUT or /tmp/device-check).
# Writes DIR/report.md (everything printed), DIR/rows.jsonl (the raw rows). Exit status 1 when a parity
# case or a bench stage failed, 2 when something needed is missing.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/tools/gpu"
dry_run=0
gemma_layers=""
budget=420
out="${OUT:-/tmp/device-check}"
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --gemma-layers) gemma_layers="$2"; shift ;;
        --budget) budget="$2"; shift ;;
        --out) out="$2"; shift ;;
        *) echo "device-check: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$out"
report="$out/report.md"
rows="$out/rows.jsonl"
: >"$report"
: >"$rows"
start=$SECONDS
failed=0
export RUST_BACKTRACE=0

say() { echo "$@" | tee -a "$report"; }
elapsed() { echo $((SECONDS - start)); }
over_budget() { [ "$(elapsed)" -ge "$budget" ]; }

if [ "$dry_run" = 1 ]; then
    # candle's CPU backend has no bf16 matmul inside conv2d, so the CPU benches run in f32.
    device=cpu; bench_dtype=f32; dims=tiny
    python="${PYTHON:-/work/venv/bin/python}"
    [ -x "$python" ] || python=python3
    (cd "$root" && cargo build -q -p promptbook-models --features parity --example bench_gpu --example parity) || exit 2
    bin="${CARGO_TARGET_DIR:-$root/target}/debug/examples"
else
    device=cuda; bench_dtype=bf16; dims=full
    python="${PYTHON:-python3}"
    packed="$here/bundle/bin"
    [ -f "$packed/bench_gpu.xz" ] && [ -f "$packed/parity.xz" ] || {
        echo "device-check: $packed/{bench_gpu,parity}.xz missing: run tools/gpu/pack.sh on the build machine" >&2
        exit 2
    }
    # Unpacked outside $out, so the 260 MB of binaries are not sent back with the report.
    bin="$(mktemp -d /tmp/device-check-bin.XXXXXX)"
    trap 'rm -rf "$bin"' EXIT
    for exe in bench_gpu parity; do
        "$python" -c 'import lzma, shutil, sys
with lzma.open(sys.argv[1]) as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)' "$packed/$exe.xz" "$bin/$exe" && chmod +x "$bin/$exe" || {
            echo "device-check: could not unpack $packed/$exe.xz" >&2
            exit 2
        }
    done
    # The CUDA libraries the binaries link: the system toolkit's, or the nvidia-* wheels beside PyTorch.
    libdirs="$("$python" - <<'EOF' 2>/dev/null
import glob, os
dirs = []
try:
    import nvidia
    for base in nvidia.__path__:
        dirs += sorted(glob.glob(os.path.join(base, "*", "lib")) + glob.glob(os.path.join(base, "cu13", "lib")))
except ImportError:
    pass
print(":".join(dict.fromkeys(dirs)))
EOF
)"
    for d in /usr/local/cuda/lib64 /usr/local/cuda/targets/x86_64-linux/lib; do
        [ -d "$d" ] && libdirs="$libdirs:$d"
    done
    export LD_LIBRARY_PATH="${libdirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    missing="$(ldd "$bin/bench_gpu" | grep 'not found' || true)"
    if [ -n "$missing" ]; then
        echo "device-check: libraries not found (searched $LD_LIBRARY_PATH):" >&2
        echo "$missing" >&2
        exit 2
    fi
    # Pure-Python packages PyTorch's image may lack, installed offline from the bundle (never over
    # what is there).
    pydeps="$out/.pydeps"
    mkdir -p "$pydeps"
    while read -r module requirement; do
        [ -z "$module" ] && continue
        if ! "$python" -c "import $module" 2>/dev/null; then
            if "$python" -m pip install -q --no-index --no-deps --find-links "$here/bundle/wheels" \
                --target "$pydeps" "$requirement" 2>>"$out/pip.log"; then
                say "- installed $requirement from the bundle (this machine has no $module)"
            else
                say "- could not install $requirement from the bundle (see $out/pip.log)"
            fi
        fi
    done <<'EOF'
einops einops
ltx_core ltx-core
safetensors safetensors
huggingface_hub huggingface_hub
transformers transformers
tokenizers tokenizers
yaml PyYAML
regex regex
tqdm tqdm
filelock filelock
packaging packaging
fsspec fsspec
hf_xet hf-xet
httpx httpx
httpcore httpcore
h11 h11
anyio anyio
idna idna
certifi certifi
typing_extensions typing_extensions
click click
typer typer
shellingham shellingham
EOF
    export PYTHONPATH="$pydeps${PYTHONPATH:+:$PYTHONPATH}"
fi

say "# device check ($([ "$dry_run" = 1 ] && echo "dry run, CPU, tiny dims" || echo "GPU, full dims"))"
say
say "- date: $(date -u +%Y-%m-%dT%H:%MZ), host: $(uname -n), $(nproc) CPUs"
if command -v nvidia-smi >/dev/null; then
    say "- GPU: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
fi
say "- $("$python" -c 'import torch; print("PyTorch", torch.__version__, "CUDA", torch.version.cuda, "available:", torch.cuda.is_available())' 2>&1 | tail -n 1)"
say "- candle binaries: $bin"
say

# 1. Parity on the device: every committed case in its own dtype (the f32 cases and the bf16 cases,
#    whose expectations the reference computed in bf16).
say "## parity on $device"
say
say '```'
timeout 240 "$bin/parity" --device "$device" "$root/tests/fixtures/parity" >"$out/parity.txt" 2>&1
status=$?
tee -a "$report" <"$out/parity.txt" >/dev/null
cat "$out/parity.txt"
say '```'
say
if [ "$status" != 0 ]; then
    failed=1
    say "parity: FAILED (exit $status)"
    say
fi

# 2. + 3. Timings, candle then PyTorch, one process per group so each stage's memory starts clean.
extra=()
[ -n "$gemma_layers" ] && extra=(--gemma-layers "$gemma_layers")
for group in gemma step,sampler step_int8 decode e2e; do
    if over_budget; then
        say "skipped $group: $(elapsed) s used of the $budget s budget"
        failed=1
        continue
    fi
    say "## $group ($(elapsed) s in)"
    timeout 200 "$bin/bench_gpu" --device "$device" --dtype "$bench_dtype" --dims "$dims" --stages "$group" "${extra[@]}" \
        >"$out/candle-$group.txt" 2>&1 || failed=1
    grep '^ROW ' "$out/candle-$group.txt" >>"$rows"
    grep -v '^ROW ' "$out/candle-$group.txt" | tee -a "$report"
    timeout 200 "$python" "$here/bench_torch.py" --device "$device" --dtype "$bench_dtype" --dims "$dims" --stages "$group" "${extra[@]}" \
        >"$out/torch-$group.txt" 2>&1 || failed=1
    grep '^ROW ' "$out/torch-$group.txt" >>"$rows"
    grep -v '^ROW ' "$out/torch-$group.txt" | tee -a "$report"
done

say
say "## candle / PyTorch ($device, $bench_dtype weights, vocoder f32, $dims dims)"
say
"$python" "$here/report.py" "$rows" | tee -a "$report"
[ "${PIPESTATUS[0]}" = 0 ] || failed=1
say
say "total $(elapsed) s; report in $report"
exit "$failed"
