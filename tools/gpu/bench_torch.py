#!/usr/bin/env python3
"""PyTorch reference timings for the GPU check: the stages of `models/examples/bench_gpu.rs` with the
ltx-core 1.0.0 modules (and transformers' Gemma 3 text model), same dims, same weight recipe, same device.

    python tools/gpu/bench_torch.py [--device cpu|cuda] [--dtype bf16|f32] [--dims tiny|full]
        [--stages gemma,step,step_int8,sampler,decode,e2e] [--gemma-layers N] [--iters N]

Weights are random, built on the device in the compute dtype (matrices and kernels N(0, 1/fan-in),
vectors 1 + N(0, 0.02²)), so no checkpoint travels; the numbers are timings, the parity table proves the
numerics. The transformer is LTXModelConfigurator's model with real audio widths and a 2 x 8 video stream
(never run: Scenema's audio-only block forward, `tools/parity/components/diffusion.py`). The INT8 row
dequantises per-row int8 weights into the compute dtype at build, as the candle loader does, so its step
runs the same kernels. The vocoder runs in f32, as Scenema's autocast does. Prints `ROW {json}` lines
like the candle side, then a table.
"""

import argparse
import contextlib
import dataclasses
import json
import math
import pathlib
import sys
import time

import torch

HERE = pathlib.Path(__file__).resolve().parent
PARITY = HERE.parent / "parity"
sys.path.insert(0, str(PARITY))


def _shim_missing_io_packages():
    """ltx-pipelines pulls PyAV and Pillow for media I/O, and ltx-core's audio VAE imports torchaudio for its
    mel front end; the timed code uses none of them. Where a GPU machine lacks them (nothing can be installed
    there), stand in the two sampler helpers and the sigma list (ltx-pipelines 1.0.0 `utils/helpers.py`,
    `utils/constants.py`, spec §5) and an empty torchaudio, and say so."""
    import types

    shimmed = []
    try:
        import torchaudio  # noqa: F401
    except ImportError:
        import importlib.machinery

        stand_in = types.ModuleType("torchaudio")
        stand_in.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
        sys.modules["torchaudio"] = stand_in
        shimmed.append("torchaudio (not used by the timed modules)")
    try:
        from ltx_pipelines.utils import helpers  # noqa: F401
    except ImportError as err:
        from ltx_core.model.transformer.modality import Modality

        def modality_from_latent_state(state, context, sigma, enabled=True):
            return Modality(enabled=enabled, latent=state.latent, sigma=sigma,
                            timesteps=state.denoise_mask * sigma, positions=state.positions,
                            context=context, context_mask=None,
                            attention_mask=getattr(state, "attention_mask", None))

        def post_process_latent(denoised, denoise_mask, clean_latent):
            return (denoised * denoise_mask + clean_latent.float() * (1 - denoise_mask)).to(denoised.dtype)

        pkg = types.ModuleType("ltx_pipelines")
        utils = types.ModuleType("ltx_pipelines.utils")
        helpers = types.ModuleType("ltx_pipelines.utils.helpers")
        constants = types.ModuleType("ltx_pipelines.utils.constants")
        helpers.modality_from_latent_state = modality_from_latent_state
        helpers.post_process_latent = post_process_latent
        constants.DISTILLED_SIGMA_VALUES = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0]
        pkg.utils, utils.helpers, utils.constants = utils, helpers, constants
        sys.modules.update({"ltx_pipelines": pkg, "ltx_pipelines.utils": utils,
                            "ltx_pipelines.utils.helpers": helpers, "ltx_pipelines.utils.constants": constants})
        shimmed.append(f"ltx_pipelines sampler helpers ({err})")
    for what in shimmed:
        print(f"# bench_torch: stand-in for {what}", flush=True)

# Text context (the reference pads every prompt to 1024), chunk and script lengths; tiny dims use short ones
# so a CPU runs every stage in seconds (the same as bench_gpu.rs).
LENGTHS = {"tiny": (128, 1.0, 2.5), "full": (1024, 15.0, 55.0)}
REFERENCE_FRAMES = 76
STAGES = ["gemma", "step", "step_int8", "sampler", "decode", "e2e"]


