"""Whisper: tiny random HF `transformers` Whisper cases (front end, encoder, SeedVC content, decoding), and the
test tokenizer.

Reference: transformers 5.12.1 (`requirements-whisper.txt`) `WhisperFeatureExtractor` (torch path),
`WhisperForConditionalGeneration.model.encoder` and `.generate` (greedy and beam search, language given or
detected, `<|notimestamps|>`); SeedVC's `semantic_fn` truncation (postprocessing-spec §5.4). The test tokenizer's
reference ids come from faster-whisper's `Tokenizer` (SYSTRAN/faster-whisper 65882ee = v1.2.1,
`faster_whisper/tokenizer.py`), loaded from a local checkout (`--faster-whisper DIR`, never committed).

Component `whisper` (case `whisper-<config>-s<seed>`):
- `config.json` (hub `WhisperConfig` fields), `generation_config.json` (`lang_to_id`, `task_to_id`,
  `suppress_tokens`, `begin_suppress_tokens`, `no_timestamps_token_id`, ...), `preprocessor_config.json`
  (`WhisperFeatureExtractor.to_dict()` without `mel_filters`) and `model.safetensors` (f32, `model.encoder.*`,
  `model.decoder.*`; `proj_out` is tied and not stored, as in `openai/whisper-small`);
- `inputs.safetensors`: `audio` (16 kHz noise and tones: shorter than the window for `tiny`, longer for `tiny2`);
- `expected.safetensors`: `input_features` (1, mels, frames), `encoder_hidden` (the encoder on those features),
  `content` (`encoder_hidden[:, : n // 320 + 1]` for the first `n <= window` samples, SeedVC), `prompt_logits` (decoder logits of the `en`
  prompt), and for every run in `extra.runs` the full sequence HF `generate` returned (prompt included, the end
  token kept), int64, compared exactly.

Config section `whisper`: `config` (WhisperConfig fields), `preprocessor` (extractor arguments), `audio_seconds`,
`init_gain` (fan-in-scaled weights times this: a gain > 1 keeps random decoders from repeating one token),
`eot_gain` (the end token's embedding row is scaled so that some runs finish), `runs`.

The test tokenizer: `python tools/parity/components/whisper.py tokenizer --out tests/fixtures/whisper_tokenizer
--faster-whisper /work/.mirror/SYSTRAN+faster-whisper/checkout` builds a GPT-2 byte-level BPE (the 256 byte
symbols in GPT-2's order, so `" "` is 220 as in Whisper, then merges learned deterministically from the golden
texts), followed by Whisper's special tokens in Whisper's order (`<|endoftext|>`, `<|startoftranscript|>`, the
99 language tokens of whisper-small, `<|translate|>`, `<|transcribe|>`, `<|startoflm|>`, `<|startofprev|>`,
`<|nocaptions|>`, `<|notimestamps|>`; no timestamp tokens), and writes `expected.json`: faster-whisper's special
ids, `non_speech_tokens`, and `encode` / `decode` of a set of texts.
"""

import argparse
import collections
import importlib.util
import json
import pathlib
import sys

import numpy as np
import torch

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(HERE.parent))

import common  # noqa: E402

TOKENIZER_DIR = REPO / "tests" / "fixtures" / "whisper_tokenizer"
GOLDEN = REPO / "tests" / "fixtures" / "scenema-reference-cases.json"

# whisper-small's 99 languages (transformers' LANGUAGES without large-v3's "yue"), in token order.
LANGUAGE_COUNT = 99
MERGES = 96
SPECIALS_HEAD = ["<|endoftext|>", "<|startoftranscript|>"]
SPECIALS_TAIL = ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]


def languages() -> list[str]:
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    codes = list(LANGUAGES)[:LANGUAGE_COUNT]
    assert codes[0] == "en" and "yue" not in codes, codes
    return codes


def special_tokens() -> list[str]:
    return SPECIALS_HEAD + [f"<|{c}|>" for c in languages()] + SPECIALS_TAIL


def vocab_size() -> int:
    return 256 + MERGES + len(special_tokens())


def special_ids() -> dict:
    base = 256 + MERGES
    return {tok: base + i for i, tok in enumerate(special_tokens())}


