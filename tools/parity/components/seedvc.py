"""SeedVC voice conversion parity case: the upstream `app_vc.voice_conversion` run end to end on tiny random
weights, with every module's output recorded on the way (postprocessing-spec §5).

Reference: Plachtaa/seed-vc at commit d334fb7 (the commit Scenema vendors, spec §0). It is not on PyPI: carry
the files it needs into a folder outside the repository and point `SEEDVC_SRC` at it, e.g. from a clone

    git -C seed-vc archive d334fb7 modules configs app_vc.py hf_utils.py | tar -x -C /tmp/seed-vc-d334fb7
    SEEDVC_SRC=/tmp/seed-vc-d334fb7 python tools/parity/generate.py --only seedvc --out tests/fixtures/parity

Extra packages (pinned in `requirements-seedvc.txt`): librosa (its Slaney mel basis), munch (the config), plus
librosa's own imports. `gradio`, `pydub` (mp3 previews), `dac` (vector quantiser, off in this preset) and
`matplotlib` (BigVGAN's plotting helpers) are replaced by empty stand-ins: none of them computes anything here.

How the reference is driven: `app_vc.load_models` builds everything from the case's own files (the DiT `.pth`
and its YAML, `campplus_cn_common.bin`, the BigVGAN folder, the Whisper folder): `load_custom_model_from_hf`
returns the local paths and the YAML names the local folders for the run. Then `voice_conversion` runs as the
server calls it (`length_adjust = 1.0`), with its streaming globals set as `app_vc.main` sets them, except a
small `max_context_window` (reference frames + `window_frames`) and `overlap_frame_len` (4, not 16: a middle
window must be longer than two overlaps) so that the tiny source spans a first, a middle and a last window. Deviations, all in the
config, none in the code path: everything in f32 (the server runs Whisper and the DiT in fp16); tiny widths;
the CAMPPlus dense blocks have (1, 2, 1) layers instead of (12, 24, 16) and the FCM head 8 channels instead of
32 (the Rust side reads every size from the weights); Whisper pads to 1 s instead of 30 s
(`chunk_length` in `preprocessor_config.json`, `max_source_positions` 50) so its position table stays small;
the DiT's `input_pos` buffer (16384 int64, never read: the loader skips it) is left out of the checkpoint.

Noise: `torch.randn` inside `BASECFM.inference` is replaced while the reference runs by a function handing out
pre-drawn tensors, recorded as inputs `z_0`, `z_1`, ... (one per window).

Config sections (a `--config FILE.json` gives them directly; missing sections fall back to `tiny`):
  dit       overrides of the YAML `model_params` (DiT, wavenet, length_regulator, style_encoder)
  mel       {"n_mels"}
  campplus  {"m_channels", "growth_rate", "bn_size", "init_channels", "layers"}
  bigvgan   the BigVGAN `config.json` fields that differ from the real file
  whisper   WhisperConfig fields
  case      {"source_seconds", "target_seconds", "steps", "cfg", "window_frames", "overlap_frames"}
"""

import contextlib
import copy
import functools
import io
import json
import os
import pathlib
import sys
import types
import wave

import numpy as np
import torch
import yaml

import common

SEEDVC_COMMIT = "d334fb7"
DIT_FILE = "DiT_seed_v2_uvit_whisper_small_wavenet_bigvgan_pruned.pth"
DIT_CONFIG_FILE = "config_dit_mel_seed_uvit_whisper_small_wavenet.yml"
CAMPPLUS_FILE = "campplus_cn_common.bin"
BIGVGAN_DIR = "bigvgan_v2_22khz_80band_256x"
WHISPER_DIR = "whisper-small"