def gemma_text_config(dims: str, layers: int | None) -> dict:
    """google/gemma-3-12b-it's text_config (tiny: the same shapes as bench_gpu.rs's tiny)."""
    cfg = {
        "model_type": "gemma3_text",
        "vocab_size": 262_208,
        "hidden_size": 3840,
        "intermediate_size": 15_360,
        "num_hidden_layers": 48,
        "num_attention_heads": 16,
        "num_key_value_heads": 8,
        "head_dim": 256,
        "query_pre_attn_scalar": 256,
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
        "rms_norm_eps": 1e-6,
    }
    if dims == "tiny":
        cfg.update(vocab_size=512, hidden_size=64, intermediate_size=128, num_hidden_layers=6, num_attention_heads=4,
                   num_key_value_heads=2, head_dim=16, query_pre_attn_scalar=16, sliding_window=128)
    full_layers = cfg["num_hidden_layers"]
    if layers:
        cfg["num_hidden_layers"] = max(1, min(layers, full_layers))
    return cfg, full_layers


def transformer_config(dims: str) -> dict:
    from components.diffusion import TINY_TRANSFORMER

    layers, heads, head_dim = (2, 4, 16) if dims == "tiny" else (48, 32, 64)
    cfg = dict(TINY_TRANSFORMER)
    cfg.update(
        num_layers=layers,
        audio_num_attention_heads=heads,
        audio_attention_head_dim=head_dim,
        audio_cross_attention_dim=heads * head_dim,
        connector_num_layers=2 if dims == "tiny" else 8,
        audio_connector_num_attention_heads=heads,
        audio_connector_attention_head_dim=head_dim,
    )
    return cfg


def audio_config(dims: str) -> dict:
    from components import audio_vae as av

    voc, bwe = (64, 32) if dims == "tiny" else (1536, 512)
    return {
        "audio_vae": av._audio_vae_section(16 if dims == "tiny" else 128, [1, 2, 4], 2),
        "vocoder": {
            "vocoder": av._generator(voc, [5, 2, 2, 2, 2, 2], [11, 4, 4, 4, 4, 4], [3, 7, 11], [[1, 3, 5]] * 3),
            "bwe": av._bwe(av._generator(bwe, [6, 5, 2, 2, 2], [12, 11, 4, 4, 4], [3, 7, 11], [[1, 3, 5]] * 3), 512),
        },
    }


@torch.no_grad()
def randomize_(module: torch.nn.Module, int8: bool = False) -> None:
    """bench_gpu.rs's recipe. With `int8`, every 2-D weight goes through per-row int8 + scale first."""
    for name, p in module.named_parameters():
        if p.dim() < 2:
            p.copy_(1.0 + 0.02 * torch.randn(p.shape, device=p.device))
            continue
        std = 1.0 / math.sqrt(p[0].numel())
        if int8 and p.dim() == 2 and name.endswith("weight"):
            q = torch.randn(p.shape, device=p.device).mul_(40.0).round_().clamp_(-127, 127).to(torch.int8)
            p.copy_(q.to(torch.float32) * (std / 40.0))
        else:
            p.normal_(0.0, std)


