#!/usr/bin/env python3
"""Benchmark: decode 15 s of audio latent to 48 kHz on the CPU, PyTorch reference vs candle, same run.

    tools/parity/.venv/bin/python tools/parity/bench_decode.py [--seconds 15] [--threads 2] [--out tools/parity/out/bench]
        [--decoder-only --iters N]

1. Builds the real-width LTX-2.3 audio decoder and vocoder + BWE (spec §1.2 config) with seeded random weights,
   rounded to bf16 and saved with the real key names as `scenema-audio-pipeline-audio.safetensors`.
2. Times ltx-core 1.0.0 `AudioDecoder` + `VocoderWithBWE` in f32 on the CPU (`torch.set_num_threads(threads)`).
3. Runs `cargo run --release -p promptbook-models --features parity --example bench_decode -- OUT` (candle, f32, CPU) on the same
   checkpoint and latent; it times the same work, checks its output against PyTorch's and prints its numbers.
4. Prints one table with both.

`--decoder-only` times just the VAE decoder (latent -> mel), `--iters` times (median; after the warm-up) on each
side, and skips the vocoder and the streamed decode.
"""

import argparse
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

import torch

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from components import audio_vae as av  # noqa: E402
import common  # noqa: E402
from ltx_core.model.audio_vae import AudioDecoderConfigurator, VocoderConfigurator  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

# spec §1.2 (the LTX-2.3 values; the real file's metadata is expected to carry these).
REAL_CONFIG = {
    "audio_vae": av._audio_vae_section(128, [1, 2, 4], 2),
    "vocoder": {
        "vocoder": av._generator(1536, [5, 2, 2, 2, 2, 2], [11, 4, 4, 4, 4, 4], [3, 7, 11], [[1, 3, 5]] * 3),
        "bwe": av._bwe(av._generator(512, [6, 5, 2, 2, 2], [12, 11, 4, 4, 4], [3, 7, 11], [[1, 3, 5]] * 3), 512),
    },
}
LATENT_RATE_HZ = 25  # 16 kHz / hop 160 / latent downsample 4


def build(out: pathlib.Path, seed: int):
    gen = torch.Generator().manual_seed(seed)
    decoder = AudioDecoderConfigurator.from_config(REAL_CONFIG)
    decoder.per_channel_statistics = av._stats(gen)
    av._init_conv_like(decoder, gen)
    vocoder = VocoderConfigurator.from_config(REAL_CONFIG)
    av._init_conv_like(vocoder, gen)
    with torch.no_grad():
        vocoder.vocoder.conv_post.weight.mul_(0.02)
        vocoder.bwe_generator.conv_post.weight.mul_(0.02)
    bwe = REAL_CONFIG["vocoder"]["bwe"]
    av._mel_stft_buffers(vocoder, bwe, gen)
    av._round_bf16(decoder)
    av._round_bf16(vocoder)
    decoder.eval()
    vocoder.eval()
    state = decoder.state_dict()
    stats = {k.removeprefix("per_channel_statistics."): v for k, v in state.items() if k.startswith("per_channel_statistics.")}
    body = {k: v for k, v in state.items() if not k.startswith("per_channel_statistics.")}
    weights = {
        **av._bf16_state(body, "audio_vae.decoder."),
        **av._bf16_state(stats, "audio_vae.per_channel_statistics."),
        **av._bf16_state(vocoder.state_dict(), "vocoder."),
    }
    common.save_checkpoint(out / av.PIPELINE_AUDIO_FILE, weights, REAL_CONFIG)
    return decoder, vocoder, gen


