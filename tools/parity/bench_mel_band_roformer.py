#!/usr/bin/env python3
"""Benchmark MelBandRoFormer separation on CPU, candle against the PyTorch reference, in one run.

    MELBAND_REFERENCE_DIR=/tmp/scenema-comfy tools/parity/.venv/bin/python tools/parity/bench_mel_band_roformer.py \
        [--seconds 60] [--threads 2] [--out tools/parity/out/bench_melband]

Real widths (`MODEL_CONFIG`: dim 384, depth 6, 8 heads x 64, 60 bands, mask-estimator depth 2, STFT 2048/441),
random weights (torch's default init, RMSNorm gammas at 1) rounded to fp16 and saved under the released file's
name and key names; both sides compute in f32 from exactly those values. The input is `--seconds` of 44.1 kHz
stereo noise; both sides run the reference's chunked overlap-add inference (`_chunked_inference` of
`ScenemaAI/ComfyUI-ScenemaAudio@1dc965a` for PyTorch, `mel_band_roformer::chunked_inference` for candle: 8 s
chunks, overlap 2). PyTorch is timed first, then the candle example (`models/examples/bench_separate.rs`, release
build) is run on the same files, never concurrently, and the outputs are compared. The weights file (~450 MB) is
deleted at the end unless `--keep`.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from components.mel_band_roformer import CHECKPOINT_FILE, _cpu_chunked_inference, _reference  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "out" / "bench_melband")
    parser.add_argument("--keep", action="store_true", help="keep the weights file")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    model_cls, separator = _reference()
    config = dict(separator.MODEL_CONFIG)
    model = model_cls(**config).eval()
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    weights = args.out / CHECKPOINT_FILE
    save_file(state, str(weights))
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    params = sum(p.numel() for p in model.parameters())

    samples = int(round(args.seconds * separator.MELBAND_SR))
    audio = 0.3 * torch.randn(2, samples)
    save_file({"audio": audio.contiguous()}, str(args.out / "inputs.safetensors"))

    with torch.inference_mode(), _cpu_chunked_inference(separator, separator.CHUNK_SIZE):
        model(audio[None, :, : separator.CHUNK_SIZE])  # warm-up: one chunk
        t0 = time.perf_counter()
        vocals = separator._chunked_inference(model, audio.numpy())
        torch_s = time.perf_counter() - t0
    save_file({"vocals": torch.from_numpy(vocals).contiguous()}, str(args.out / "torch_outputs.safetensors"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: {torch_s:.1f} s "
          f"({params / 1e6:.1f} M parameters)", flush=True)
    del model

    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target"))
    cmd = ["cargo", "run", "--release", "-q", "-p", "promptbook-models", "--example", "bench_separate", "--", str(args.out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"candle bench failed ({proc.returncode})")
    candle = next(json.loads(l.removeprefix("BENCH_JSON ")) for l in proc.stdout.splitlines() if l.startswith("BENCH_JSON "))
    if not args.keep:
        weights.unlink()

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    chunks = -(-samples // (separator.CHUNK_SIZE - separator.CHUNK_SIZE // separator.OVERLAP_FACTOR))
    print()
    print(f"Separate {args.seconds:g} s of 44.1 kHz stereo ({chunks} chunks of 8 s), f32, CPU ({cpu}, {args.threads} threads)")
    print()
    print("| implementation | threads | total s | per chunk s | real-time factor | time vs PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, threads, total in [
        (f"PyTorch {torch.__version__} (ComfyUI-ScenemaAudio@1dc965a)", torch.get_num_threads(), torch_s),
        ("candle 0.11 (promptbook-models)", candle["threads"], candle["total_s"]),
    ]:
        print(f"| {name} | {threads} | {total:.1f} | {total / chunks:.2f} | {total / args.seconds:.2f} | {total / torch_s:.2f}x |")
    print()
    print(f"candle vs PyTorch at real width: vocals max|Δ| {candle['max_abs']:.2e} (peak {candle['peak']:.2f}); "
          f"candle load {candle['load_s']:.1f} s")


if __name__ == "__main__":
    main()
