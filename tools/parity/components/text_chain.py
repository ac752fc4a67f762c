"""The whole text path: tokens -> Gemma 3 -> every hidden state -> feature extractor -> audio connector.

Reference: ltx_core `text_encoders/gemma/encoders/base_encoder.py` (`GemmaTextEncoder.encode`: the reference
tokeniser, then `model.model(input_ids, attention_mask, output_hidden_states=True)`, one prompt at a time) and
`text_encoders/gemma/embeddings_processor.py` (`EmbeddingsProcessor.process_hidden_states`: `FeatureExtractorV2`,
additive mask, video and audio connectors), ltx-audio-spec §2.

Component `text_chain` (case `text_chain-<config>-s<seed>`): the pieces of `gemma.py` (tiny multimodal
Gemma 3, the test tokenizer in `tests/fixtures/tokenizer/`, sharded checkpoint + hub `config.json`) and of
`diffusion.py` (feature extractor and audio connector saved in the pipeline-file layout), chained as the
reference chains them. Each prompt goes through `GemmaTextEncoder.encode` on its own (batch 1, left padding to
`max_length`), then `EmbeddingsProcessor.process_hidden_states`.

- Gemma weights are rounded to bf16 values and stored as bf16 (like the released shards); the reference
  computes in f32 with exactly those values. Same for the pipeline file (`diffusion._init_`, `diffusion._bf16`).
- `inputs.safetensors`: `input_ids`, `attention_mask` (P, S) int64, row p = prompt p as the reference
  tokeniser produced it (the Rust side is fed these ids; tokenisation parity has its own fixture).
- `expected.safetensors`: `features` (P, S, D_a) (feature extractor output), `audio_encoding` (P, S, D_a)
  (the audio context the transformer cross-attends to). Tolerance 1e-4.

Config section `text_chain` (defaults by config name `tiny` / `tiny2`): `gemma` (as `gemma.py`'s section:
`text_config`, `max_length` (a multiple of the connector's 128 registers), `prompts`) and `diffusion` (a config
for `diffusion._sections`: the connector's `transformer` keys, `init`).
"""

import copy
import json
import pathlib

import torch

import common
from components import diffusion, gemma
from ltx_core.text_encoders.gemma.embeddings_connector import (
    AudioEmbeddings1DConnectorConfigurator,
    Embeddings1DConnectorConfigurator,
)
from ltx_core.text_encoders.gemma.embeddings_processor import EmbeddingsProcessor
from ltx_core.text_encoders.gemma.encoders.base_encoder import GemmaTextEncoder
from ltx_core.text_encoders.gemma.feature_extractor import FeatureExtractorV2

TOLERANCE = 1e-4

# Smaller Gemmas than `gemma.py`'s (bf16, few layers) so that both cases stay a few hundred KB; S is a
# multiple of the connector's 128 learnable registers.
TINY = {
    "gemma": {
        "text_config": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 3,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "rope_theta": 1_000_000.0,
            "rope_local_base_freq": 10_000.0,
            "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
            "sliding_window": 1024,
            "sliding_window_pattern": 3,
            "vocab_size": gemma.TOKENIZER_VOCAB,
            "rms_norm_eps": 1e-6,
        },
        "max_length": 128,
        "prompts": gemma.PROMPTS[:1],
    },
    "diffusion": {"name": "tiny"},
}

# GQA with 2 groups, query_pre_attn_scalar != head_dim, a sliding window that masks, two prompts with
# different padding, S = 2 x 128 (registers tiled twice), the wider connector of diffusion's tiny2.
TINY2 = {
    "gemma": {
        "text_config": {
            "hidden_size": 24,
            "intermediate_size": 48,
            "num_hidden_layers": 4,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,
            "head_dim": 8,
            "query_pre_attn_scalar": 12,
            "rope_theta": 5_000.0,
            "rope_local_base_freq": 100.0,
            "rope_scaling": {"factor": 2.0, "rope_type": "linear"},
            "sliding_window": 8,
            "layer_types": ["sliding_attention", "full_attention", "sliding_attention", "full_attention"],
            "vocab_size": gemma.TOKENIZER_VOCAB,
            "rms_norm_eps": 1e-6,
        },
        "max_length": 256,
        "prompts": gemma.PROMPTS,
    },
    "diffusion": {"name": "tiny2"},
}

SECTIONS = {"tiny": TINY, "tiny2": TINY2}


def section_for(config: dict) -> dict:
    return copy.deepcopy(config.get("text_chain") or SECTIONS[config.get("name", "tiny")])


def _round_bf16_(model: torch.nn.Module) -> None:
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.to(torch.bfloat16).to(torch.float32))


