//! The Whisper parity comparison can fail: with one decoder weight perturbed the logits and some decoded
//! sequence must FAIL (tokens are compared exactly), and with the front-end config changed the features must.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use promptbook_models::parity::{TensorReport, run_case};
use safetensors::SafeTensors;
use safetensors::tensor::TensorView;

fn copy_case(case: &str, tag: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(case);
    let dst = std::env::temp_dir().join(format!("pb-parity-whisper-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dst).ok();
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dst.join(path.file_name().unwrap())).unwrap();
    }
    dst
}

/// Multiply every f32 value of tensor `key` in `file` by `factor`.
fn scale_tensor(file: &Path, key: &str, factor: f32) {
    let bytes = std::fs::read(file).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name.to_string(), view.dtype(), view.shape().to_vec(), view.data().to_vec()))
        .collect();
    let (_, _, _, data) = owned.iter_mut().find(|(name, ..)| name == key).unwrap();
    for chunk in data.chunks_exact_mut(4) {
        let v = f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]) * factor;
        chunk.copy_from_slice(&v.to_le_bytes());
    }
    let views: Vec<(String, TensorView)> =
        owned.iter().map(|(n, d, s, b)| (n.clone(), TensorView::new(*d, s.clone(), b).unwrap())).collect();
    std::fs::write(file, safetensors::serialize(views, None::<HashMap<String, String>>).unwrap()).unwrap();
}

fn failed(reports: &[TensorReport]) -> Vec<String> {
    reports.iter().filter(|r| !r.pass).map(|r| r.tensor.clone()).collect()
}

#[test]
fn committed_whisper_cases_pass_unchanged() {
    let dir = copy_case("whisper-tiny-s0", "ok");
    let reports = run_case(&dir).unwrap();
    assert!(reports.len() >= 9, "{reports:?}");
    assert!(failed(&reports).is_empty(), "{:?}", failed(&reports));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_perturbed_decoder_weight_fails_the_logits_and_the_tokens() {
    let dir = copy_case("whisper-tiny-s0", "weight");
    scale_tensor(&dir.join("model.safetensors"), "model.decoder.layers.1.fc2.weight", 1.5);
    let failures = failed(&run_case(&dir).unwrap());
    assert!(failures.iter().any(|t| t == "prompt_logits"), "{failures:?}");
    assert!(failures.iter().any(|t| t.starts_with("greedy") || t.starts_with("beam")), "{failures:?}");
    assert!(!failures.iter().any(|t| t == "input_features" || t == "encoder_hidden"), "{failures:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_different_front_end_fails_the_features() {
    let dir = copy_case("whisper-tiny-s0", "front");
    let path = dir.join("preprocessor_config.json");
    let mut pre: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    pre["n_fft"] = 512.into();
    std::fs::write(&path, pre.to_string()).unwrap();
    let failures = failed(&run_case(&dir).unwrap());
    assert!(failures.iter().any(|t| t == "input_features"), "{failures:?}");
    std::fs::remove_dir_all(&dir).ok();
}
