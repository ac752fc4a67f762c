"""Diffusion-core parity cases: audio transformer (X0), its INT8 form, the 8-step sampler, the text connector.

Reference: ltx-core 1.0.0 (ltx-audio-spec §0.3: identical to the LTX code Scenema runs on every
transformer/connector/sampler fact). Scenema replaces the stock AV block forward with an audio-only one
(spec §4.8); `_audio_only_block_forward` below is our own equivalent, written from spec §4.4.

Config sections (a `--config FILE.json` gives them directly, missing sections fall back to `tiny`):
  transformer  overrides of the checkpoint's `config["transformer"]` (upstream LTX key names; the
               connector keys live there too, as in the real file)
  text         {"hidden_size", "num_levels", "seq_len", "valid_tokens"}: the Gemma hidden-state shapes fed
               to the feature extractor, and the text length S used as context everywhere
  sampler      {"duration_s", "ref_frames"}: generated duration (-> T tokens) and reference latent frames
  init         {"std"}: weight init scale

Components (one case directory each):
  transformer       X0 forward at two sigmas, reference tokens in front (τ = 0 there)
  transformer_int8  the same from an INT8 checkpoint (`*.weight.int8` + `*.weight.scale`, §1.4)
  sampler           8 distilled Euler steps from injected noise, without and with a reference latent
  connector         feature extractor + audio embeddings connector from given Gemma hidden states

Each also has a bf16 case (`dtype="bf16"`, see `common.reuse_base`): the same weights and inputs, the
reference module cast to bf16, latents / context / hidden states fed in bf16, the denoise mask, σ and
positions in f32, as the production pipeline runs them (spec §1.5).
"""

import contextlib
import copy
import dataclasses
import math
import pathlib

import torch

import common
from ltx_core.components.diffusion_steps import EulerDiffusionStep
from ltx_core.components.patchifiers import AudioPatchifier
from ltx_core.model.transformer.modality import Modality
from ltx_core.model.transformer.model import X0Model
from ltx_core.model.transformer.model_configurator import LTXModelConfigurator
from ltx_core.model.transformer.transformer import BasicAVTransformerBlock
from ltx_core.text_encoders.gemma.embeddings_connector import AudioEmbeddings1DConnectorConfigurator
from ltx_core.text_encoders.gemma.embeddings_processor import convert_to_additive_mask
from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2
from ltx_core.tools import AudioLatentTools
from ltx_core.types import AudioLatentShape, VideoPixelShape
from ltx_core.utils import rms_norm
from ltx_pipelines.utils.constants import DISTILLED_SIGMA_VALUES
from ltx_pipelines.utils.helpers import modality_from_latent_state, post_process_latent

# The LTX-2.3 transformer config (spec §1.2) at tiny sizes (§8.1). The `check_config_value` constants are
# there because LTXModelConfigurator refuses a config without them, and the Rust loader checks them too.
TINY_TRANSFORMER = {
    "dropout": 0.0,
    "attention_bias": True,
    "num_vector_embeds": None,
    "activation_fn": "gelu-approximate",
    "num_embeds_ada_norm": 1000,
    "use_linear_projection": False,
    "only_cross_attention": False,
    "cross_attention_norm": True,
    "double_self_attention": False,
    "upcast_attention": False,
    "standardization_norm": "rms_norm",
    "norm_elementwise_affine": False,
    "qk_norm": "rms_norm",
    "positional_embedding_type": "rope",
    "use_audio_video_cross_attention": True,
    "share_ff": False,
    "av_cross_ada_norm": True,
    "use_middle_indices_grid": True,
    "num_layers": 2,
    "num_attention_heads": 2,
    "attention_head_dim": 8,
    "cross_attention_dim": 16,
    "in_channels": 128,
    "out_channels": 128,
    "positional_embedding_max_pos": [20, 2048, 2048],
    "audio_num_attention_heads": 2,
    "audio_attention_head_dim": 8,
    "audio_in_channels": 128,
    "audio_out_channels": 128,
    "audio_cross_attention_dim": 16,
    "audio_positional_embedding_max_pos": [20],
    "positional_embedding_theta": 10000.0,
    "timestep_scale_multiplier": 1000,
    "av_ca_timestep_scale_multiplier": 1000,
    "norm_eps": 1e-06,
    "rope_type": "split",
    "frequencies_precision": "float64",
    "apply_gated_attention": True,
    "cross_attention_adaln": True,
    "caption_proj_before_connector": True,
    "caption_projection_first_linear": False,
    "caption_projection_second_linear": False,
    "caption_proj_input_norm": False,
    "connector_num_layers": 2,
    "connector_num_attention_heads": 2,
    "connector_attention_head_dim": 8,
    "audio_connector_num_attention_heads": 2,
    "audio_connector_attention_head_dim": 8,
    "connector_positional_embedding_max_pos": [4096],
    "connector_apply_gated_attention": True,
    "connector_num_learnable_registers": 128,
}