TINY = {
    "config": {
        "d_model": 16,
        "encoder_layers": 2,
        "encoder_attention_heads": 2,
        "encoder_ffn_dim": 32,
        "decoder_layers": 2,
        "decoder_attention_heads": 2,
        "decoder_ffn_dim": 32,
        "num_mel_bins": 80,
        "max_source_positions": 50,
        "max_target_positions": 40,
    },
    "preprocessor": {"feature_size": 80, "sampling_rate": 16000, "hop_length": 160, "chunk_length": 1, "n_fft": 400},
    "audio_seconds": 0.75,
    "init_gain": 3.0,
    "eot_gain": 1.5,
    "runs": [
        {"name": "greedy_en", "language": "en", "num_beams": 1, "max_new_tokens": 20},
        {"name": "beam5_en", "language": "en", "num_beams": 5, "max_new_tokens": 20},
        {"name": "beam3_de", "language": "de", "num_beams": 3, "max_new_tokens": 12},
        {"name": "greedy_auto", "language": None, "num_beams": 1, "max_new_tokens": 16},
        {"name": "beam5_auto", "language": None, "num_beams": 5, "max_new_tokens": 36},
    ],
}

# Another shape: 4 heads of 4, one encoder and three decoder layers, 40 mels, n_fft 256 / hop 100 (160 frames
# per 1 s window), and audio longer than the window (the extractor cuts it).
TINY2 = {
    "config": {
        "d_model": 16,
        "encoder_layers": 1,
        "encoder_attention_heads": 4,
        "encoder_ffn_dim": 48,
        "decoder_layers": 3,
        "decoder_attention_heads": 4,
        "decoder_ffn_dim": 40,
        "num_mel_bins": 40,
        "max_source_positions": 80,
        "max_target_positions": 32,
    },
    "preprocessor": {"feature_size": 40, "sampling_rate": 16000, "hop_length": 100, "chunk_length": 1, "n_fft": 256},
    "audio_seconds": 1.1,
    "init_gain": 2.5,
    "eot_gain": 8.0,
    "runs": [
        {"name": "greedy_en", "language": "en", "num_beams": 1, "max_new_tokens": 24},
        {"name": "beam5_en", "language": "en", "num_beams": 5, "max_new_tokens": 24},
        {"name": "beam2_fr", "language": "fr", "num_beams": 2, "max_new_tokens": 20},
        {"name": "beam4_auto", "language": None, "num_beams": 4, "max_new_tokens": 27},
    ],
}

SECTIONS = {"tiny": TINY, "tiny2": TINY2}


def section_for(config: dict) -> dict:
    return config.get("whisper") or SECTIONS[config.get("name", "tiny")]


def hub_config(section: dict) -> dict:
    ids = special_ids()
    return {
        "architectures": ["WhisperForConditionalGeneration"],
        "model_type": "whisper",
        "vocab_size": vocab_size(),
        "activation_function": "gelu",
        "scale_embedding": False,
        "decoder_start_token_id": ids["<|startoftranscript|>"],
        "eos_token_id": ids["<|endoftext|>"],
        "bos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "torch_dtype": "float32",
        **section["config"],
    }


def generation_config(hub: dict) -> dict:
    ids = special_ids()
    eot = ids["<|endoftext|>"]
    # A few byte symbols stand in for Whisper's non-speech list; " " (220) and the end token at the start.
    suppress = sorted({ord(c) - 33 for c in '"#()*+/:;<=>@[\\]^_`{|}~'})
    return {
        "decoder_start_token_id": ids["<|startoftranscript|>"],
        "eos_token_id": eot,
        "bos_token_id": eot,
        "pad_token_id": eot,
        "max_length": hub["max_target_positions"],
        "suppress_tokens": suppress,
        "begin_suppress_tokens": [220, eot],
        "lang_to_id": {f"<|{c}|>": ids[f"<|{c}|>"] for c in languages()},
        "task_to_id": {"translate": ids["<|translate|>"], "transcribe": ids["<|transcribe|>"]},
        "no_timestamps_token_id": ids["<|notimestamps|>"],
        "is_multilingual": True,
        "return_timestamps": False,
    }


