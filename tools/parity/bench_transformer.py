#!/usr/bin/env python3
"""Benchmark one X0 transformer forward on CPU, candle against the PyTorch reference, in one run.

    tools/parity/.venv/bin/python tools/parity/bench_transformer.py [--iters 3] [--tokens 376] [--text 1024] [--layers 2]

Mid-size config (issue 3 "Measure"): real audio width 2048 (32 heads x 64), 2 layers, 376 audio tokens
(15 s), 1024 text tokens, random f32 weights, σ = 0.909375, no reference tokens. The reference is ltx-core
1.0.0's X0Model with Scenema's audio-only block forward (our `components.diffusion` patch). Both sides use
their default CPU thread count; the script builds the candle example first, then times each side in turn
(never concurrently) and prints a Markdown table.
"""

import argparse
import os
import pathlib
import re
import statistics
import subprocess
import sys
import time

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from components.diffusion import TINY_TRANSFORMER, _audio_only_blocks, _modality, _positions  # noqa: E402
from ltx_core.model.transformer.model import X0Model  # noqa: E402
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator  # noqa: E402


def bench_torch(args) -> dict:
    config = dict(TINY_TRANSFORMER)
    config.update(
        num_layers=args.layers,
        audio_num_attention_heads=32,
        audio_attention_head_dim=64,
        audio_cross_attention_dim=2048,
    )
    torch.manual_seed(0)
    model = LTXModelConfigurator.from_config({"transformer": config}).float()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    x0model = X0Model(model).eval()

    latent = torch.randn(1, args.tokens, 128)
    mask = torch.ones(1, args.tokens, 1)
    context = torch.randn(1, args.text, 2048)
    positions = _positions(args.tokens)
    sigma = torch.tensor(0.909375)
    modality = _modality(latent, mask, sigma, positions, context)

    times = []
    with torch.inference_mode(), _audio_only_blocks():
        x0model(video=None, audio=modality, perturbations=None)  # warm-up
        for _ in range(args.iters):
            start = time.perf_counter()
            _, x0 = x0model(video=None, audio=modality, perturbations=None)
            float(x0.sum())
            times.append((time.perf_counter() - start) * 1e3)
    return {"impl": "PyTorch " + torch.__version__, "threads": torch.get_num_threads(), "times": times}


def bench_candle(args) -> dict:
    env = dict(os.environ)
    build = ["cargo", "build", "--release", "-q", "-p", "promptbook-models", "--example", "bench_transformer"]
    subprocess.run(build, cwd=ROOT, check=True, env=env)
    target = pathlib.Path(env.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target / "release" / "examples" / "bench_transformer"
    cmd = [str(binary), "--iters", str(args.iters), "--tokens", str(args.tokens), "--text", str(args.text)]
    cmd += ["--layers", str(args.layers)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, env=env).stdout
    line = next(l for l in out.splitlines() if l.startswith("RESULT"))
    fields = dict(re.findall(r"(\w+)=(\S+)", line))
    return {
        "impl": "candle 0.11 (promptbook-models)",
        "threads": int(fields["threads"]),
        "min": float(fields["min_ms"]),
        "median": float(fields["median_ms"]),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=376)
    parser.add_argument("--text", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=2)
    args = parser.parse_args()

    candle = bench_candle(args)
    torch_result = bench_torch(args)
    torch_result["min"] = min(torch_result["times"])
    torch_result["median"] = statistics.median(torch_result["times"])

    print(
        f"One X0 transformer forward, f32 CPU: width 2048 (32x64), {args.layers} layers, "
        f"{args.tokens} audio tokens, {args.text} text tokens; {args.iters} timed runs after 1 warm-up; "
        f"{os.cpu_count()} CPUs"
    )
    print()
    print("| implementation | threads | min ms | median ms | time vs PyTorch (median) |")
    print("|---|---|---|---|---|")
    for r in (torch_result, candle):
        ratio = r["median"] / torch_result["median"]
        print(f"| {r['impl']} | {r['threads']} | {r['min']:.0f} | {r['median']:.0f} | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
