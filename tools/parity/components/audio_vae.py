"""Audio VAE decoder, vocoder + bandwidth extension, and VAE encoder (with its log-mel front end) parity cases.

Reference: ltx-core 1.0.0 `ltx_core.model.audio_vae` (ltx-audio-spec §6; §0.3: the only [P]/[V] difference on this
path is the vocoder's f32 autocast, a no-op for f32 cases). The encoder case follows the ComfyUI "VAE Encode" node
of Scenema ([C] nodes/vae_encode.py): resample to 16 kHz with torchaudio, keep the first `max_seconds` (hard cap
20 s), duplicate mono to stereo, then `encode_audio`.

Config sections (a `--config FILE.json` gives them directly; missing sections fall back to `tiny`):
  audio_vae  the checkpoint's `config["audio_vae"]` (upstream LTX layout: model.params.ddconfig, preprocessing)
  vocoder    the checkpoint's `config["vocoder"]` ({"vocoder": {...}, "bwe": {...}})
  case       {"latent_frames", "mel_frames", "ref_sample_rate", "ref_channels", "ref_seconds", "max_seconds"}

Deviations from spec §8.1, to keep the committed cases small (they change no code path):
  * `ch` is 8, not 128. §8.1 keeps 128 only because the Python constructor sizes `per_channel_statistics`
    from `ch`; we replace that module with one of size z_channels * 16 = 128 (what the latent needs).
  * The BWE `n_fft` is 128/112, not 512 (its STFT basis alone would be 1 MB per case); the STFT code path is
    the same for any n_fft.
  * Weights are rounded to bf16 and stored as bf16, like the real checkpoints; both sides compute in f32.

Components (one case directory each):
  audio_vae_decoder  latent (1, 8, T, 16) -> log-mel (1, 2, 4T-3, 64)
  vocoder_bwe        log-mel (1, 2, M, 64) -> 16 kHz `x16`, BWE log-mel `bwe_mel`, 48 kHz `wave`
  audio_vae_encoder  waveform (C, N) at `ref_sample_rate` -> `wav16` (1, 2, N16), `logmel`, `latent`

Each also has a bf16 case (`dtype="bf16"`, see `common.reuse_base`), as production runs it (spec §1.5): the
decoder and the encoder network in bf16 (the encoder's mel front end stays f32, `encode_audio` casts its
output); the vocoder + BWE computes in f32 on the decoder's bf16 mel, as Scenema's autocast does ([V]; 1.0.0
would compute in the weights' dtype, which no front end runs).
"""

import copy
import math
import pathlib

import torch
import torchaudio

import common
from ltx_core.model.audio_vae import AudioDecoderConfigurator, AudioEncoderConfigurator, VocoderConfigurator
from ltx_core.model.audio_vae.audio_vae import encode_audio
from ltx_core.model.audio_vae.ops import AudioProcessor, PerChannelStatistics
from ltx_core.types import Audio

PIPELINE_AUDIO_FILE = "scenema-audio-pipeline-audio.safetensors"
ENCODER_FILE = "scenema-audio-vae-encoder.safetensors"
# [C] nodes/vae_encode.py MAX_REF_CAP_SECONDS.
MAX_REF_CAP_SECONDS = 20.0
LATENT_CHANNELS = 8
LATENT_MEL_BINS = 16


def _audio_vae_section(ch, ch_mult, num_res_blocks):
    return {
        "model": {
            "params": {
                "ddconfig": {
                    "ch": ch,
                    "ch_mult": ch_mult,
                    "num_res_blocks": num_res_blocks,
                    "z_channels": LATENT_CHANNELS,
                    "double_z": True,
                    "in_channels": 2,
                    "out_ch": 2,
                    "mel_bins": 64,
                    "resolution": 256,
                    "attn_resolutions": [],
                    "mid_block_add_attention": False,
                    "norm_type": "pixel",
                    "causality_axis": "height",
                    "dropout": 0.0,
                },
                "sampling_rate": 16000,
            }
        },
        "preprocessing": {
            "audio": {"sampling_rate": 16000},
            "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": True},
            "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000},
        },
    }