def randomize(model: torch.nn.Module, seed: int, gain: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if "embed" in name:
                param.copy_(torch.randn(param.shape, generator=gen))
            elif param.dim() >= 2:
                fan_in = param[0].numel()
                param.copy_(torch.randn(param.shape, generator=gen) * gain / fan_in**0.5)
            elif "layer_norm.weight" in name:
                param.copy_(1.0 + 0.1 * torch.randn(param.shape, generator=gen))
            else:
                param.copy_(0.1 * torch.randn(param.shape, generator=gen))


def test_audio(seconds: float, seed: int) -> torch.Tensor:
    """Noise, two tones and a pause (so the max-8 floor and both the loud and quiet regions are exercised)."""
    gen = torch.Generator().manual_seed(seed + 1000)
    n = int(round(seconds * 16000))
    t = torch.arange(n, dtype=torch.float64) / 16000
    x = 0.3 * torch.sin(2 * torch.pi * 440 * t) + 0.1 * torch.sin(2 * torch.pi * 2500 * t)
    x = x + 0.05 * torch.randn(n, generator=gen, dtype=torch.float64)
    x[n // 3 : n // 2] *= 0.01
    return x.to(torch.float32)


def build(config: dict, seed: int, out: pathlib.Path) -> None:
    import transformers
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    section = section_for(config)
    hub = hub_config(section)
    gen_cfg = generation_config(hub)
    model = WhisperForConditionalGeneration(WhisperConfig(**hub)).eval()
    randomize(model, seed, section["init_gain"])
    eot = hub["eos_token_id"]
    with torch.no_grad():
        model.model.decoder.embed_tokens.weight[eot] *= section["eot_gain"]
    model.generation_config = GenerationConfig(**gen_cfg)

    extractor = WhisperFeatureExtractor(**section["preprocessor"])
    audio = test_audio(section["audio_seconds"], seed)
    features = extractor(audio.numpy(), sampling_rate=16000, return_tensors="pt").input_features
    assert features.shape[-1] == 2 * hub["max_source_positions"], features.shape

    expected = {"input_features": features}
    with torch.no_grad():
        hidden = model.model.encoder(features).last_hidden_state
        expected["encoder_hidden"] = hidden
        # SeedVC feeds at most one window (it splits longer audio itself).
        used = min(audio.shape[0], extractor.n_samples)
        expected["content"] = hidden[:, : used // (2 * extractor.hop_length) + 1].clone()
        ids = special_ids()
        prompt = [ids["<|startoftranscript|>"], ids["<|en|>"], ids["<|transcribe|>"], ids["<|notimestamps|>"]]
        out_logits = model(input_features=features, decoder_input_ids=torch.tensor([prompt])).logits
        expected["prompt_logits"] = out_logits
        for run in section["runs"]:
            result = model.generate(
                features,
                language=run["language"],
                task="transcribe" if run["language"] else None,
                num_beams=run["num_beams"],
                do_sample=False,
                max_new_tokens=run["max_new_tokens"],
                return_dict_in_generate=True,
            )
            expected[run["name"]] = result.sequences.to(torch.int64)
            print(f"  {run['name']}: {result.sequences[0].tolist()}")

    state = {k: v.detach().to(torch.float32).contiguous() for k, v in model.state_dict().items() if k != "proj_out.weight"}
    out.mkdir(parents=True, exist_ok=True)
    common.save_checkpoint(out / "model.safetensors", state)
    (out / "config.json").write_text(json.dumps(hub, indent=2) + "\n")
    (out / "generation_config.json").write_text(json.dumps(gen_cfg, indent=2) + "\n")
    pre = {k: v for k, v in extractor.to_dict().items() if k != "mel_filters"}
    (out / "preprocessor_config.json").write_text(json.dumps(pre, indent=2, sort_keys=True) + "\n")
    common.write_case(
        out,
        "whisper",
        config=section,
        seed=seed,
        inputs={"audio": audio},
        expected=expected,
        tolerance=1e-4,
        tolerances={run["name"]: 0.0 for run in section["runs"]},
        extra={
            "model_file": "model.safetensors",
            "config_file": "config.json",
            "generation_config_file": "generation_config.json",
            "preprocessor_file": "preprocessor_config.json",
            "runs": section["runs"],
            "transformers": transformers.__version__,
            "reference_calls": [
                "WhisperFeatureExtractor(**preprocessor)(audio, sampling_rate=16000, return_tensors='pt')",
                "model.model.encoder(input_features).last_hidden_state",
                "model.generate(input_features, language, task, num_beams, do_sample=False, max_new_tokens, "
                "return_dict_in_generate=True).sequences",
            ],
        },
    )


COMPONENTS = {"whisper": build}


# --- the test tokenizer -------------------------------------------------------------------------------------


def bytes_to_unicode() -> dict:
    """GPT-2's byte -> printable character table, in its order (the first 256 vocabulary entries)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def corpus() -> list[str]:
    found = set()

    def walk(node):
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and 3 < len(node) < 400 and "<" not in node:
            found.add(node)

    walk(json.loads(GOLDEN.read_text()))
    return sorted(found)


def learn_merges(count: int) -> list[tuple[str, str]]:
    """Classic BPE over the corpus's pre-tokenised words; ties broken by the pair itself (deterministic)."""
    from tokenizers import pre_tokenizers

    pre = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    words = collections.Counter()
    for text in corpus():
        for piece, _ in pre.pre_tokenize_str(text):
            words[tuple(piece)] += 1
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, freq in words.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += freq
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = collections.Counter()
        for word, freq in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += freq
        words = merged
    assert len(merges) == count, len(merges)
    return merges


def build_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    table = bytes_to_unicode()
    vocab = {ch: i for i, ch in enumerate(table.values())}
    merges = learn_merges(MERGES)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    assert len(vocab) == 256 + MERGES, len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in special_tokens()])
    assert tok.get_vocab_size() == vocab_size(), tok.get_vocab_size()
    assert tok.token_to_id("Ġ") == 220
    return tok


def faster_whisper_tokenizer(checkout: pathlib.Path):
    spec = importlib.util.spec_from_file_location("fw_tokenizer", checkout / "faster_whisper" / "tokenizer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TOKENIZER_TEXTS = [
    "Hello world.",
    " Many years later, as he faced the firing squad.",
    "Café déjà vu — naïve Straße; 日本語 ♪♪ (laughs) [music]",
    "नमस्ते दुनिया",
    "  double  spaces\tand\nnewlines ",
    "it's a well-known 'quote' - isn't it?",
    "",
]


def build_tokenizer_fixture(out: pathlib.Path, checkout: pathlib.Path) -> None:
    import tokenizers

    out.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer()
    tok.save(str(out / "tokenizer.json"))
    tok = tokenizers.Tokenizer.from_file(str(out / "tokenizer.json"))
    fw = faster_whisper_tokenizer(checkout).Tokenizer(tok, multilingual=True, task="transcribe", language="en")
    doc = {
        "reference": "faster-whisper 1.2.1 (65882ee) faster_whisper/tokenizer.py Tokenizer(multilingual=True, task='transcribe', language='en')",
        "tokenizers": tokenizers.__version__,
        "vocab_size": tok.get_vocab_size(),
        "special": {
            "eot": fw.eot,
            "sot": fw.sot,
            "sot_prev": fw.sot_prev,
            "sot_lm": fw.sot_lm,
            "transcribe": fw.transcribe,
            "translate": fw.translate,
            "no_speech": fw.no_speech,
            "no_timestamps": fw.no_timestamps,
            "language_en": fw.language,
            "sot_sequence": fw.sot_sequence,
        },
        "non_speech_tokens": list(fw.non_speech_tokens),
        "encode": [{"text": t, "ids": fw.encode(t)} for t in TOKENIZER_TEXTS],
        "decode": [{"ids": ids, "text": fw.decode(ids)} for ids in ([fw.sot, 40, 41, fw.eot, 42], fw.encode(TOKENIZER_TEXTS[2]))],
    }
    (out / "expected.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {out} (vocab {tok.get_vocab_size()}, tokenizers {tokenizers.__version__})")


def main():
    parser = argparse.ArgumentParser(description="Whisper test tokenizer fixture")
    sub = parser.add_subparsers(dest="command", required=True)
    tok = sub.add_parser("tokenizer", help="build the test tokenizer and write faster-whisper's reference ids")
    tok.add_argument("--out", type=pathlib.Path, default=TOKENIZER_DIR)
    tok.add_argument("--faster-whisper", type=pathlib.Path, required=True, help="a faster-whisper checkout at v1.2.1")
    args = parser.parse_args()
    build_tokenizer_fixture(args.out, args.faster_whisper)


if __name__ == "__main__":
    main()
