#!/usr/bin/env python3
"""Benchmark one SeedVC conversion on CPU at real widths, candle against the upstream PyTorch code, in one run.

    SEEDVC_SRC=/tmp/seed-vc-d334fb7 python tools/parity/bench_seedvc.py [--seconds 15] [--ref-seconds 5] [--steps 10]

Real widths everywhere (the preset YAML as published: DiT 512 x 13, WaveNet 512 x 8; CAM++ as `app_vc` builds
it; BigVGAN-v2 22 kHz's `config.json`; Whisper-small's encoder), seeded random f32 weights written in the real
file layout to a scratch folder, a tone-like source and reference (PCM16 values), the same injected noise on
both sides. The reference is `app_vc.voice_conversion` driven as `components/seedvc.py` drives it (f32, not
the server's fp16). The candle side is `models/examples/bench_seedvc.rs` (release build) on the same folder.
Both use their default CPU threads and run back to back; the script prints a Markdown table and the same-run
agreement of the two outputs.
"""

import argparse
import contextlib
import copy
import json
import pathlib
import subprocess
import sys
import tempfile
import time
import types

import numpy as np
import torch
import yaml
from safetensors.torch import load_file, save_file

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

from components import seedvc as case  # noqa: E402


def build_files(out: pathlib.Path, src_dir: pathlib.Path):
    from modules.commons import build_model, recursive_munch
    from modules.campplus.DTDNN import CAMPPlus
    from modules.bigvgan import bigvgan
    from modules.bigvgan.env import AttrDict
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    preset = yaml.safe_load((src_dir / "configs/presets" / case.DIT_CONFIG_FILE).read_text())
    (out / case.DIT_CONFIG_FILE).write_text(yaml.safe_dump(preset, sort_keys=False))
    params = recursive_munch(copy.deepcopy(preset["model_params"]))
    params.dit_type = "DiT"
    nets = build_model(params, stage="DiT")
    for net in nets.values():
        case._randomise(net)
    torch.save({"net": {k: net.state_dict() for k, net in nets.items()}}, out / case.DIT_FILE)

    campplus = CAMPPlus(feat_dim=80, embedding_size=192)
    case._randomise(campplus)
    torch.save({("xvector." + k if k.startswith("dense.") else k): v for k, v in campplus.state_dict().items()},
               out / case.CAMPPLUS_FILE)

    big_dir = out / case.BIGVGAN_DIR
    big_dir.mkdir(exist_ok=True)
    big_cfg = json.loads((src_dir / "modules/bigvgan/config.json").read_text())
    (big_dir / "config.json").write_text(json.dumps(big_cfg, indent=4))
    generator = bigvgan.BigVGAN(AttrDict(copy.deepcopy(big_cfg)), use_cuda_kernel=False)
    case._randomise(generator)
    with torch.no_grad():
        generator.conv_post.weight_g.mul_(0.1)
    torch.save({"generator": generator.state_dict()}, big_dir / "bigvgan_generator.pt")

    wh_dir = out / case.WHISPER_DIR
    wh_dir.mkdir(exist_ok=True)
    wh_cfg = WhisperConfig(d_model=768, encoder_layers=12, encoder_attention_heads=12, encoder_ffn_dim=3072,
                           decoder_layers=1, decoder_attention_heads=12, decoder_ffn_dim=3072,
                           num_mel_bins=80, max_source_positions=1500)
    whisper = WhisperModel(wh_cfg)
    case._randomise(whisper.encoder, std=0.1)
    wh_cfg.to_json_file(str(wh_dir / "config.json"))
    save_file({f"model.encoder.{k}": v.contiguous() for k, v in whisper.encoder.state_dict().items()},
              str(wh_dir / "model.safetensors"), metadata={"format": "pt"})
    WhisperFeatureExtractor(feature_size=80).save_pretrained(str(wh_dir))
    return preset


