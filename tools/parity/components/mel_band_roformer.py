"""MelBandRoFormer vocal separation parity case: one forward pass and the chunked overlap-add inference.

Reference (not on PyPI): `ScenemaAI/ComfyUI-ScenemaAudio` at commit 1dc965a, the files
`vendor/mel_band_roformer/{__init__,mel_band_roformer,mel_converter}.py` (kijai/ComfyUI-MelBandRoFormer@b40e263
`model/mel_band_roformer.py` with librosa's `filters.mel` vendored) and `nodes/vocal_separator.py`
(`_chunked_inference`, the same as the S server's). Point `MELBAND_REFERENCE_DIR` at a checkout (or a
`git archive` of that commit); the sha256 of each file is checked below. Needs `rotary-embedding-torch==0.8.9`
and `einops==0.8.2` (`requirements-melband.txt`, installed with `--no-deps`).

    git clone https://github.com/ScenemaAI/ComfyUI-ScenemaAudio /tmp/scenema-comfy
    git -C /tmp/scenema-comfy checkout 1dc965a
    MELBAND_REFERENCE_DIR=/tmp/scenema-comfy python tools/parity/generate.py --config tiny \
        --only mel_band_roformer --out tests/fixtures/parity

Config sections (a `--config FILE.json` gives them directly; missing sections fall back to `tiny`):
  mel_band_roformer  `MelBandRoformer(**kwargs)` keyword arguments (the `MODEL_CONFIG` names), also written as
                     the checkpoint's `config` metadata
  case               {"samples": forward input length, "chunk_size": CHUNK_SIZE for the chunked run,
                      "chunked_samples": its input length (several chunks, a short tail)}

The weights are random (RMSNorm gammas around 1, Linear layers at torch's default init, the rotary frequencies as
the constructor computes them), rounded to fp16 and stored as fp16 under the state-dict names in
`MelBandRoformer_fp16.safetensors`, like the released file; the reference loads them back and computes in f32.
`tiny` is stereo with the real STFT shape scaled down (n_fft 128, hop 32, 8 bands at 44.1 kHz, depth 2,
mask-estimator depth 2); `tiny2` is mono at 32 kHz with a window shorter than n_fft (96/80, hop 24, 6 bands),
depth 1 with a 2-layer time transformer and a 1-layer mask estimator.

Outputs: `features` (band split, (1, T, bands, dim)), `embedded` (after the axial transformers), `vocals`
(forward, (1, channels, hop·(T−1))), `chunked` (channels, chunked_samples), and the band layout
`freq_indices` / `num_bands_per_freq` (exact).
"""

import contextlib
import hashlib
import importlib.util
import os
import pathlib
import sys

import numpy as np
import torch

import common

CHECKPOINT_FILE = "MelBandRoformer_fp16.safetensors"
REFERENCE_COMMIT = "1dc965a"
REFERENCE_FILES = {
    "nodes/vocal_separator.py": "7057f60a7510671219879a483f84cf2664936124e97ed4cb2b848999c0b67fca",
    "vendor/mel_band_roformer/__init__.py": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "vendor/mel_band_roformer/mel_band_roformer.py": "9340e80a3deeaf38d4e990bd6653e89e29be168874336f9bf5bf3d84c827700e",
    "vendor/mel_band_roformer/mel_converter.py": "eaaafabfdcc4ac099e9b9a0ab69d4d868b7adb30e2b85ffdf98b1659f7f7fa93",
}

TINY = {
    "mel_band_roformer": {
        "dim": 8, "depth": 2, "stereo": True, "num_stems": 1, "time_transformer_depth": 1,
        "freq_transformer_depth": 1, "num_bands": 8, "dim_head": 4, "heads": 2, "attn_dropout": 0,
        "ff_dropout": 0, "flash_attn": True, "dim_freqs_in": 65, "sample_rate": 44100, "stft_n_fft": 128,
        "stft_hop_length": 32, "stft_win_length": 128, "stft_normalized": False, "mask_estimator_depth": 2,
    },
    "case": {"samples": 1290, "chunk_size": 512, "chunked_samples": 1500},
}
TINY2 = {
    "mel_band_roformer": {
        "dim": 12, "depth": 1, "stereo": False, "num_stems": 1, "time_transformer_depth": 2,
        "freq_transformer_depth": 1, "num_bands": 6, "dim_head": 4, "heads": 3, "attn_dropout": 0,
        "ff_dropout": 0, "flash_attn": True, "dim_freqs_in": 49, "sample_rate": 32000, "stft_n_fft": 96,
        "stft_hop_length": 24, "stft_win_length": 80, "stft_normalized": False, "mask_estimator_depth": 1,
    },
    "case": {"samples": 1000, "chunk_size": 480, "chunked_samples": 1333},
}
CONFIGS = {"tiny": TINY, "tiny2": TINY2}