def _generator(channels, rates, kernels, res_kernels, dilations, **extra):
    return {
        "upsample_initial_channel": channels,
        "upsample_rates": rates,
        "upsample_kernel_sizes": kernels,
        "resblock_kernel_sizes": res_kernels,
        "resblock_dilation_sizes": dilations,
        "resblock": "AMP1",
        "activation": "snakebeta",
        "use_tanh_at_final": False,
        "use_bias_at_final": False,
        "stereo": True,
        **extra,
    }


def _bwe(generator, n_fft):
    return {
        **generator,
        "apply_final_activation": False,
        "input_sampling_rate": 16000,
        "output_sampling_rate": 48000,
        "hop_length": 80,
        "n_fft": n_fft,
        "win_size": n_fft,
        "num_mels": 64,
    }


BUILTIN = {
    # spec §8.1 (with the deviations in the module docstring).
    "tiny": {
        "audio_vae": _audio_vae_section(8, [1, 1, 2], 1),
        "vocoder": {
            "vocoder": _generator(16, [4, 4, 10], [8, 8, 20], [3, 7], [[1, 3, 5], [1, 3, 5]]),
            "bwe": _bwe(_generator(16, [6, 5, 8], [12, 11, 16], [3, 7], [[1, 3, 5], [1, 3, 5]]), 128),
        },
        "case": {
            "latent_frames": 10,
            "mel_frames": 12,
            "ref_sample_rate": 48000,
            "ref_channels": 1,
            "ref_seconds": 0.3,
            "max_seconds": 0.25,
        },
    },
    # Other widths/depths: 3 resnet blocks per decoder level (as the real model), 3 AMP resblocks per stage
    # (as the real model), other rates, kernels and dilations, another n_fft, the tanh and conv_post bias
    # branches, a 44.1 kHz stereo reference (general rational resampler 441 -> 160).
    "tiny2": {
        "audio_vae": _audio_vae_section(8, [1, 2, 2], 2),
        "vocoder": {
            "vocoder": _generator(
                16, [5, 4, 8], [11, 8, 16], [3, 5, 7], [[1, 3, 5], [1, 2, 4], [1, 3, 5]], use_tanh_at_final=True
            ),
            "bwe": _bwe(
                _generator(16, [5, 6, 8], [11, 12, 16], [3, 5], [[1, 2, 4], [1, 3, 5]], use_bias_at_final=True), 112
            ),
        },
        "case": {
            "latent_frames": 8,
            "mel_frames": 10,
            "ref_sample_rate": 44100,
            "ref_channels": 2,
            "ref_seconds": 0.25,
            "max_seconds": 0.2,
        },
    },
}


def sections(config: dict) -> dict:
    base = copy.deepcopy(BUILTIN.get(config.get("name", "tiny"), BUILTIN["tiny"]))
    for key in ("audio_vae", "vocoder", "case"):
        if key in config:
            base[key] = config[key]
    return base


def _checkpoint_config(secs: dict) -> dict:
    """What the real files carry in `__metadata__["config"]` (the sections this port reads)."""
    return {"audio_vae": secs["audio_vae"], "vocoder": secs["vocoder"]}


def _init_conv_like(module: torch.nn.Module, gen: torch.Generator) -> None:
    for name, p in module.named_parameters():
        if name.endswith(".alpha") or name.endswith(".beta"):
            p.data = torch.randn(p.shape, generator=gen) * 0.3
        elif name.endswith("bias"):
            p.data = torch.randn(p.shape, generator=gen) * 0.05
        elif p.dim() >= 2:
            fan_in = p[0].numel()
            p.data = torch.randn(p.shape, generator=gen) / math.sqrt(fan_in)


def _stats(gen: torch.Generator) -> PerChannelStatistics:
    stats = PerChannelStatistics(latent_channels=LATENT_CHANNELS * LATENT_MEL_BINS)
    stats.get_buffer("std-of-means").copy_(0.5 + torch.rand(LATENT_CHANNELS * LATENT_MEL_BINS, generator=gen))
    stats.get_buffer("mean-of-means").copy_(torch.randn(LATENT_CHANNELS * LATENT_MEL_BINS, generator=gen) * 0.1)
    return stats