BUILTIN = {
    # spec §8.1: D_a = 2 x 8, 2 layers; S = 256 with 37 valid tokens; Gemma width 32 (not 64) x 7 levels keeps
    # the committed hidden states small.
    "tiny": {
        "transformer": {},
        "text": {"hidden_size": 32, "num_levels": 7, "seq_len": 256, "valid_tokens": 37},
        "sampler": {"duration_s": 1.0, "ref_frames": 10},
        "init": {"std": 0.2},
    },
    # Wider (D_a = 3 x 8), more heads and layers; the connector has its own head split (2 x 12).
    "tiny2": {
        "transformer": {
            "num_layers": 3,
            "audio_num_attention_heads": 3,
            "audio_attention_head_dim": 8,
            "audio_cross_attention_dim": 24,
            "connector_num_layers": 3,
            "audio_connector_num_attention_heads": 2,
            "audio_connector_attention_head_dim": 12,
        },
        "text": {"hidden_size": 48, "num_levels": 5, "seq_len": 128, "valid_tokens": 50},
        "sampler": {"duration_s": 1.5, "ref_frames": 12},
        "init": {"std": 0.2},
    },
}

TRANSFORMER_FILE = "scenema-audio-transformer.safetensors"
TRANSFORMER_INT8_FILE = "scenema-audio-transformer-int8.safetensors"
PIPELINE_FILE = "scenema-audio-pipeline.safetensors"

# Spec §8.4.
TOL_FINE = 1e-5
TOL_X0 = 1e-4


def _sections(config: dict) -> dict:
    base = copy.deepcopy(BUILTIN["tiny"])
    source = BUILTIN[config["name"]] if config.get("name") in BUILTIN and len(config) == 1 else config
    for key in ("transformer", "text", "sampler", "init"):
        base[key].update(copy.deepcopy(source.get(key, {})))
    transformer = dict(TINY_TRANSFORMER)
    transformer.update(base["transformer"])
    base["transformer"] = transformer
    return base


def _checkpoint_config(sections: dict) -> dict:
    """What goes into the safetensors `config` metadata (the real files carry the full model config)."""
    return {"transformer": sections["transformer"]}


# ---------------------------------------------------------------------------------------------------------
# Reference modules
# ---------------------------------------------------------------------------------------------------------