def _reference():
    """Import the pinned reference: (MelBandRoformer class, the vocal_separator module)."""
    root = os.environ.get("MELBAND_REFERENCE_DIR")
    if not root:
        raise SystemExit(f"set MELBAND_REFERENCE_DIR to a checkout of ScenemaAI/ComfyUI-ScenemaAudio@{REFERENCE_COMMIT}")
    root = pathlib.Path(root)
    for rel, want in REFERENCE_FILES.items():
        got = hashlib.sha256((root / rel).read_bytes()).hexdigest()
        if got != want:
            raise SystemExit(f"{root / rel}: sha256 {got}, expected {want} (commit {REFERENCE_COMMIT})")
    sys.path.insert(0, str(root / "vendor"))
    from mel_band_roformer.mel_band_roformer import MelBandRoformer

    spec = importlib.util.spec_from_file_location("vocal_separator", root / "nodes/vocal_separator.py")
    separator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(separator)
    return MelBandRoformer, separator


@contextlib.contextmanager
def _cpu_chunked_inference(separator, chunk_size):
    """`_chunked_inference` moves each chunk with `.cuda()`: make that a no-op, and set `CHUNK_SIZE`."""
    saved_cuda, saved_chunk = torch.Tensor.cuda, separator.CHUNK_SIZE
    torch.Tensor.cuda = lambda self, *args, **kwargs: self
    separator.CHUNK_SIZE = chunk_size
    try:
        yield
    finally:
        torch.Tensor.cuda, separator.CHUNK_SIZE = saved_cuda, saved_chunk


def _section(config, name):
    return config.get(name) or CONFIGS.get(config.get("name"), TINY)[name]


def build(config, seed, out: pathlib.Path):
    model_cls, separator = _reference()
    model_config = dict(_section(config, "mel_band_roformer"))
    case = _section(config, "case")
    model = model_cls(**model_config).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
    # fp16 on disk (a shared rotary parameter appears once per layer, as in the released file); the reference
    # then runs on exactly the stored values.
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    common.save_checkpoint(out / CHECKPOINT_FILE, state, model_config)
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)

    channels = 2 if model_config["stereo"] else 1
    audio = 0.3 * torch.randn(1, channels, case["samples"])
    long_audio = 0.3 * torch.randn(channels, case["chunked_samples"])

    captured = {}
    hooks = [
        model.band_split.register_forward_hook(lambda m, i, o: captured.__setitem__("features", o)),
        model.layers[-1][1].register_forward_hook(lambda m, i, o: captured.__setitem__("embedded", o)),
    ]
    with torch.no_grad():
        vocals = model(audio)
    for hook in hooks:
        hook.remove()
    features = captured["features"]
    embedded = captured["embedded"].reshape(features.shape)  # the freq transformer sees (b·t, f, d)

    with torch.no_grad(), _cpu_chunked_inference(separator, case["chunk_size"]):
        chunked = separator._chunked_inference(model, long_audio.numpy())

    common.write_case(
        out,
        "mel_band_roformer",
        config={"mel_band_roformer": model_config, "case": case},
        seed=seed,
        inputs={"audio": audio, "long_audio": long_audio},
        expected={
            "features": features,
            "embedded": embedded,
            "vocals": vocals,
            "chunked": torch.from_numpy(np.ascontiguousarray(chunked)),
            "freq_indices": model.freq_indices.to(torch.int64),
            "num_bands_per_freq": model.num_bands_per_freq.to(torch.int64),
        },
        # Measured (f32 CPU, torch 2.7.1 against candle): features 7e-7, embedded 2e-6, vocals and chunked 4e-8.
        tolerance=1e-6,
        tolerances={"features": 1e-5, "embedded": 2e-5, "freq_indices": 0.0, "num_bands_per_freq": 0.0},
        extra={
            "checkpoint": CHECKPOINT_FILE,
            "chunk_size": case["chunk_size"],
            "reference": f"ScenemaAI/ComfyUI-ScenemaAudio@{REFERENCE_COMMIT}",
        },
    )


COMPONENTS = {"mel_band_roformer": build}