def _round_bf16(module: torch.nn.Module) -> None:
    """Round every stored tensor (parameters and persistent buffers) to bf16 values, kept in f32, as the real
    checkpoints store them. Non-persistent buffers (the BWE resampler filter) stay f32, as ltx-core's model
    builder leaves them: it casts only the loaded state dict."""
    with torch.no_grad():
        for t in module.state_dict(keep_vars=True).values():
            if t.is_floating_point():
                t.data.copy_(t.data.to(torch.bfloat16).to(torch.float32))


def _bf16_state(state: dict, prefix: str) -> dict:
    return {prefix + k: v.detach().to(torch.bfloat16) for k, v in state.items()}


def _reference_dtype(dtype: str) -> torch.dtype:
    return {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]


def build_decoder(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    secs = sections(config)
    ckpt_config = _checkpoint_config(secs)
    gen = torch.Generator().manual_seed(seed)
    decoder = AudioDecoderConfigurator.from_config(ckpt_config)
    decoder.per_channel_statistics = _stats(gen)
    _init_conv_like(decoder, gen)
    _round_bf16(decoder)
    decoder.eval()

    latent = torch.randn(1, LATENT_CHANNELS, secs["case"]["latent_frames"], LATENT_MEL_BINS, generator=gen)
    ref_dtype = _reference_dtype(dtype)
    with torch.no_grad():
        mel = copy.deepcopy(decoder).to(ref_dtype)(latent.to(ref_dtype))

    state = decoder.state_dict()
    stats = {k.removeprefix("per_channel_statistics."): v for k, v in state.items() if k.startswith("per_channel_statistics.")}
    body = {k: v for k, v in state.items() if not k.startswith("per_channel_statistics.")}
    weights = {**_bf16_state(body, "audio_vae.decoder."), **_bf16_state(stats, "audio_vae.per_channel_statistics.")}
    common.save_checkpoint(out / PIPELINE_AUDIO_FILE, weights, ckpt_config)
    common.write_case(
        out,
        "audio_vae_decoder",
        config=secs,
        seed=seed,
        inputs={"latent": latent},
        expected={"mel": mel},
        tolerance=1e-5,
        extra={"checkpoint": PIPELINE_AUDIO_FILE},
    )


def _mel_stft_buffers(vocoder, bwe_cfg: dict, gen: torch.Generator) -> None:
    """Fixed `mel_stft.*` buffers: a periodic-Hann DFT basis and a random non-negative "filterbank" (the real file
    stores the trained ones; any fixed tensors exercise the same code, and a Slaney bank at these small n_fft would
    leave low mel rows empty)."""
    n_fft = bwe_cfg["n_fft"]
    n_freqs = n_fft // 2 + 1
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_freqs, dtype=torch.float64)[:, None]
    window = torch.hann_window(n_fft, periodic=True, dtype=torch.float64)
    angle = 2 * math.pi * k * n / n_fft
    basis = torch.cat([window * torch.cos(angle), -window * torch.sin(angle)], dim=0)
    stft = vocoder.mel_stft
    stft.stft_fn.get_buffer("forward_basis").copy_(basis[:, None, :].float())
    stft.stft_fn.get_buffer("inverse_basis").copy_(basis[:, None, :].float())
    stft.get_buffer("mel_basis").copy_(torch.rand(bwe_cfg["num_mels"], n_freqs, generator=gen) * (2.0 / n_freqs))


