"""Gemma 3 text encoder: tiny random HF `transformers` Gemma 3 cases, and the test tokenizer.

Reference: ltx_core `text_encoders/gemma/encoders/base_encoder.py` (`GemmaTextEncoder.encode` calls
`model.model(input_ids, attention_mask, output_hidden_states=True)` on a `Gemma3ForConditionalGeneration`) and
`text_encoders/gemma/tokenizer.py` (`LTXVGemmaTokenizer`), ltx-audio-spec §2.2-2.3.

Component `gemma-text` (case `gemma-text-<config>-s<seed>`):
- tokenises the section's prompts with the reference `LTXVGemmaTokenizer` over the committed test tokenizer
  (`tests/fixtures/tokenizer/`) at the section's `max_length`;
- builds a tiny multimodal `Gemma3ForConditionalGeneration` (tiny SigLIP tower, so the checkpoint carries the
  multimodal key prefixes) with seeded random weights and runs the reference call;
- writes the weights in the released checkpoint layout (`language_model.model.*`, `vision_tower.*`,
  `multi_modal_projector.*`) as two bf16 shards (like the released ones; the random values are rounded to bf16
  first, so the f32 reference computes with exactly what is stored) plus `model.safetensors.index.json`, and a
  hub-style `config.json`;
- `inputs.safetensors`: `input_ids`, `attention_mask` (B, S) int64;
- `expected.safetensors`: `hs.{0..N}` (B, S, hidden), pad rows zeroed (the Rust encoder defines them as zero;
  the feature extractor zeroes them anyway, spec §2.4).

Config section `gemma` (defaults by config name `tiny` / `tiny2`): `text_config` (upstream Gemma3TextConfig
names, hub style: `rope_scaling`, `rope_local_base_freq`, `sliding_window_pattern` or `layer_types`),
`max_length`, `prompts`.

A bf16 case (`dtype="bf16"`, see `common.reuse_base`) runs the same model cast to bf16 (what the GPU and
`cpu-bf16` modes load) on the f32 case's shards and inputs.

The test tokenizer: `python tools/parity/components/gemma.py tokenizer --out tests/fixtures/tokenizer` trains a
tiny byte-fallback BPE on the compiled prompts of `tests/fixtures/scenema-reference-cases.json`, arranges it like
Gemma's `tokenizer.json` (the pipeline of transformers' `GemmaConverter`; `<pad>`=0, `<eos>`=1, `<bos>`=2,
`<unk>`=3, `<mask>`=4, byte tokens 5..260) and writes `expected.json`: the reference tokeniser's ids and masks for
a set of prompts at several `max_length`s.
"""

import argparse
import copy
import json
import pathlib
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))

import common  # noqa: E402

TOKENIZER_DIR = REPO / "tests" / "fixtures" / "tokenizer"
GOLDEN = REPO / "tests" / "fixtures" / "scenema-reference-cases.json"

SPECIALS = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>"]
TURN_TOKENS = ["<start_of_turn>", "<end_of_turn>"]
TOKENIZER_VOCAB = 448

PROMPTS = [
    '  Wide shot of a quiet library at night. She whispers: "Over here."\n',
    'She whispers: "Over here." Female.',
]

# Tiny text config of ltx-audio-spec §8.1 ("Text"), vocab cut to the test tokenizer to keep the fixture small.
TINY = {
    "text_config": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 6,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "query_pre_attn_scalar": 32,
        "rope_theta": 1_000_000.0,
        "rope_local_base_freq": 10_000.0,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
        "sliding_window": 1024,
        "sliding_window_pattern": 6,
        "vocab_size": TOKENIZER_VOCAB,
        "rms_norm_eps": 1e-6,
    },
    "max_length": 48,
    "prompts": PROMPTS[:1],
}

# Second shape: GQA with 2 groups, query_pre_attn_scalar != head_dim, explicit non-periodic layer_types,
# a sliding window (8) that really masks, other RoPE bases, and a batch of two with different padding.
TINY2 = {
    "text_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 4,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 8,
        "query_pre_attn_scalar": 12,
        "rope_theta": 5_000.0,
        "rope_local_base_freq": 100.0,
        "rope_scaling": {"factor": 2.0, "rope_type": "linear"},
        "sliding_window": 8,
        "layer_types": ["sliding_attention", "full_attention", "full_attention", "sliding_attention"],
        "vocab_size": TOKENIZER_VOCAB,
        "rms_norm_eps": 1e-6,
    },
    "max_length": 40,
    "prompts": PROMPTS,
}

SECTIONS = {"tiny": TINY, "tiny2": TINY2}

# A tiny SigLIP tower: only there so that the checkpoint has the multimodal layout; never run.
TINY_VISION = {
    "model_type": "siglip_vision_model",
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "image_size": 4,
    "patch_size": 2,
    "vision_use_head": False,
}


def section_for(config: dict) -> dict:
    return config.get("gemma") or SECTIONS[config.get("name", "tiny")]