def run_torch(out: pathlib.Path, src_dir, preset, source, target, steps, cfg, noise):
    _, app_vc, DTDNN, _ = case._import_reference()
    from modules.bigvgan import bigvgan
    from transformers import WhisperModel

    run_preset = copy.deepcopy(preset)
    run_preset["model_params"]["vocoder"]["name"] = str(out / case.BIGVGAN_DIR)
    run_preset["model_params"]["speech_tokenizer"]["name"] = str(out / case.WHISPER_DIR)
    run_yml = out / "run.yml"
    run_yml.write_text(yaml.safe_dump(run_preset, sort_keys=False))
    orig_whisper = WhisperModel.from_pretrained.__func__
    hub_load = bigvgan.BigVGAN._from_pretrained.__func__
    queue = list(noise)
    real_randn = torch.randn
    with contextlib.ExitStack() as stack:
        stack.enter_context(case._patched(app_vc, "load_custom_model_from_hf",
                                          lambda *a, **k: str(out / case.CAMPPLUS_FILE)))
        stack.enter_context(case._patched(WhisperModel, "from_pretrained",
                                          lambda name, **k: orig_whisper(WhisperModel, name,
                                                                         **{**k, "torch_dtype": torch.float32})))
        stack.enter_context(case._patched(bigvgan.BigVGAN, "_from_pretrained", classmethod(
            lambda cls, **kw: hub_load(cls, **{"proxies": None, "resume_download": False, **kw}))))
        app_vc.device = torch.device("cpu")
        started = time.perf_counter()
        args = types.SimpleNamespace(checkpoint=str(out / case.DIT_FILE), config=str(run_yml), fp16=False, gpu=0)
        loaded = app_vc.load_models(args)
        load_s = time.perf_counter() - started
        app_vc.model, app_vc.semantic_fn, app_vc.vocoder_fn, app_vc.campplus_model, app_vc.to_mel, _ = loaded
        sr, hop = preset["preprocess_params"]["sr"], preset["preprocess_params"]["spect_params"]["hop_length"]
        app_vc.sr, app_vc.hop_length = sr, hop
        app_vc.max_context_window = sr // hop * 30
        app_vc.overlap_wave_len = app_vc.overlap_frame_len * hop
        stack.enter_context(case._patched(app_vc, "librosa", types.SimpleNamespace(load=case._read_pcm16_wav)))
        run_dir = out / "wav"
        run_dir.mkdir(exist_ok=True)
        case._write_pcm16_wav(run_dir / "source.wav", source, sr)
        case._write_pcm16_wav(run_dir / "target.wav", target, sr)
        torch.randn = lambda *a, **k: queue.pop(0).clone()
        try:
            started = time.perf_counter()
            last = None
            for _, full in app_vc.voice_conversion(str(run_dir / "source.wav"), str(run_dir / "target.wav"),
                                                   steps, 1.0, cfg):
                last = full if full is not None else last
            convert_s = time.perf_counter() - started
        finally:
            torch.randn = real_randn
    samples = last[1].astype(np.float32)
    peak = np.abs(samples).max()
    return load_s, convert_s, samples / peak if peak > 1 else samples


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--ref-seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--cfg", type=float, default=0.5)
    args = parser.parse_args()
    torch.manual_seed(0)
    src_dir, _, _, _ = case._import_reference()
    out = pathlib.Path(tempfile.mkdtemp(prefix="pb-bench-seedvc-"))
    preset = build_files(out, src_dir)
    sr, hop = preset["preprocess_params"]["sr"], preset["preprocess_params"]["spect_params"]["hop_length"]
    source = case._test_signal(int(args.seconds * sr), sr, 140.0, 0)
    target = case._test_signal(int(args.ref_seconds * sr), sr, 210.0, 1)
    t_ref, t_src = len(target) // hop, len(source) // hop
    budget = sr // hop * 30 - t_ref
    windows, p = [], 0
    while p < t_src:
        n = min(budget, t_src - p)
        windows.append(n)
        if p + budget >= t_src:
            break
        p += n - 16
    g = torch.Generator().manual_seed(1)
    noise = [torch.randn(1, 80, t_ref + n, generator=g) for n in windows]
    inputs = {"source": torch.from_numpy(source.astype(np.float32)), "target": torch.from_numpy(target.astype(np.float32))}
    inputs.update({f"z_{i}": z for i, z in enumerate(noise)})
    save_file(inputs, str(out / "inputs.safetensors"))

    t_load, t_conv, torch_out = run_torch(out, src_dir, preset, source, target, args.steps, args.cfg, noise)
    print(f"torch load_s={t_load:.3f} convert_s={t_conv:.3f}", flush=True)
    exe = ROOT / "target/release/examples/bench_seedvc"
    res = subprocess.run([str(exe), str(out), "--steps", str(args.steps), "--cfg", str(args.cfg)],
                         check=True, capture_output=True, text=True)
    print("candle", res.stdout.strip(), flush=True)
    fields = dict(kv.split("=") for kv in res.stdout.split())
    c_load, c_conv = float(fields["load_s"]), float(fields["convert_s"])
    candle_out = load_file(str(out / "candle_output.safetensors"))["output"].numpy()
    n = min(len(candle_out), len(torch_out))
    diff = float(np.abs(candle_out[:n] - torch_out[:n]).max())
    secs = len(source) / sr
    print(f"\nsource {secs:.2f} s, reference {len(target) / sr:.2f} s, {len(windows)} window(s), {args.steps} steps, "
          f"cfg {args.cfg}, torch {torch.__version__} ({torch.get_num_threads()} threads)\n")
    print("| implementation | load s | convert s | real-time factor | convert vs PyTorch |")
    print("|---|---|---|---|---|")
    print(f"| PyTorch {torch.__version__} (Plachtaa/seed-vc@d334fb7) | {t_load:.2f} | {t_conv:.2f} | {t_conv / secs:.2f} | 1.00x |")
    print(f"| candle 0.11 (promptbook-models) | {c_load:.2f} | {c_conv:.2f} | {c_conv / secs:.2f} | {c_conv / t_conv:.2f}x |")
    print(f"\nsame-run agreement: {len(candle_out)} vs {len(torch_out)} samples, max|Δ| {diff:.2e}")
    print(f"(files in {out}; delete when done)")


if __name__ == "__main__":
    main()
