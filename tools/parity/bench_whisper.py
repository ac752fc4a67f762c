#!/usr/bin/env python3
"""Benchmark transcribing 15 s on CPU at real whisper-small widths, candle against HF transformers, in one run.

    /work/venv/bin/python tools/parity/bench_whisper.py [--seconds 15] [--tokens 48] [--beams 5] [--iters 3]

Random f32 weights (HF's default init; candle draws its own: only the cost is compared), the same synthetic
audio on both sides. Stages: the log-mel front end (`WhisperFeatureExtractor`, torch path), the encoder, and a
whole transcription (features + encoder + decoding) greedy and with beam search. The end token is held back
(`min_new_tokens = max_new_tokens = --tokens`; candle suppresses it) so that every decode runs the same number
of steps. The candle example (`models/examples/bench_whisper.rs`) is built in release first; the two sides run
one after the other, never concurrently, each at its default thread count. Prints a Markdown table.
"""

import argparse
import os
import pathlib
import re
import statistics
import subprocess
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent

SMALL = dict(
    vocab_size=51865, num_mel_bins=80, d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072,
    decoder_layers=12, decoder_attention_heads=12, decoder_ffn_dim=3072, max_source_positions=1500,
    max_target_positions=448, decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257,
)


def audio(seconds: int) -> np.ndarray:
    i = np.arange(seconds * 16000)
    return (0.3 * np.sin(i * 0.05) + 0.01 * ((i * 7919 % 101) - 50.0) / 50.0).astype(np.float32)


def timed(iters, fn):
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return min(times), statistics.median(times)


def bench_torch(args) -> dict:
    import transformers
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    transformers.logging.set_verbosity_error()
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(WhisperConfig(**SMALL)).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=50258, eos_token_id=50257, pad_token_id=50257, bos_token_id=50257, max_length=448,
        begin_suppress_tokens=[220, 50257], lang_to_id={"<|en|>": 50259},
        task_to_id={"transcribe": 50359, "translate": 50358}, no_timestamps_token_id=50363, is_multilingual=True,
    )
    extractor = WhisperFeatureExtractor()
    x = audio(args.seconds)

    def features():
        return extractor(x, sampling_rate=16000, return_tensors="pt").input_features

    def transcribe(beams):
        out = model.generate(
            features(), language="en", task="transcribe", num_beams=beams, do_sample=False,
            min_new_tokens=args.tokens, max_new_tokens=args.tokens,
        )
        assert out.shape[-1] == args.tokens, out.shape
        return out

    rows = {}
    with torch.inference_mode():
        transcribe(args.beams)  # warm-up
        f = features()
        rows["features"] = timed(args.iters, features)
        rows["encoder"] = timed(args.iters, lambda: float(model.model.encoder(f).last_hidden_state.sum()))
        rows["greedy"] = timed(args.iters, lambda: transcribe(1))
        rows["beam"] = timed(args.iters, lambda: transcribe(args.beams))
    return {"impl": f"transformers {transformers.__version__} (torch {torch.__version__})", "threads": torch.get_num_threads(), "rows": rows}


def bench_candle(args) -> dict:
    env = dict(os.environ)
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "promptbook-models", "--example", "bench_whisper"], cwd=ROOT, check=True, env=env)
    target = pathlib.Path(env.get("CARGO_TARGET_DIR", ROOT / "target"))
    cmd = [str(target / "release" / "examples" / "bench_whisper"), "--seconds", str(args.seconds), "--tokens", str(args.tokens)]
    cmd += ["--beams", str(args.beams), "--iters", str(args.iters)]
    out = subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True, text=True, env=env).stdout
    rows, threads = {}, 0
    for line in out.splitlines():
        if line.startswith("RESULT"):
            fields = dict(re.findall(r"(\w+)=(\S+)", line))
            rows[fields["stage"]] = (float(fields["min_ms"]), float(fields["median_ms"]))
            threads = int(fields["threads"])
    return {"impl": "candle 0.11 (promptbook-models)", "threads": threads, "rows": rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--beams", type=int, default=5)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    candle = bench_candle(args)
    reference = bench_torch(args)
    labels = {
        "features": "log-mel (30 s window)",
        "encoder": "encoder",
        "greedy": f"transcribe, greedy, {args.tokens} tokens",
        "beam": f"transcribe, beam {args.beams}, {args.tokens} tokens",
    }
    print(f"{args.seconds} s of audio, whisper-small widths, random f32 weights, CPU, {args.iters} timed runs after a warm-up\n")
    print(f"| stage | {reference['impl']} ({reference['threads']} threads) median ms | {candle['impl']} ({candle['threads']} threads) median ms | candle / reference |")
    print("|---|---|---|---|")
    for stage, label in labels.items():
        ref, ours = reference["rows"][stage][1], candle["rows"][stage][1]
        print(f"| {label} | {ref:.0f} | {ours:.0f} | {ours / ref:.2f}x |")
    print(f"\nload average at the end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