def hub_config(section: dict) -> dict:
    """A `config.json` shaped like google/gemma-3-12b-it's (legacy RoPE keys, text_config nested)."""
    text = {"model_type": "gemma3_text", **section["text_config"]}
    return {
        "architectures": ["Gemma3ForConditionalGeneration"],
        "model_type": "gemma3",
        "boi_token_index": 255_999,
        "eoi_token_index": 256_000,
        "eos_token_id": [1, 106],
        "image_token_index": 262_144,
        "initializer_range": 0.02,
        "mm_tokens_per_image": 1,
        "text_config": text,
        "vision_config": TINY_VISION,
        "torch_dtype": "bfloat16",
    }


def reference_tokenizer(max_length: int, root: pathlib.Path = TOKENIZER_DIR):
    from ltx_core.text_encoders.gemma.tokenizer import LTXVGemmaTokenizer

    return LTXVGemmaTokenizer(str(root), max_length)


def tokenize(prompts, max_length):
    tok = reference_tokenizer(max_length)
    ids, mask = [], []
    for prompt in prompts:
        pairs = tok.tokenize_with_weights(prompt)["gemma"]
        ids.append([int(t) for t, _ in pairs])
        mask.append([int(w) for _, w in pairs])
    return torch.tensor(ids, dtype=torch.int64), torch.tensor(mask, dtype=torch.int64)


def randomize(model: torch.nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if "norm" in name and param.dim() == 1:
                std = 0.3  # Gemma norms scale by (1 + w)
            elif "embed_tokens" in name:
                std = 1.0
            elif param.dim() == 2:
                std = param.shape[1] ** -0.5
            else:
                std = 0.1
            param.copy_(torch.randn(param.shape, generator=gen) * std)


def checkpoint_key(name: str) -> str | None:
    """transformers state-dict name -> name in the released google/gemma-3-*-it shards (None: not stored)."""
    if name.startswith("model.vision_tower."):
        rest = name[len("model.vision_tower.") :]
        # transformers 5 flattens SiglipVisionModel; the released shards keep `vision_model.`.
        return "vision_tower." + (rest if rest.startswith("vision_model.") else "vision_model." + rest)
    for ours, theirs in (
        ("model.language_model.", "language_model.model."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
    ):
        if name.startswith(ours):
            return theirs + name[len(ours) :]
    if name == "lm_head.weight":
        return None  # tied to embed_tokens, not in the released shards
    raise ValueError(f"unexpected state-dict key {name}")


def save_sharded(out: pathlib.Path, state: dict) -> list[str]:
    keys = sorted(state)
    half = len(keys) // 2
    files = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    weight_map = {}
    for file, part in zip(files, (keys[:half], keys[half:])):
        common.save_checkpoint(out / file, {k: state[k] for k in part})
        weight_map.update({k: file for k in part})
    total = sum(v.numel() * v.element_size() for v in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return files


def build_text(config: dict, seed: int, out: pathlib.Path, dtype: str = "f32") -> None:
    import transformers
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    section = section_for(config)
    hub = hub_config(section)
    model = Gemma3ForConditionalGeneration(Gemma3Config.from_dict(json.loads(json.dumps(hub)))).float().eval()
    randomize(model, seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(param.to(torch.bfloat16).to(torch.float32))
    input_ids, attention_mask = tokenize(section["prompts"], section["max_length"])

    ref_dtype = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]
    with torch.no_grad():
        outputs = copy.deepcopy(model).to(ref_dtype).model(
            input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True
        )
    hidden = outputs.hidden_states
    layers = section["text_config"]["num_hidden_layers"]
    assert len(hidden) == layers + 1, len(hidden)
    keep = attention_mask[..., None].to(ref_dtype)
    expected = {f"hs.{i}": h * keep for i, h in enumerate(hidden)}

    state = {}
    for name, value in model.state_dict().items():
        key = checkpoint_key(name)
        if key is not None:
            state[key] = value.detach().to(torch.bfloat16).contiguous()
    out.mkdir(parents=True, exist_ok=True)
    files = save_sharded(out, state)
    (out / "config.json").write_text(json.dumps(hub, indent=2) + "\n")
    common.write_case(
        out,
        "gemma-text",
        config=section,
        seed=seed,
        inputs={"input_ids": input_ids, "attention_mask": attention_mask},
        expected=expected,
        tolerance=1e-4,
        extra={
            "config_file": "config.json",
            "index_file": "model.safetensors.index.json",
            "shards": files,
            "hidden_states": layers + 1,
            "pad_rows": "zeroed in expected (ours defines them as zero)",
            "transformers": transformers.__version__,
            "reference_call": "Gemma3ForConditionalGeneration.model(input_ids, attention_mask, output_hidden_states=True)",
        },
    )


COMPONENTS = {"gemma-text": build_text}


# --- the test tokenizer -------------------------------------------------------------------------------------


def corpus() -> list[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("prompt", "compiled_prompt", "compiled") and isinstance(value, str):
                    found.add(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(GOLDEN.read_text()))
    return sorted(found)


def train_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    # Learn merges within "▁word" pieces (SentencePiece splits by whitespace), then rebuild the vocabulary in
    # Gemma's order: specials, byte tokens, learned pieces.
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = normalizers.Replace(" ", "▁")
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="never")
    budget = TOKENIZER_VOCAB - len(SPECIALS) - 256 - len(TURN_TOKENS)
    trainer = trainers.BpeTrainer(vocab_size=budget, show_progress=False)
    trainer_tok.train_from_iterator(corpus(), trainer=trainer)
    learned = json.loads(trainer_tok.to_str())["model"]

    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    # The trainer orders its alphabet by a hash map; sort it so that the file is the same run to run.
    pieces = sorted(learned["vocab"].items(), key=lambda kv: kv[1])
    alphabet = sorted(p for p, _ in pieces if len(p) == 1)
    for piece in alphabet + [p for p, _ in pieces if len(p) > 1]:
        if piece not in vocab:
            vocab[piece] = len(vocab)
    for token in TURN_TOKENS:
        vocab[token] = len(vocab)
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]

    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Replace(" ", "▁")
    tok.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok.post_processor = processors.TemplateProcessing(
        single="<bos>:0 $A:0", pair="<bos>:0 $A:0 <bos>:1 $B:1", special_tokens=[("<bos>", 2)]
    )
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIALS + TURN_TOKENS])
    assert tok.get_vocab_size() <= TOKENIZER_VOCAB, tok.get_vocab_size()
    return tok