def run_candle(args, *extra):
    """Run the candle example on the case in `args.out`; its `BENCH_JSON` line, or None."""
    env = dict(os.environ, RAYON_NUM_THREADS=str(args.threads))
    env.setdefault("CARGO_TARGET_DIR", str(ROOT / "target"))
    cmd = ["cargo", "run", "--release", "-q", "-p", "promptbook-models", "--features", "parity", "--example",
           "bench_decode", "--", str(args.out), *extra]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"candle bench failed ({proc.returncode})")
    for line in proc.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return json.loads(line.removeprefix("BENCH_JSON "))
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=pathlib.Path, default=HERE / "out" / "bench")
    parser.add_argument("--skip-candle", action="store_true")
    parser.add_argument("--decoder-only", action="store_true", help="time the VAE decoder only")
    parser.add_argument("--iters", type=int, default=1, help="timed decoder runs with --decoder-only (median)")
    args = parser.parse_args()
    if args.decoder_only:
        return decoder_only(args)
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    t0 = time.perf_counter()
    decoder, vocoder, gen = build(args.out, args.seed)
    build_s = time.perf_counter() - t0
    frames = int(round(args.seconds * LATENT_RATE_HZ))
    latent = torch.randn(1, 8, frames, 16, generator=gen)

    with torch.no_grad():
        # Warm-up on 1 s (allocator, oneDNN primitives).
        vocoder(decoder(latent[:, :, :LATENT_RATE_HZ]))
        t0 = time.perf_counter()
        mel = decoder(latent)
        t1 = time.perf_counter()
        wave = vocoder(mel)
        t2 = time.perf_counter()
    torch_times = {"decoder_s": t1 - t0, "vocoder_s": t2 - t1, "total_s": t2 - t0}
    audio_s = wave.shape[-1] / 48000
    peak = wave.abs().max().item()
    save_file({"latent": latent.contiguous()}, str(args.out / "inputs.safetensors"))
    save_file({"mel": mel.contiguous(), "wave": wave.contiguous()}, str(args.out / "torch_outputs.safetensors"))
    print(f"built and saved real-width random weights in {build_s:.1f} s; latent {tuple(latent.shape)} -> mel "
          f"{tuple(mel.shape)} -> wave {tuple(wave.shape)} ({audio_s:.2f} s at 48 kHz, peak {peak:.3f})")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: decoder {torch_times['decoder_s']:.2f} s, "
          f"vocoder+BWE {torch_times['vocoder_s']:.2f} s", flush=True)
    del decoder, vocoder

    candle = None if args.skip_candle else run_candle(args)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print()
    print(f"Decode {args.seconds:g} s of latent ({frames} frames) to 48 kHz stereo, f32, CPU ({cpu}, {args.threads} threads)")
    print()
    print("| stage | PyTorch (ltx-core 1.0.0) | candle | candle / PyTorch |")
    print("|---|---|---|---|")
    for key, name in [("decoder_s", "VAE decoder (latent -> mel)"), ("vocoder_s", "vocoder + BWE (mel -> 48 kHz)"), ("total_s", "total")]:
        t = torch_times[key]
        c = candle[key] if candle else math.nan
        print(f"| {name} | {t:.2f} s | {c:.2f} s | {c / t:.2f}x |")
    print(f"| real-time factor (total / {audio_s:.2f} s) | {torch_times['total_s'] / audio_s:.3f} | "
          f"{(candle['total_s'] if candle else math.nan) / audio_s:.3f} | |")
    if candle:
        print(f"| streamed (1 s latent pieces): first audio after / total | | {candle['stream_first_s']:.2f} s / "
              f"{candle['stream_total_s']:.2f} s | |")
        print()
        print(f"candle vs PyTorch at real width: mel max|Δ| {candle['mel_max_abs']:.2e}, "
              f"48 kHz wave max|Δ| {candle['wave_max_abs']:.2e}, streamed vs whole max|Δ| {candle['stream_max_abs']:.2e}")


def decoder_only(args):
    args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    decoder, vocoder, gen = build(args.out, args.seed)
    del vocoder
    frames = int(round(args.seconds * LATENT_RATE_HZ))
    latent = torch.randn(1, 8, frames, 16, generator=gen)
    times = []
    with torch.no_grad():
        decoder(latent[:, :, :LATENT_RATE_HZ])
        for _ in range(max(args.iters, 1)):
            t0 = time.perf_counter()
            mel = decoder(latent)
            times.append(time.perf_counter() - t0)
    save_file({"latent": latent.contiguous()}, str(args.out / "inputs.safetensors"))
    save_file({"mel": mel.contiguous()}, str(args.out / "torch_outputs.safetensors"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: decoder runs {', '.join(f'{t:.2f}' for t in times)} s",
          flush=True)
    del decoder
    candle = None if args.skip_candle else run_candle(args, "--decoder-only", "--iters", str(max(args.iters, 1)))
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    t = statistics.median(times)
    c = statistics.median(candle["decoder_runs_s"]) if candle else math.nan
    print()
    print(f"VAE decoder, {args.seconds:g} s of latent ({frames} frames) -> mel {tuple(mel.shape)}, f32, CPU ({cpu}, "
          f"{args.threads} threads), median of {len(times)}")
    print()
    print("| stage | PyTorch (ltx-core 1.0.0) | candle | candle / PyTorch |")
    print("|---|---|---|---|")
    print(f"| VAE decoder (latent -> mel) | {t:.2f} s | {c:.2f} s | {c / t:.2f}x |")
    if candle:
        print()
        print(f"candle vs PyTorch at real width: mel max|Δ| {candle['mel_max_abs']:.2e}")


if __name__ == "__main__":
    main()