class MemoryProbe:
    """Peak allocator reserve on CUDA (torch's view of the device memory it holds), the process's resident
    high-water mark on the CPU."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
            self.base = torch.cuda.memory_reserved()
            torch.cuda.reset_peak_memory_stats()

    def finish(self):
        if self.cuda:
            torch.cuda.synchronize()
            return (torch.cuda.max_memory_reserved() - self.base) / 2**20, "device"
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024, "host-rss"
        return math.nan, "host-rss"


class Bench:
    def __init__(self, args):
        self.args = args
        self.device = torch.device("cuda" if args.device.startswith("cuda") else "cpu")
        self.dtype = {"bf16": torch.bfloat16, "f32": torch.float32}[args.dtype]
        self.rows = []
        self.text_tokens, self.chunk_s, self.script_s = LENGTHS[args.dims]

    def sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def time(self, iters, fn):
        fn()
        self.sync()
        times = []
        for _ in range(iters):
            start = time.perf_counter()
            fn()
            self.sync()
            times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        return times[len(times) // 2]

    def push(self, stage, what, ms, memory, note=""):
        row = {"impl": "torch", "stage": stage, "what": what, "ms": ms, "peak_mib": memory[0], "memory": memory[1],
               "note": note, "device": f"{self.args.device}/{self.args.dtype}"}
        print("ROW " + json.dumps(row), flush=True)
        self.rows.append(row)

    @contextlib.contextmanager
    def building(self, dtype=None):
        """Modules are created on the device directly in the compute dtype (a 12B model never exists in f32)."""
        previous = torch.get_default_dtype()
        torch.set_default_dtype(dtype or self.dtype)
        try:
            with torch.device(self.device):
                yield
        finally:
            torch.set_default_dtype(previous)

    # -- models ----------------------------------------------------------------------------------------

    def gemma(self):
        from transformers import Gemma3TextConfig, Gemma3TextModel

        cfg, full = gemma_text_config(self.args.dims, self.args.gemma_layers)
        config = Gemma3TextConfig.from_dict(cfg)
        config._attn_implementation = "sdpa"
        with self.building():
            model = Gemma3TextModel(config).eval()
        randomize_(model)
        return model, cfg, full

    def transformer(self, int8=False):
        from ltx_core.model.transformer.model import X0Model
        from ltx_core.model.transformer.model_configurator import LTXModelConfigurator

        with self.building():
            model = LTXModelConfigurator.from_config({"transformer": transformer_config(self.args.dims)})
        model = model.to(device=self.device, dtype=self.dtype).eval()
        randomize_(model, int8)
        return X0Model(model).eval()

    def processor(self, hidden, levels):
        from ltx_core.text_encoders.gemma.embeddings_connector import AudioEmbeddings1DConnectorConfigurator
        from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2

        cfg = transformer_config(self.args.dims)
        audio_dim = cfg["audio_connector_num_attention_heads"] * cfg["audio_connector_attention_head_dim"]
        with self.building():
            extractor = FeatureExtractorV2(
                video_aggregate_embed=torch.nn.Linear(hidden * levels, 16, bias=True),
                embedding_dim=hidden,
                audio_aggregate_embed=torch.nn.Linear(hidden * levels, audio_dim, bias=True),
            )
            connector = AudioEmbeddings1DConnectorConfigurator.from_config({"transformer": cfg})
        extractor = extractor.to(device=self.device, dtype=self.dtype).eval()
        connector = connector.to(device=self.device, dtype=self.dtype).eval()
        randomize_(extractor)
        randomize_(connector)
        return extractor, connector

    def decoder_vocoder(self):
        from components import audio_vae as av
        from ltx_core.model.audio_vae import AudioDecoderConfigurator, VocoderConfigurator

        config = audio_config(self.args.dims)
        with self.building():
            decoder = AudioDecoderConfigurator.from_config(config)
        # As tools/parity/bench_decode.py: the configurator's statistics are not the 8 x 16 latent's.
        decoder.per_channel_statistics = av._stats(torch.Generator().manual_seed(0))
        decoder = decoder.to(device=self.device, dtype=self.dtype).eval()
        with self.building(torch.float32):
            vocoder = VocoderConfigurator.from_config(config)
        vocoder = vocoder.to(device=self.device, dtype=torch.float32).eval()
        randomize_(decoder)
        randomize_(vocoder)
        return decoder, vocoder

    # -- pieces ----------------------------------------------------------------------------------------

    def ids(self, vocab):
        ids = torch.tensor([[(i * 7919 + 13) % vocab for i in range(self.text_tokens)]], device=self.device)
        return ids, torch.ones_like(ids)

    def inputs(self, seconds, reference):
        from components.diffusion import _frames_for_duration

        frames = _frames_for_duration(seconds)
        width = transformer_config(self.args.dims)["audio_num_attention_heads"] * \
            transformer_config(self.args.dims)["audio_attention_head_dim"]
        noise = torch.randn(1, frames, 128, device=self.device, dtype=self.dtype)
        ref = torch.randn(1, REFERENCE_FRAMES, 128, device=self.device, dtype=self.dtype) if reference else None
        context = torch.randn(1, self.text_tokens, width, device=self.device, dtype=self.dtype)
        return noise, ref, context

    def sample(self, x0model, noise, ref, context):
        """The distilled 8-step loop for audio alone (parity `components.diffusion._sample`, on the device)."""
        from components.diffusion import _audio_only_blocks
        from ltx_core.components.diffusion_steps import EulerDiffusionStep
        from ltx_core.components.patchifiers import AudioPatchifier
        from ltx_core.tools import AudioLatentTools
        from ltx_core.types import AudioLatentShape
        from ltx_pipelines.utils.constants import DISTILLED_SIGMA_VALUES
        from ltx_pipelines.utils.helpers import modality_from_latent_state, post_process_latent

        t_gen = noise.shape[1]
        t_ref = 0 if ref is None else ref.shape[1]
        tools = AudioLatentTools(
            patchifier=AudioPatchifier(patch_size=1),
            target_shape=AudioLatentShape(batch=1, channels=8, frames=t_ref + t_gen, mel_bins=16),
        )
        state = tools.create_initial_state(device=self.device, dtype=self.dtype)
        if ref is not None:
            init = torch.cat([ref, torch.zeros_like(noise)], dim=1)
            mask = torch.cat([torch.zeros(1, t_ref, 1, device=self.device), torch.ones(1, t_gen, 1, device=self.device)], 1)
            state = dataclasses.replace(state, latent=init, clean_latent=init.clone(), denoise_mask=mask)
        full_noise = torch.cat([torch.zeros(1, t_ref, 128, device=self.device, dtype=self.dtype), noise], dim=1)
        latent = (full_noise * state.denoise_mask + state.latent * (1 - state.denoise_mask)).to(self.dtype)
        state = dataclasses.replace(state, latent=latent)
        sigmas = torch.tensor(DISTILLED_SIGMA_VALUES, dtype=torch.float32, device=self.device)
        stepper = EulerDiffusionStep()
        with torch.inference_mode(), _audio_only_blocks():
            for step in range(len(sigmas) - 1):
                modality = modality_from_latent_state(state, context, sigmas[step])
                _, x0 = x0model(video=None, audio=modality, perturbations=None)
                x0 = post_process_latent(x0, state.denoise_mask, state.clean_latent)
                state = dataclasses.replace(state, latent=stepper.step(state.latent, x0, sigmas, step))
        gen = state.latent[:, t_ref:]
        target = AudioLatentShape(batch=1, channels=8, frames=t_gen, mel_bins=16)
        return AudioPatchifier(patch_size=1).unpatchify(gen, output_shape=target)

    def decode(self, decoder, vocoder, latent):
        with torch.inference_mode():
            mel = decoder(latent)
            return vocoder(mel.to(torch.float32))

    # -- stages ----------------------------------------------------------------------------------------

    def stage_gemma(self):
        probe = MemoryProbe(self.device)
        model, cfg, full = self.gemma()
        ids, mask = self.ids(cfg["vocab_size"])

        def run():
            with torch.inference_mode():
                return model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states

        ms = self.time(self.args.iters, run)
        memory = probe.finish()
        built = cfg["num_hidden_layers"]
        if built < full:
            per_layer = ms / built
            self.push("gemma", f"prefill {self.text_tokens} tokens, {built}/{full} layers built", ms, memory)
            self.push("gemma", f"prefill {self.text_tokens} tokens, {full} layers", per_layer * full, (math.nan, memory[1]),
                      f"extrapolated from {built} layers ({per_layer:.1f} ms/layer)")
        else:
            self.push("gemma", f"prefill {self.text_tokens} tokens, {full} layers", ms, memory)
        del model

    def stage_transformer(self, int8, with_sampler):
        from components.diffusion import _audio_only_blocks, _modality, _positions

        stage = "step_int8" if int8 else "step"
        probe = MemoryProbe(self.device)
        start = time.perf_counter()
        x0model = self.transformer(int8)
        self.sync()
        build_ms = (time.perf_counter() - start) * 1e3
        noise, _, context = self.inputs(self.chunk_s, False)
        tokens = noise.shape[1]
        mask = torch.ones(1, tokens, 1, device=self.device)
        positions = _positions(tokens).to(self.device)
        sigma = torch.tensor(0.909375, device=self.device)
        modality = _modality(noise, mask, sigma, positions, context)

        def step():
            with torch.inference_mode(), _audio_only_blocks():
                return x0model(video=None, audio=modality, perturbations=None)

        ms = self.time(self.args.iters, step)
        what = f"one X0 step, {tokens} tokens + {self.text_tokens} text"
        note = f"weights int8 + scale, dequantised at build ({build_ms:.0f} ms)" if int8 else ""
        if with_sampler:
            sampler_ms = self.time(1, lambda: self.sample(x0model, noise, None, context))
            memory = probe.finish()
            self.push(stage, what, ms, memory, note)
            self.push("sampler", f"8 steps, {self.chunk_s} s chunk", sampler_ms, memory)
        else:
            self.push(stage, what, ms, probe.finish(), note)
        del x0model

    def stage_decode(self):
        from components.diffusion import _frames_for_duration

        probe = MemoryProbe(self.device)
        decoder, vocoder = self.decoder_vocoder()
        latent = torch.randn(1, 8, _frames_for_duration(self.chunk_s), 16, device=self.device, dtype=self.dtype)
        ms = self.time(1, lambda: self.decode(decoder, vocoder, latent))

        def mel():
            with torch.inference_mode():
                return decoder(latent)

        mel_ms = self.time(1, mel)
        memory = probe.finish()
        self.push("decode", f"VAE decoder + vocoder/BWE, {self.chunk_s} s", ms, memory)
        self.push("decode", f"of which VAE decoder, {self.chunk_s} s", mel_ms, memory)

    def stage_e2e(self):
        from ltx_core.text_encoders.gemma.embeddings_processor import convert_to_additive_mask

        probe = MemoryProbe(self.device)
        text, cfg, full = self.gemma()
        extractor, connector = self.processor(cfg["hidden_size"], cfg["num_hidden_layers"] + 1)
        x0model = self.transformer()
        decoder, vocoder = self.decoder_vocoder()
        ids, mask = self.ids(cfg["vocab_size"])
        chunks = math.ceil(self.script_s / self.chunk_s)
        chunk_s = self.script_s / chunks

        def run():
            start = time.perf_counter()
            first = None
            for chunk in range(chunks):
                with torch.inference_mode():
                    states = text(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
                    hidden = torch.stack(states, dim=-1)
                    _, features = extractor(hidden, mask)
                    context, _ = connector(features, convert_to_additive_mask(mask, features.dtype))
                noise, ref, _ = self.inputs(chunk_s, chunk > 0)
                latent = self.sample(x0model, noise, ref, context)
                audio = self.decode(decoder, vocoder, latent)
                audio.cpu()
                if first is None:
                    first = (time.perf_counter() - start) * 1e3
            return (time.perf_counter() - start) * 1e3, first

        run()
        ms, first = run()
        memory = probe.finish()
        note = f"Gemma with {cfg['num_hidden_layers']} layers only (not extrapolated)" if cfg["num_hidden_layers"] < full else ""
        self.push("e2e", f"{self.script_s} s script, {chunks} chunks of {chunk_s:.2f} s", ms, memory, note)
        self.push("e2e", "time to first audio (chunk 1 decoded)", first, memory, note)

    def table(self):
        print()
        print(f"PyTorch {torch.__version__} on {self.args.device}/{self.args.dtype}, {self.args.dims} dims, "
              f"{torch.get_num_threads()} threads")
        print()
        print("| stage | what | ms | peak MiB | note |")
        print("|---|---|---|---|---|")
        for r in self.rows:
            peak = "-" if math.isnan(r["peak_mib"]) else f"{r['peak_mib']:.0f} ({r['memory']})"
            print(f"| {r['stage']} | {r['what']} | {r['ms']:.1f} | {peak} | {r['note']} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="bf16", choices=["bf16", "f32"])
    parser.add_argument("--dims", default="tiny", choices=["tiny", "full"])
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--gemma-layers", type=int, default=None)
    parser.add_argument("--iters", type=int, default=3)
    args = parser.parse_args()
    stages = [s for s in args.stages.split(",") if s]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stages {unknown}; stages: {','.join(STAGES)}")
    _shim_missing_io_packages()
    torch.manual_seed(0)
    bench = Bench(args)
    failed = False
    for stage in stages:
        try:
            if stage == "gemma":
                bench.stage_gemma()
            elif stage == "step":
                bench.stage_transformer(False, "sampler" in stages)
            elif stage == "step_int8":
                bench.stage_transformer(True, False)
            elif stage == "sampler":
                if "step" not in stages:
                    bench.stage_transformer(False, True)
            elif stage == "decode":
                bench.stage_decode()
            elif stage == "e2e":
                bench.stage_e2e()
        except Exception as err:  # one failed stage must not hide the others' rows
            failed = True
            print(f"bench_torch: stage {stage}: {type(err).__name__}: {err}", file=sys.stderr, flush=True)
            print("ROW " + json.dumps({"impl": "torch", "stage": stage, "error": f"{type(err).__name__}: {err}"}), flush=True)
        if bench.device.type == "cuda":
            torch.cuda.empty_cache()
    bench.table()
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