TOKENIZER_CONFIG = {
    "tokenizer_class": "GemmaTokenizer",
    "add_bos_token": True,
    "add_eos_token": False,
    "bos_token": "<bos>",
    "eos_token": "<eos>",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "mask_token": "<mask>",
    "padding_side": "left",
    "clean_up_tokenization_spaces": False,
    "spaces_between_special_tokens": False,
    "model_max_length": 1_000_000_000_000_000_019_884_624_838_656,
}


def tokenizer_prompts() -> list[str]:
    golden = corpus()
    edge = [
        "",
        "   ",
        "Hello world.",
        '  Close-up in a person speaking to camera. "Hello world." Narrator.  \n',
        "Tabs\tand\nnewlines\r\n and  double  spaces",
        "Ünïcödé: café, naïve, Straße; 日本語のテキスト; emoji 🎙️🔥",
        "A literal <bos> and <eos> and <pad> in the text, and <start_of_turn>user",
        "\u00a0non-breaking\u00a0spaces\u3000and ideographic\u2003em space\u00a0",
        "\x1cfile separator strip\x1f",
        "Numbers 1234567890 and punctuation !?;:…—–«»",
    ]
    return edge + golden[:6] + sorted(golden, key=len)[-3:]


def build_tokenizer_fixture(out: pathlib.Path) -> None:
    import tokenizers
    import transformers

    out.mkdir(parents=True, exist_ok=True)
    train_tokenizer().save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps(TOKENIZER_CONFIG, indent=2) + "\n")
    special_map = {k: TOKENIZER_CONFIG[k] for k in ("bos_token", "eos_token", "pad_token", "unk_token", "mask_token")}
    (out / "special_tokens_map.json").write_text(json.dumps(special_map, indent=2) + "\n")
    write_expected(out)
    print(f"wrote {out} (transformers {transformers.__version__}, tokenizers {tokenizers.__version__})")


def write_expected(out: pathlib.Path) -> None:
    import transformers

    cases = []
    for max_length in (1024, 256, 16):
        tok = reference_tokenizer(max_length, out)
        for prompt in tokenizer_prompts():
            pairs = tok.tokenize_with_weights(prompt)["gemma"]
            cases.append(
                {
                    "prompt": prompt,
                    "max_length": max_length,
                    "input_ids": [int(t) for t, _ in pairs],
                    "attention_mask": [int(w) for _, w in pairs],
                }
            )
    doc = {
        "reference": "ltx_core LTXVGemmaTokenizer.tokenize_with_weights",
        "transformers": transformers.__version__,
        "cases": cases,
    }
    lines = ["{"]
    lines.append(f'  "reference": {json.dumps(doc["reference"])},')
    lines.append(f'  "transformers": {json.dumps(doc["transformers"])},')
    lines.append('  "cases": [')
    for i, case in enumerate(cases):
        sep = "," if i + 1 < len(cases) else ""
        lines.append(f"    {json.dumps(case, ensure_ascii=False, separators=(',', ':'))}{sep}")
    lines.append("  ]")
    lines.append("}")
    (out / "expected.json").write_text("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description="Gemma test tokenizer fixture")
    sub = parser.add_subparsers(dest="command", required=True)
    tok = sub.add_parser("tokenizer", help="train the test tokenizer and write its reference ids")
    tok.add_argument("--out", type=pathlib.Path, default=TOKENIZER_DIR)
    exp = sub.add_parser("expected", help="re-write expected.json only (e.g. under another transformers version)")
    exp.add_argument("--out", type=pathlib.Path, default=TOKENIZER_DIR)
    args = parser.parse_args()
    if args.command == "tokenizer":
        build_tokenizer_fixture(args.out)
    else:
        write_expected(args.out)


if __name__ == "__main__":
    main()