def build_vocoder(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    secs = sections(config)
    ckpt_config = _checkpoint_config(secs)
    gen = torch.Generator().manual_seed(seed)
    vocoder = VocoderConfigurator.from_config(ckpt_config)
    _init_conv_like(vocoder, gen)
    # Keep the 16 kHz output away from the [-1, 1] clamp (clamping would hide differences), spec §8.1.
    with torch.no_grad():
        vocoder.vocoder.conv_post.weight.mul_(0.02)
        vocoder.bwe_generator.conv_post.weight.mul_(0.02)
    _mel_stft_buffers(vocoder, secs["vocoder"]["bwe"], gen)
    _round_bf16(vocoder)
    vocoder.eval()

    mel = torch.randn(1, 2, secs["case"]["mel_frames"], 64, generator=gen) * 1.5 - 3.0
    # f32 compute in both dtypes; a bf16 case feeds the mel as the bf16 decoder hands it over.
    mel_in = mel.to(_reference_dtype(dtype)).float()
    with torch.no_grad():
        x16 = vocoder.vocoder(mel_in)
        bwe_mel = vocoder._compute_mel(x16).transpose(2, 3)
        wave = vocoder(mel_in)
    peak = max(x16.abs().max().item(), wave.abs().max().item())
    if peak >= 1.0:
        raise SystemExit(f"vocoder case reaches the [-1, 1] clamp (peak {peak:.3f}); lower the init")

    weights = _bf16_state(vocoder.state_dict(), "vocoder.")
    common.save_checkpoint(out / PIPELINE_AUDIO_FILE, weights, ckpt_config)
    common.write_case(
        out,
        "vocoder_bwe",
        config=secs,
        seed=seed,
        inputs={"mel": mel},
        expected={"x16": x16, "bwe_mel": bwe_mel, "wave": wave},
        tolerance=1e-4,
        extra={"checkpoint": PIPELINE_AUDIO_FILE},
    )


def build_encoder(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    secs = sections(config)
    case = secs["case"]
    ckpt_config = _checkpoint_config(secs)
    gen = torch.Generator().manual_seed(seed)
    encoder = AudioEncoderConfigurator.from_config(ckpt_config)
    encoder.per_channel_statistics = _stats(gen)
    # [C]/[S] `load_vae_encoder` force the mid attention to Identity.
    encoder.mid.attn_1 = torch.nn.Identity()
    _init_conv_like(encoder, gen)
    _round_bf16(encoder)
    encoder.eval()

    sample_rate = case["ref_sample_rate"]
    n = int(case["ref_seconds"] * sample_rate)
    # Speech-like level: a few partials plus noise, so the log-mel is far from its 1e-5 floor.
    t = torch.arange(n, dtype=torch.float32) / sample_rate
    waveform = 0.05 * torch.randn(case["ref_channels"], n, generator=gen)
    for f0 in (180.0, 360.0, 1250.0, 3100.0):
        phase = torch.rand(case["ref_channels"], 1, generator=gen) * 2 * math.pi
        waveform += 0.1 * torch.sin(2 * math.pi * f0 * t + phase)

    # [C] ScenemaAudioVAEEncode.encode, minus the device moves.
    vae_sr = secs["audio_vae"]["preprocessing"]["audio"]["sampling_rate"]
    max_seconds = min(case["max_seconds"], MAX_REF_CAP_SECONDS)
    wav = waveform
    if sample_rate != vae_sr:
        wav = torchaudio.functional.resample(wav.float(), sample_rate, vae_sr)
    max_samples = int(max_seconds * vae_sr)
    if wav.shape[1] > max_samples:
        wav = wav[:, :max_samples]
    if wav.shape[0] == 1:
        wav = wav.repeat(2, 1)
    audio = Audio(waveform=wav.unsqueeze(0), sampling_rate=vae_sr)
    with torch.no_grad():
        processor = AudioProcessor(
            target_sample_rate=encoder.sample_rate,
            mel_bins=encoder.mel_bins,
            mel_hop_length=encoder.mel_hop_length,
            n_fft=encoder.n_fft,
        )
        logmel = processor.waveform_to_mel(audio)
        # `encode_audio` casts the f32 log-mel to the encoder's dtype.
        latent = encode_audio(audio, copy.deepcopy(encoder).to(_reference_dtype(dtype)), processor)

    weights = _bf16_state(encoder.state_dict(), "")
    common.save_checkpoint(out / ENCODER_FILE, weights, ckpt_config)
    common.write_case(
        out,
        "audio_vae_encoder",
        config=secs,
        seed=seed,
        inputs={"waveform": waveform},
        expected={"wav16": wav.unsqueeze(0), "logmel": logmel, "latent": latent},
        tolerance=1e-4,
        tolerances={"wav16": 1e-5, "logmel": 1e-5},
        extra={"checkpoint": ENCODER_FILE, "sample_rate": sample_rate, "max_seconds": case["max_seconds"]},
        # The f32 front end is the same in both: the f32 case's tolerances.
        bf16_fixed={"wav16": 1e-5, "logmel": 1e-5},
    )


COMPONENTS = {
    "audio_vae_decoder": build_decoder,
    "vocoder_bwe": build_vocoder,
    "audio_vae_encoder": build_encoder,
}
