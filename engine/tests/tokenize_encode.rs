//! Prompt → tokens → Gemma hidden states through the engine's file loading, against the reference case
//! `tests/fixtures/parity/gemma-text-tiny-s0` (tiny random Gemma 3, test tokenizer, f32).

use std::path::{Path, PathBuf};

use promptbook_engine::text::{EncoderOptions, GemmaFiles, TextEncoder};
use promptbook_models::candle::{DType, Device, Tensor};
use promptbook_models::gemma::{Available, MemoryMode};
use promptbook_models::parity::Case;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

#[test]
fn prompt_to_hidden_states_matches_the_reference() {
    let case = fixtures().join("parity/gemma-text-tiny-s0");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(case.join("case.json")).unwrap()).unwrap();
    let prompt = meta["config"]["prompts"][0].as_str().unwrap();
    let max_length = meta["config"]["max_length"].as_u64().unwrap() as usize;

    let mut files = GemmaFiles::in_dir(&case).unwrap();
    files.tokenizer = fixtures().join("tokenizer/tokenizer.json");
    let options = EncoderOptions { max_length, mode: Some(MemoryMode::CPU_F32) };
    let encoder = TextEncoder::load_with(&files, &options, Available::default()).unwrap();
    assert_eq!(encoder.mode_choice().mode, MemoryMode::CPU_F32);
    let encoded = encoder.encode(prompt).unwrap();

    let inputs =
        promptbook_models::candle::safetensors::load(case.join("inputs.safetensors"), &Device::Cpu).unwrap();
    let want_ids =
        inputs["input_ids"].to_dtype(DType::U32).unwrap().flatten_all().unwrap().to_vec1::<u32>().unwrap();
    assert_eq!(encoded.tokens.input_ids, want_ids);
    // The parity runner's metric and tolerance (capped by the gemma-text component).
    let reference = Case::load(&case).unwrap();
    assert_eq!(encoded.hidden_states.len(), reference.expected.len());
    for (i, got) in encoded.hidden_states.iter().enumerate() {
        let report = reference.check(&format!("hs.{i}"), got).unwrap();
        assert!(report.pass, "{report}");
    }
    let mask: Tensor = encoded.attention_mask;
    assert_eq!(mask.dims(), &[1, max_length]);
}

#[test]
fn gpu_mode_without_gpu_is_refused_clearly() {
    if promptbook_models::candle::utils::cuda_is_available()
        || promptbook_models::candle::utils::metal_is_available()
    {
        return;
    }
    let case = fixtures().join("parity/gemma-text-tiny-s0");
    let mut files = GemmaFiles::in_dir(&case).unwrap();
    files.tokenizer = fixtures().join("tokenizer/tokenizer.json");
    let options = EncoderOptions { max_length: 16, mode: Some(MemoryMode::GPU_Q8_0) };
    let err = TextEncoder::load_with(&files, &options, Available::default()).unwrap_err().to_string();
    assert!(err.contains("gpu-q8_0") && err.contains("cpu-"), "{err}");
}