def _build_gemma(section: dict, seed: int, out: pathlib.Path):
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    hub = gemma.hub_config(section)
    hub["torch_dtype"] = "bfloat16"
    model = Gemma3ForConditionalGeneration(Gemma3Config.from_dict(json.loads(json.dumps(hub)))).eval()
    gemma.randomize(model, seed)
    _round_bf16_(model)
    state = {}
    for name, value in model.state_dict().items():
        key = gemma.checkpoint_key(name)
        if key is not None:
            state[key] = value.detach().to(torch.bfloat16).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    shards = gemma.save_sharded(out, state)
    (out / "config.json").write_text(json.dumps(hub, indent=2) + "\n")
    return model, shards


def _build_processor(sections: dict, hidden: int, levels: int) -> EmbeddingsProcessor:
    tcfg = sections["transformer"]
    audio_dim = tcfg["audio_connector_num_attention_heads"] * tcfg["audio_connector_attention_head_dim"]
    video_dim = tcfg["connector_num_attention_heads"] * tcfg["connector_attention_head_dim"]
    # spec §8.1: the configurator hard-codes Gemma's 3840 x 49, so build FeatureExtractorV2 directly.
    extractor = FeatureExtractorV2(
        video_aggregate_embed=torch.nn.Linear(hidden * levels, video_dim, bias=True),
        embedding_dim=hidden,
        audio_aggregate_embed=torch.nn.Linear(hidden * levels, audio_dim, bias=True),
    )
    checkpoint_config = diffusion._checkpoint_config(sections)
    video = Embeddings1DConnectorConfigurator.from_config(checkpoint_config).float()
    audio = AudioEmbeddings1DConnectorConfigurator.from_config(checkpoint_config).float()
    std = sections["init"]["std"]
    for module in (extractor, video, audio):
        diffusion._init_(module, std)
    with torch.no_grad():
        # Registers are uniform in [-1, 1) upstream (created in bf16); keep that.
        registers = torch.rand_like(audio.learnable_registers) * 2.0 - 1.0
        audio.learnable_registers.copy_(registers.to(torch.bfloat16).to(torch.float32))
    return EmbeddingsProcessor(feature_extractor=extractor, video_connector=video, audio_connector=audio).eval()


def build_text_chain(config: dict, seed: int, out: pathlib.Path) -> None:
    import transformers

    section = section_for(config)
    gemma_section = section["gemma"]
    sections = diffusion._sections(section["diffusion"])
    text_cfg = gemma_section["text_config"]
    hidden, levels = text_cfg["hidden_size"], text_cfg["num_hidden_layers"] + 1

    model, shards = _build_gemma(gemma_section, seed, out)
    processor = _build_processor(sections, hidden, levels)
    encoder = GemmaTextEncoder(
        model=model, tokenizer=gemma.reference_tokenizer(gemma_section["max_length"]), dtype=torch.float32
    )

    ids, masks, features, encodings = [], [], [], []
    captured = {}
    extractor_forward = processor.feature_extractor.forward

    def capture(hidden_states, attention_mask, padding_side="left"):
        result = extractor_forward(hidden_states, attention_mask, padding_side)
        captured["audio_features"] = result[1]
        return result

    processor.feature_extractor.forward = capture
    with torch.no_grad():
        for prompt in gemma_section["prompts"]:
            hidden_states, attention_mask = encoder.encode(prompt)
            assert len(hidden_states) == levels, len(hidden_states)
            output = processor.process_hidden_states(hidden_states, attention_mask, padding_side="left")
            ids.append(encoder.tokenizer.tokenize_with_weights(prompt)["gemma"])
            masks.append(attention_mask[0])
            features.append(captured["audio_features"][0])
            encodings.append(output.audio_encoding[0])
    input_ids = torch.tensor([[int(t) for t, _ in pairs] for pairs in ids], dtype=torch.int64)
    attention_mask = torch.stack(masks).to(torch.int64)

    state = {}
    for key, value in processor.feature_extractor.audio_aggregate_embed.state_dict().items():
        state["text_embedding_projection.audio_aggregate_embed." + key] = value
    for key, value in processor.audio_connector.state_dict().items():
        state["model.diffusion_model.audio_embeddings_connector." + key] = value
    common.save_checkpoint(
        out / diffusion.PIPELINE_FILE, diffusion._bf16(state), diffusion._checkpoint_config(sections)
    )

    common.write_case(
        out,
        "text_chain",
        config=section,
        seed=seed,
        inputs={"input_ids": input_ids, "attention_mask": attention_mask},
        expected={"features": torch.stack(features), "audio_encoding": torch.stack(encodings)},
        tolerance=TOLERANCE,
        extra={
            "config_file": "config.json",
            "index_file": "model.safetensors.index.json",
            "shards": shards,
            "files": {"pipeline": diffusion.PIPELINE_FILE},
            "gemma_hidden_size": hidden,
            "gemma_num_levels": levels,
            "transformers": transformers.__version__,
            "reference_call": "GemmaTextEncoder.encode(prompt) -> EmbeddingsProcessor.process_hidden_states",
        },
    )


COMPONENTS = {"text_chain": build_text_chain}