BUILTIN = {
    "tiny": {
        "dit": {
            "DiT": {"hidden_dim": 16, "num_heads": 2, "depth": 3, "in_channels": 8, "content_dim": 24,
                    "content_codebook_size": 4},
            "wavenet": {"hidden_dim": 16, "num_layers": 2, "kernel_size": 5, "dilation_rate": 2},
            "length_regulator": {"channels": 24, "in_channels": 16, "sampling_ratios": [1, 1],
                                 "content_codebook_size": 4},
        },
        "mel": {"n_mels": 8},
        "campplus": {"m_channels": 8, "growth_rate": 4, "bn_size": 2, "init_channels": 8, "layers": [1, 2, 1]},
        "bigvgan": {
            "num_mels": 8,
            "upsample_rates": [8, 8, 4],
            "upsample_kernel_sizes": [16, 16, 8],
            "upsample_initial_channel": 16,
            "resblock_kernel_sizes": [3, 5],
            "resblock_dilation_sizes": [[1, 3], [2]],
        },
        "whisper": {
            "d_model": 16, "encoder_layers": 2, "encoder_attention_heads": 2, "encoder_ffn_dim": 32,
            "decoder_layers": 1, "decoder_attention_heads": 2, "decoder_ffn_dim": 32, "vocab_size": 64,
            "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 3,
            "max_source_positions": 50, "max_target_positions": 8, "num_mel_bins": 80,
        },
        "case": {"source_seconds": 0.25, "target_seconds": 0.2, "steps": 3, "cfg": 0.7, "window_frames": 10,
                 "overlap_frames": 4},
    },
}


def sections(config: dict) -> dict:
    base = copy.deepcopy(BUILTIN.get(config.get("name", "tiny"), BUILTIN["tiny"]))
    for key, value in config.items():
        if key != "name":
            base[key] = value
    return base


def _source_dir() -> pathlib.Path:
    src = os.environ.get("SEEDVC_SRC")
    if not src or not (pathlib.Path(src) / "app_vc.py").is_file():
        raise SystemExit(
            f"seedvc: set SEEDVC_SRC to a folder holding Plachtaa/seed-vc at {SEEDVC_COMMIT} "
            "(app_vc.py, hf_utils.py, modules/, configs/); see this module's docstring"
        )
    return pathlib.Path(src)


def _install_stand_ins() -> None:
    """Empty modules for imports that compute nothing on this path."""

    def module(name, **attrs):
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        sys.modules.setdefault(name, mod)
        return mod

    module("gradio")

    class AudioSegment:  # mp3 previews of each window: not compared
        def __init__(self, *args, **kwargs):
            pass

        def export(self, *args, **kwargs):
            return io.BytesIO(b"")

    module("pydub", AudioSegment=AudioSegment)
    module("dac")
    module("dac.nn")
    module("dac.nn.quantize", VectorQuantize=None)
    if "matplotlib" not in sys.modules:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            mpl = module("matplotlib", use=lambda *a, **k: None)
            mpl.pylab = module("matplotlib.pylab")


def _import_reference():
    src = _source_dir()
    _install_stand_ins()
    if str(src) not in sys.path:
        sys.path.insert(0, str(src))
    # app_vc points HF_HUB_CACHE at ./checkpoints; nothing is downloaded here.
    import app_vc
    from modules.campplus import DTDNN, layers

    return src, app_vc, DTDNN, layers