def _init_(module: torch.nn.Module, std: float) -> None:
    """Seeded normal init, rounded to bf16 values (the real checkpoints are bf16; the reference then
    computes in f32 with exactly the values the files hold). Norm weights near 1."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith("norm.weight"):
                value = 1.0 + 0.1 * torch.randn_like(p, dtype=torch.float32)
            elif name.endswith(".bias"):
                value = 0.5 * std * torch.randn_like(p, dtype=torch.float32)
            else:
                value = std * torch.randn_like(p, dtype=torch.float32)
            p.copy_(value.to(torch.bfloat16).to(torch.float32))


def _bf16(state: dict) -> dict:
    """Store float tensors as bf16, like the real files (the values are already bf16-exact)."""
    return {k: v.to(torch.bfloat16) if v.dtype == torch.float32 else v for k, v in state.items()}


def _audio_only_block_forward(self, video, audio, perturbations=None):
    """Audio stream of one block exactly as Scenema runs it (spec §4.4): self-attention, text
    cross-attention with prompt adaLN, feed-forward. No video stream and no video-to-audio attention."""
    x = audio.x
    batch = x.shape[0]
    shift, scale, gate = self.get_ada_values(self.audio_scale_shift_table, batch, audio.timesteps, slice(0, 3))
    h = rms_norm(x, eps=self.norm_eps) * (1 + scale) + shift
    x = x + self.audio_attn1(h, pe=audio.positional_embeddings) * gate
    x = x + self._apply_text_cross_attention(
        x,
        audio.context,
        self.audio_attn2,
        self.audio_scale_shift_table,
        self.audio_prompt_scale_shift_table,
        audio.timesteps,
        audio.prompt_timestep,
        audio.context_mask,
        cross_attention_adaln=self.cross_attention_adaln,
    )
    shift, scale, gate = self.get_ada_values(self.audio_scale_shift_table, batch, audio.timesteps, slice(3, 6))
    h = rms_norm(x, eps=self.norm_eps) * (1 + scale) + shift
    x = x + self.audio_ff(h) * gate
    return video, dataclasses.replace(audio, x=x)


@contextlib.contextmanager
def _audio_only_blocks():
    original = BasicAVTransformerBlock.forward
    BasicAVTransformerBlock.forward = _audio_only_block_forward
    try:
        yield
    finally:
        BasicAVTransformerBlock.forward = original


# Per-block modules the Scenema loaders replace with Identity before materialising (spec §1.1): absent from
# the real transformer file. The rest of the video stream is present there; we keep only the audio path
# plus the per-block `video_to_audio_attn` (present but never run) so the loader's "ignore" path is tested
# while the fixtures stay small.
_NUKED = (".attn1.", ".attn2.", ".ff.", ".audio_to_video_attn.")


def _transformer_state(x0model: X0Model) -> dict:
    state = {}
    for key, value in x0model.velocity_model.state_dict().items():
        if key.startswith("transformer_blocks."):
            rest = key.split(".", 2)[2]
            if any(("." + rest).startswith(n) for n in _NUKED):
                continue
            if not (rest.startswith("audio_") or rest.startswith("video_to_audio_attn.")):
                continue
        elif not key.startswith("audio_"):
            continue
        state["velocity_model." + key] = value.detach().clone()
    return state


def _build_transformer(sections: dict):
    model = LTXModelConfigurator.from_config(_checkpoint_config(sections)).float()
    _init_(model, sections["init"]["std"])
    model.eval()
    return X0Model(model)


def _quantize_int8_(x0model: torch.nn.Module, state: dict) -> dict:
    """Quantise every Linear weight of the saved state per output row (spec §1.4) except the input
    projection (kept float, so mixed files are exercised), and put the dequantised weights back into the
    module so the reference computes with exactly what the loader must reconstruct."""
    out, scales = {}, {}
    linears = {
        "velocity_model." + name + ".weight"
        for name, m in x0model.velocity_model.named_modules()
        if isinstance(m, torch.nn.Linear)
    }
    params = dict(x0model.named_parameters())
    for key, value in state.items():
        if key in linears and not key.startswith("velocity_model.audio_patchify_proj."):
            scale = value.abs().amax(dim=1).clamp(min=1e-12) / 127.0
            q = torch.round(value / scale[:, None]).clamp(-127, 127).to(torch.int8)
            deq = q.to(torch.float32) * scale[:, None]
            out[key + ".int8"] = q
            with torch.no_grad():
                params[key].copy_(deq)
            scales[key + ".scale"] = scale.to(torch.float32)
        else:
            out[key] = value
    # Biases and tables stay bf16, the scales f32 (spec §1.4).
    return {**_bf16(out), **scales}


def _positions(frames: int) -> torch.Tensor:
    """(1, 1, frames, 2) [start, end) seconds from the reference patchifier."""
    patchifier = AudioPatchifier(patch_size=1)
    return patchifier.get_patch_grid_bounds(AudioLatentShape(batch=1, channels=8, frames=frames, mel_bins=16))


def _frames_for_duration(duration_s: float) -> int:
    """Scenema's pixel shape for a duration, then the reference's audio latent shape (spec §3.1)."""
    n_video_frames = ((int(duration_s * 24) + 7) // 8) * 8 + 1
    shape = AudioLatentShape.from_video_pixel_shape(
        VideoPixelShape(batch=1, frames=n_video_frames, height=64, width=64, fps=24.0)
    )
    return shape.frames


def _modality(latent, mask, sigma, positions, context):
    return Modality(
        latent=latent,
        sigma=sigma,
        timesteps=mask * sigma,
        positions=positions,
        context=context,
        enabled=True,
        context_mask=None,
    )


# ---------------------------------------------------------------------------------------------------------
# Components
# ---------------------------------------------------------------------------------------------------------


def _reference_dtype(dtype: str) -> torch.dtype:
    return {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]


def _transformer_case(config: dict, seed: int, out: pathlib.Path, int8: bool, dtype: str = "f32") -> None:
    sections = _sections(config)
    tcfg = sections["transformer"]
    x0model = _build_transformer(sections)
    state = _transformer_state(x0model)
    file_name = TRANSFORMER_INT8_FILE if int8 else TRANSFORMER_FILE
    state = _quantize_int8_(x0model, state) if int8 else _bf16(state)
    common.save_checkpoint(out / file_name, state, _checkpoint_config(sections))

    dim = tcfg["audio_num_attention_heads"] * tcfg["audio_attention_head_dim"]
    t_ref = sections["sampler"]["ref_frames"]
    t_gen = _frames_for_duration(sections["sampler"]["duration_s"])
    n = t_ref + t_gen
    latent = torch.randn(1, n, 128)
    mask = torch.ones(1, n, 1)
    mask[:, :t_ref] = 0.0
    context = torch.randn(1, sections["text"]["seq_len"], dim)
    positions = _positions(n)
    sigmas = [0.99375, 0.421875]

    ref_dtype = _reference_dtype(dtype)
    x0model = copy.deepcopy(x0model).to(ref_dtype)
    latent_in, context_in = latent.to(ref_dtype), context.to(ref_dtype)
    expected = {"positions": positions}
    velocity_model = x0model.velocity_model
    captured = {}
    hook = velocity_model.audio_proj_out.register_forward_hook(lambda m, i, o: captured.__setitem__("v", o))
    with torch.no_grad(), _audio_only_blocks():
        for i, s in enumerate(sigmas):
            sigma = torch.tensor(s, dtype=torch.float32)
            modality = _modality(latent_in, mask, sigma, positions, context_in)
            if i == 0:
                args = velocity_model.audio_args_preprocessor.prepare(modality, None)
                cos, sin = args.positional_embeddings
                expected["rope_cos"], expected["rope_sin"] = cos, sin
            _, x0 = x0model(video=None, audio=modality, perturbations=None)
            expected[f"velocity_{i}"] = captured["v"]
            expected[f"x0_{i}"] = x0
            # Reference tokens (τ = 0) come back unchanged.
            assert torch.equal(x0[:, :t_ref], latent_in[:, :t_ref])
    hook.remove()

    tol = {"positions": 0.0, "rope_cos": 1e-6, "rope_sin": 1e-6}
    for i in range(len(sigmas)):
        tol[f"velocity_{i}"] = TOL_FINE
        tol[f"x0_{i}"] = TOL_X0
    common.write_case(
        out,
        "transformer_int8" if int8 else "transformer",
        config=config,
        seed=seed,
        inputs={"latent": latent, "denoise_mask": mask, "context": context},
        expected=expected,
        tolerance=TOL_X0,
        tolerances=tol,
        extra={"files": {"transformer": file_name}, "sigmas": sigmas, "ref_frames": t_ref},
        # f32 positions; RoPE tables computed in f32 and rounded: one bf16 ulp at 1.
        bf16_fixed={"positions": 0.0, "rope_cos": 2.0**-7, "rope_sin": 2.0**-7},
    )


def build_transformer(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    _transformer_case(config, seed, out, int8=False, dtype=dtype)


def build_transformer_int8(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    _transformer_case(config, seed, out, int8=True, dtype=dtype)


def _sample(x0model, noise_tokens, context, ref_tokens, dtype=torch.float32):
    """The distilled 8-step loop for audio alone, as Scenema drives it (spec §3.4, §5): reference tokens
    prepended clean with mask 0, positions over the combined length, Euler steps, reference stripped."""
    t_gen = noise_tokens.shape[1]
    t_ref = 0 if ref_tokens is None else ref_tokens.shape[1]
    tools = AudioLatentTools(
        patchifier=AudioPatchifier(patch_size=1),
        target_shape=AudioLatentShape(batch=1, channels=8, frames=t_ref + t_gen, mel_bins=16),
    )
    state = tools.create_initial_state(device="cpu", dtype=dtype)
    if ref_tokens is not None:
        init = torch.cat([ref_tokens, torch.zeros_like(noise_tokens)], dim=1)
        mask = torch.cat([torch.zeros(1, t_ref, 1), torch.ones(1, t_gen, 1)], dim=1)
        state = dataclasses.replace(state, latent=init, clean_latent=init.clone(), denoise_mask=mask)
    # GaussianNoiser with the noise injected: noise * mask + latent * (1 - mask).
    full_noise = torch.cat([torch.zeros(1, t_ref, 128, dtype=dtype), noise_tokens], dim=1)
    latent = (full_noise * state.denoise_mask + state.latent * (1 - state.denoise_mask)).to(dtype)
    state = dataclasses.replace(state, latent=latent)

    sigmas = torch.tensor(DISTILLED_SIGMA_VALUES, dtype=torch.float32)
    stepper = EulerDiffusionStep()
    with torch.no_grad(), _audio_only_blocks():
        for step in range(len(sigmas) - 1):
            modality = modality_from_latent_state(state, context, sigmas[step])
            _, x0 = x0model(video=None, audio=modality, perturbations=None)
            x0 = post_process_latent(x0, state.denoise_mask, state.clean_latent)
            state = dataclasses.replace(state, latent=stepper.step(state.latent, x0, sigmas, step))

    tokens = state.latent
    ref_after = tokens[:, :t_ref]
    if ref_tokens is not None:
        assert torch.equal(ref_after, ref_tokens), "reference tokens changed during sampling"
    gen = tokens[:, t_ref:]
    target = AudioLatentShape(batch=1, channels=8, frames=t_gen, mel_bins=16)
    return AudioPatchifier(patch_size=1).unpatchify(gen, output_shape=target), state.positions


def build_sampler(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    sections = _sections(config)
    tcfg = sections["transformer"]
    x0model = _build_transformer(sections)
    common.save_checkpoint(out / TRANSFORMER_FILE, _bf16(_transformer_state(x0model)), _checkpoint_config(sections))

    dim = tcfg["audio_num_attention_heads"] * tcfg["audio_attention_head_dim"]
    duration_s = sections["sampler"]["duration_s"]
    t_gen = _frames_for_duration(duration_s)
    t_ref = sections["sampler"]["ref_frames"]
    noise = torch.randn(1, t_gen, 128)
    ref_latent = torch.randn(1, 8, t_ref, 16)
    context = torch.randn(1, sections["text"]["seq_len"], dim)
    ref_dtype = _reference_dtype(dtype)
    ref_tokens = AudioPatchifier(patch_size=1).patchify(ref_latent).to(ref_dtype)
    x0model = x0model.to(ref_dtype)
    noise_in, context_in = noise.to(ref_dtype), context.to(ref_dtype)

    latent, _ = _sample(x0model, noise_in, context_in, None, ref_dtype)
    latent_ref, positions_ref = _sample(x0model, noise_in, context_in, ref_tokens, ref_dtype)
    common.write_case(
        out,
        "sampler",
        config=config,
        seed=seed,
        inputs={"noise": noise, "ref_latent": ref_latent, "context": context},
        expected={
            "latent": latent,
            "latent_ref": latent_ref,
            "positions_ref": positions_ref,
            "ref_tokens": ref_tokens,
        },
        tolerance=TOL_X0,
        tolerances={"positions_ref": 0.0, "ref_tokens": 0.0},
        extra={"files": {"transformer": TRANSFORMER_FILE}, "duration_s": duration_s, "frames": t_gen},
        bf16_fixed={"positions_ref": 0.0, "ref_tokens": 0.0},
    )


def build_connector(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    sections = _sections(config)
    tcfg = sections["transformer"]
    text = sections["text"]
    hidden, levels, seq, valid = text["hidden_size"], text["num_levels"], text["seq_len"], text["valid_tokens"]
    audio_dim = tcfg["audio_connector_num_attention_heads"] * tcfg["audio_connector_attention_head_dim"]
    video_dim = tcfg["connector_num_attention_heads"] * tcfg["connector_attention_head_dim"]

    # spec §8.1 gotcha: the configurator hard-codes Gemma's 3840 x 49, so build FeatureExtractorV2 directly.
    extractor = FeatureExtractorV2(
        video_aggregate_embed=torch.nn.Linear(hidden * levels, video_dim, bias=True),
        embedding_dim=hidden,
        audio_aggregate_embed=torch.nn.Linear(hidden * levels, audio_dim, bias=True),
    )
    connector = AudioEmbeddings1DConnectorConfigurator.from_config(_checkpoint_config(sections))
    connector = connector.float()  # learnable_registers are created in bf16
    std = sections["init"]["std"]
    _init_(extractor, std)
    _init_(connector, std)
    with torch.no_grad():
        # Registers are uniform in [-1, 1) upstream (and created in bf16); keep that.
        registers = torch.rand_like(connector.learnable_registers) * 2.0 - 1.0
        connector.learnable_registers.copy_(registers.to(torch.bfloat16).to(torch.float32))

    # Gemma-like hidden states: a different scale per level so the per-level norm matters; left padding.
    scales = torch.linspace(0.5, 4.0, levels)
    hidden_states = torch.randn(1, seq, hidden, levels) * scales
    mask = torch.zeros(1, seq, dtype=torch.int64)
    mask[:, seq - valid :] = 1

    # The reference runs on copies in its dtype; the checkpoint is written from the originals.
    ref_dtype = _reference_dtype(dtype)
    run_extractor = copy.deepcopy(extractor).to(ref_dtype)
    run_connector = copy.deepcopy(connector).to(ref_dtype)
    captured = {}
    original = run_connector._replace_padded_with_learnable_registers

    def capture(hs, am):
        result = original(hs, am)
        captured["connector_in"] = result[0]
        return result

    run_connector._replace_padded_with_learnable_registers = capture
    with torch.no_grad():
        _, features = run_extractor(hidden_states.to(ref_dtype), mask)
        additive = convert_to_additive_mask(mask, features.dtype)
        encoding, _ = run_connector(features, additive)

    state = {}
    for key, value in extractor.audio_aggregate_embed.state_dict().items():
        state["text_embedding_projection.audio_aggregate_embed." + key] = value
    for key, value in connector.state_dict().items():
        state["model.diffusion_model.audio_embeddings_connector." + key] = value
    common.save_checkpoint(out / PIPELINE_FILE, _bf16(state), _checkpoint_config(sections))

    common.write_case(
        out,
        "connector",
        config=config,
        seed=seed,
        inputs={"hidden_states": hidden_states, "attention_mask": mask},
        expected={"features": features, "connector_in": captured["connector_in"], "audio_encoding": encoding},
        tolerance=TOL_FINE,
        extra={
            "files": {"pipeline": PIPELINE_FILE},
            "gemma_hidden_size": hidden,
            "gemma_num_levels": levels,
            "rescale": math.sqrt(audio_dim / hidden),
        },
    )


COMPONENTS = {
    "transformer": build_transformer,
    "transformer_int8": build_transformer_int8,
    "sampler": build_sampler,
    "connector": build_connector,
}