def _tiny_campplus_init(DTDNN, layers, cfg):
    """`CAMPPlus.__init__` with the upstream modules and key names at tiny widths and dense-block depths
    (installed on the upstream class while the case is built, so its `load_state_dict` remap is the real one)."""
    from collections import OrderedDict

    def __init__(self, feat_dim=80, embedding_size=192, **_):
        torch.nn.Module.__init__(self)
        config_str = "batchnorm-relu"
        self.head = DTDNN.FCM(m_channels=cfg["m_channels"], feat_dim=feat_dim)
        channels = self.head.out_channels
        self.xvector = torch.nn.Sequential(OrderedDict([
            ("tdnn", layers.TDNNLayer(channels, cfg["init_channels"], 5, stride=2, dilation=1, padding=-1,
                                      config_str=config_str)),
        ]))
        channels = cfg["init_channels"]
        growth = cfg["growth_rate"]
        for i, (num_layers, kernel_size, dilation) in enumerate(zip(cfg["layers"], (3, 3, 3), (1, 2, 2))):
            block = layers.CAMDenseTDNNBlock(num_layers=num_layers, in_channels=channels, out_channels=growth,
                                             bn_channels=cfg["bn_size"] * growth, kernel_size=kernel_size,
                                             dilation=dilation, config_str=config_str)
            self.xvector.add_module("block%d" % (i + 1), block)
            channels = channels + num_layers * growth
            self.xvector.add_module("transit%d" % (i + 1),
                                    layers.TransitLayer(channels, channels // 2, bias=False, config_str=config_str))
            channels //= 2
        self.xvector.add_module("out_nonlinear", layers.get_nonlinear(config_str, channels))
        self.stats = layers.StatsPool()
        self.dense = layers.DenseLayer(channels * 2, embedding_size, config_str="batchnorm_")

    return __init__


def _randomise(module: torch.nn.Module, std: float = 0.2) -> None:
    """Random parameters and BatchNorm statistics (the default init leaves BN as identity, hiding it), rounded to
    bf16 so that the values the reference computes with are exactly the stored ones (see `_bf16_state`)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("weight_g"):
                p.copy_(1.0 + 0.2 * torch.rand_like(p))
            elif p.ndim <= 1:
                p.copy_((1.0 if name.endswith(("weight", "gamma")) else 0.0) + std * torch.randn_like(p))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn_like(p) / fan_in ** 0.5)
        for name, b in module.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(0.1 * torch.randn_like(b))
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand_like(b))
        for name, t in _learned(module):
            t.copy_(t.to(torch.bfloat16).to(t.dtype))


def _learned(module: torch.nn.Module):
    """Parameters and BatchNorm statistics: what training produced (other buffers are computed constants)."""
    yield from module.named_parameters()
    for name, b in module.named_buffers():
        if name.endswith(("running_mean", "running_var")):
            yield name, b


def _bf16_state(module: torch.nn.Module, drop=()) -> dict:
    """The state dict with learned tensors stored as bf16 (half the bytes; the loader takes any float dtype) and
    computed buffers (timestep frequencies, anti-aliasing filters) kept in f32 as the real files have them."""
    learned = {name for name, _ in _learned(module)}
    return {k: (v.to(torch.bfloat16) if k in learned else v).contiguous()
            for k, v in module.state_dict().items() if not k.endswith(drop)}


def _write_pcm16_wav(path: pathlib.Path, samples: np.ndarray, sr: int) -> None:
    pcm = np.clip(np.rint(samples * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(pcm.tobytes())


def _read_pcm16_wav(path, sr=None, **_):
    """librosa.load for a mono PCM16 file at its own rate (soundfile divides by 32768)."""
    with wave.open(str(path), "rb") as w:
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
        rate = w.getframerate()
    if sr is not None and sr != rate:
        raise ValueError(f"{path}: {rate} Hz, the case writes {sr} Hz")
    return data.astype(np.float32) / 32768.0, rate


def _test_signal(n: int, sr: int, f0: float, seed: int) -> np.ndarray:
    """A voiced-ish tone with harmonics and a little noise, PCM16-quantised as the processor's temp WAVs are."""
    g = np.random.default_rng(seed)
    t = np.arange(n) / sr
    x = sum(0.3 / k * np.sin(2 * np.pi * f0 * k * t + g.uniform(0, 6.28)) for k in range(1, 6))
    x = x * (0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t)) + 0.01 * g.standard_normal(n)
    return np.rint(x * 32767.0) / 32768.0


def build_seedvc(config: dict, seed: int, out: pathlib.Path) -> None:
    s = sections(config)
    src_dir, app_vc, DTDNN, layers = _import_reference()
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    case = s["case"]

    # --- the DiT + length regulator checkpoint and its YAML, built by the upstream `build_model`.
    preset = yaml.safe_load((src_dir / "configs/presets" / DIT_CONFIG_FILE).read_text())
    preset["preprocess_params"]["spect_params"]["n_mels"] = s["mel"]["n_mels"]
    for group, values in s["dit"].items():
        preset["model_params"][group].update(values)
    (out / DIT_CONFIG_FILE).write_text(yaml.safe_dump(preset, sort_keys=False))

    from modules.commons import build_model, recursive_munch
    model_params = recursive_munch(copy.deepcopy(preset["model_params"]))
    model_params.dit_type = "DiT"
    nets = build_model(model_params, stage="DiT")
    for net in nets.values():
        _randomise(net)
    state = {"net": {key: _bf16_state(net, drop=("input_pos",)) for key, net in nets.items()}}
    torch.save(state, out / DIT_FILE)

    # --- CAMPPlus, saved with the original `xvector.dense.*` keys that `CAMPPlus.load_state_dict` remaps.
    tiny_init = _tiny_campplus_init(DTDNN, layers, s["campplus"])
    with _patched(DTDNN.CAMPPlus, "__init__", tiny_init):
        campplus = DTDNN.CAMPPlus(feat_dim=80, embedding_size=192)
    _randomise(campplus)
    sd = {("xvector." + k if k.startswith("dense.") else k): v for k, v in _bf16_state(campplus).items()}
    torch.save(sd, out / CAMPPLUS_FILE)

    # --- BigVGAN: config.json (the real file with the tiny sizes) + bigvgan_generator.pt (weight norm kept).
    big_dir = out / BIGVGAN_DIR
    big_dir.mkdir(exist_ok=True)
    big_cfg = json.loads((src_dir / "modules/bigvgan/config.json").read_text())
    big_cfg.update(s["bigvgan"])
    (big_dir / "config.json").write_text(json.dumps(big_cfg, indent=4) + "\n")
    from modules.bigvgan import bigvgan
    from modules.bigvgan.env import AttrDict
    generator = bigvgan.BigVGAN(AttrDict(copy.deepcopy(big_cfg)), use_cuda_kernel=False)
    _randomise(generator)
    with torch.no_grad():  # keep the tiny vocoder's output mostly inside the final clamp to [-1, 1]
        generator.conv_post.weight_g.mul_(0.1)
        generator.conv_post.weight_g.copy_(generator.conv_post.weight_g.to(torch.bfloat16).float())
    torch.save({"generator": _bf16_state(generator)}, big_dir / "bigvgan_generator.pt")

    # --- Whisper: HF layout, encoder weights only (`model.encoder.*`, as in openai/whisper-small's file).
    wh_dir = out / WHISPER_DIR
    wh_dir.mkdir(exist_ok=True)
    wh_cfg = WhisperConfig(**s["whisper"])
    whisper = WhisperModel(wh_cfg)
    _randomise(whisper.encoder, std=0.1)
    wh_cfg.to_json_file(str(wh_dir / "config.json"))
    enc_state = {f"model.encoder.{k}": v.contiguous() for k, v in whisper.encoder.state_dict().items()}
    save_file(enc_state, str(wh_dir / "model.safetensors"), metadata={"format": "pt"})
    WhisperFeatureExtractor(feature_size=80, chunk_length=1).save_pretrained(str(wh_dir))

    # --- inputs: PCM16 WAVs at 22.05 kHz, as the processor writes them.
    sr = preset["preprocess_params"]["sr"]
    hop = preset["preprocess_params"]["spect_params"]["hop_length"]
    source = _test_signal(int(case["source_seconds"] * sr), sr, 140.0, seed)
    target = _test_signal(int(case["target_seconds"] * sr), sr, 210.0, seed + 1)
    run_dir = out / ".run"
    run_dir.mkdir(exist_ok=True)
    _write_pcm16_wav(run_dir / "source.wav", source, sr)
    _write_pcm16_wav(run_dir / "target.wav", target, sr)

    # The run's YAML names the local BigVGAN and Whisper folders.
    run_preset = copy.deepcopy(preset)
    run_preset["model_params"]["vocoder"]["name"] = str(big_dir)
    run_preset["model_params"]["speech_tokenizer"]["name"] = str(wh_dir)
    (run_dir / DIT_CONFIG_FILE).write_text(yaml.safe_dump(run_preset, sort_keys=False))

    expected = {}
    noise = []
    record = {"estimator": None, "cfm": [], "vocoder": [], "semantic": [], "lr": []}

    def local_hf(repo_id, model_filename="pytorch_model.bin", config_filename=None):
        assert repo_id == "funasr/campplus", repo_id
        return str(out / CAMPPLUS_FILE)

    f32_whisper = functools.partial(WhisperModel.from_pretrained.__func__, WhisperModel)

    def whisper_f32(name, **kwargs):
        kwargs["torch_dtype"] = torch.float32
        return f32_whisper(name, **kwargs)

    def drawn_noise(*args, **kwargs):
        shape = args[0] if args else kwargs["size"]
        z = real_randn(shape, generator=noise_gen)
        noise.append(z.clone())
        return z

    noise_gen = torch.Generator().manual_seed(seed + 100)
    real_randn = torch.randn
    with contextlib.ExitStack() as stack:
        stack.enter_context(_patched(DTDNN.CAMPPlus, "__init__", tiny_init))
        stack.enter_context(_patched(app_vc, "load_custom_model_from_hf", local_hf))
        stack.enter_context(_patched(WhisperModel, "from_pretrained", whisper_f32))
        # Scenema's `SeedVC.load` patch (spec §5.1): newer huggingface_hub no longer passes these two.
        hub_load = bigvgan.BigVGAN._from_pretrained.__func__
        stack.enter_context(_patched(bigvgan.BigVGAN, "_from_pretrained", classmethod(
            lambda cls, **kw: hub_load(cls, **{"proxies": None, "resume_download": False, **kw}))))
        args = types.SimpleNamespace(checkpoint=str(out / DIT_FILE), config=str(run_dir / DIT_CONFIG_FILE),
                                     fp16=False, gpu=0)
        app_vc.device = torch.device("cpu")
        model, semantic_fn, vocoder_fn, campplus_model, to_mel, _ = app_vc.load_models(args)

        # Taps on every module, as `app_vc.main` wires the globals.
        def tap_semantic(waves_16k):
            out_ = semantic_fn(waves_16k)
            record["semantic"].append((waves_16k.clone(), out_.clone()))
            return out_

        def tap_vocoder(mel):
            wave_ = vocoder_fn(mel)
            record["vocoder"].append((mel.clone(), wave_.clone()))
            return wave_

        cfm_inference = model.cfm.inference

        def tap_cfm(mu, x_lens, prompt, style, f0, n_timesteps, temperature=1.0, inference_cfg_rate=0.5):
            y = cfm_inference(mu, x_lens, prompt, style, f0, n_timesteps, temperature, inference_cfg_rate)
            record["cfm"].append((mu.clone(), prompt.clone(), style.clone(), y.clone()))
            return y

        def tap_estimator(module, inputs, output):
            if record["estimator"] is None:
                record["estimator"] = output.clone()

        lr_forward = model.length_regulator.forward

        def tap_lr(x, ylens=None, n_quantizers=None, f0=None):
            res = lr_forward(x, ylens=ylens, n_quantizers=n_quantizers, f0=f0)
            record["lr"].append(res[0].clone())
            return res

        campplus_inputs = []
        campplus_model.register_forward_hook(lambda m, i, o: campplus_inputs.append((i[0].clone(), o.clone())))
        model.cfm.estimator.register_forward_hook(tap_estimator)
        stack.enter_context(_patched(model.cfm, "inference", tap_cfm))
        stack.enter_context(_patched(model.length_regulator, "forward", tap_lr))
        stack.enter_context(_patched(app_vc, "librosa", types.SimpleNamespace(load=_read_pcm16_wav)))
        app_vc.model, app_vc.semantic_fn, app_vc.vocoder_fn = model, tap_semantic, tap_vocoder
        app_vc.campplus_model, app_vc.to_mel = campplus_model, to_mel
        app_vc.sr, app_vc.hop_length = sr, hop
        mel_ref_frames = len(target) // hop
        app_vc.max_context_window = mel_ref_frames + case["window_frames"]
        app_vc.overlap_frame_len = case["overlap_frames"]
        app_vc.overlap_wave_len = app_vc.overlap_frame_len * hop

        torch.randn = drawn_noise
        try:
            last = None
            for _, full in app_vc.voice_conversion(str(run_dir / "source.wav"), str(run_dir / "target.wav"),
                                                   case["steps"], 1.0, case["cfg"]):
                if full is not None:
                    last = full
        finally:
            torch.randn = real_randn

        # The server's post-processing (spec §5.12): last tuple, float32, peak-normalise above 1.
        out_sr, samples = last
        samples = samples.astype(np.float32)
        peak = float(np.abs(samples).max())
        if peak > 1.0:
            samples = samples / peak

        # Module checks on fixed inputs that the run itself does not reach: the CFM without CFG.
        mu0, prompt0, style0, _ = record["cfm"][0]
        torch.randn = drawn_noise
        try:
            with torch.no_grad():
                nocfg = cfm_inference(mu0, torch.LongTensor([mu0.size(1)]), prompt0, style0, None,
                                      case["steps"], inference_cfg_rate=0.0)
        finally:
            torch.randn = real_randn

    inputs = {"source": torch.from_numpy(source.astype(np.float32)),
              "target": torch.from_numpy(target.astype(np.float32))}
    for i, z in enumerate(noise):
        inputs[f"z_{i}"] = z
    (src16k, s_alt), (ref16k, s_ori) = record["semantic"][0], record["semantic"][1]
    fbank, style = campplus_inputs[0]
    expected.update({
        "src16k": src16k[0], "ref16k": ref16k[0], "S_alt": s_alt, "S_ori": s_ori,
        "fbank": fbank[0], "style": style,
        "mel_src": to_mel(inputs["source"][None]), "mel_ref": to_mel(inputs["target"][None]),
        "cond": record["lr"][0], "prompt_cond": record["lr"][1],
        "velocity": record["estimator"], "cfm_nocfg": nocfg[:, :, prompt0.size(-1):],
        "output": torch.from_numpy(samples),
    })
    for i, (mu, prompt, _style, y) in enumerate(record["cfm"]):
        expected[f"vc_mel_{i}"] = y[:, :, prompt.size(-1):]
    for i, (_mel, wave_) in enumerate(record["vocoder"]):
        expected[f"wave_{i}"] = wave_[0]
    for path in sorted(run_dir.iterdir()):
        path.unlink()
    run_dir.rmdir()

    windows = len(record["cfm"])
    common.write_case(
        out,
        "seedvc",
        config=s,
        seed=seed,
        inputs=inputs,
        expected=expected,
        tolerance=1e-4,
        tolerances={"src16k": 1e-4, "ref16k": 1e-4, "fbank": 1e-4, "mel_src": 1e-4, "mel_ref": 1e-4},
        extra={
            "reference": f"Plachtaa/seed-vc@{SEEDVC_COMMIT} app_vc.voice_conversion",
            "dit_checkpoint": DIT_FILE,
            "dit_config": DIT_CONFIG_FILE,
            "campplus": CAMPPLUS_FILE,
            "bigvgan_dir": BIGVGAN_DIR,
            "whisper_dir": WHISPER_DIR,
            "sample_rate": out_sr,
            "steps": case["steps"],
            "cfg": case["cfg"],
            "max_context_window": app_vc.max_context_window,
            "overlap_frames": app_vc.overlap_frame_len,
            "windows": windows,
            "noise_after_run": len(noise) - windows,
        },
    )


@contextlib.contextmanager
def _patched(owner, name, value):
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


COMPONENTS = {"seedvc": build_seedvc}
