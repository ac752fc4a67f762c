//! The parity proof can fail: a committed case with one weight perturbed must FAIL (diffusion, Gemma, the
//! text chain), as must a NaN in the middle of an output, an expected tensor nothing compares, a tolerance
//! looser than the component's cap, and a folder without cases; a mis-shaped tensor must be an error naming
//! the key and both shapes.

// Helpers below are test code too: a failure there is a broken fixture and should panic loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use promptbook_models::candle::Device;
use promptbook_models::parity::TensorReport;
use promptbook_models::parity::{Case, run_all, run_case};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

fn fixture(case: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(case)
}

/// Copy a case directory to a fresh temporary one.
fn copy_case(case: &str, tag: &str) -> PathBuf {
    let dst = std::env::temp_dir().join(format!("pb-parity-{tag}-{}", std::process::id()));
    std::fs::remove_dir_all(&dst).ok();
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(fixture(case)).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dst.join(path.file_name().unwrap())).unwrap();
    }
    dst
}

/// Rewrite `file` with `edit` applied to tensor `key` (its dtype, shape and raw bytes), keeping the metadata.
fn rewrite(file: &Path, key: &str, edit: impl FnOnce(Dtype, &mut Vec<usize>, &mut Vec<u8>)) {
    let bytes = std::fs::read(file).unwrap();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| (name.to_string(), view.dtype(), view.shape().to_vec(), view.data().to_vec()))
        .collect();
    let target = owned.iter_mut().find(|(name, ..)| name == key).unwrap_or_else(|| panic!("no tensor {key}"));
    edit(target.1, &mut target.2, &mut target.3);
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(name, dtype, shape, data)| {
            (name.clone(), TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    let metadata: Option<HashMap<String, String>> = meta.metadata().clone();
    std::fs::write(file, safetensors::serialize(views, metadata).unwrap()).unwrap();
}

/// Apply `f` to element `index` of a BF16 or F32 tensor (`None`: the middle element).
fn edit_element(
    index: Option<usize>,
    f: impl FnOnce(f32) -> f32,
) -> impl FnOnce(Dtype, &mut Vec<usize>, &mut Vec<u8>) {
    move |dtype, shape, data| {
        let n: usize = shape.iter().product();
        let i = index.unwrap_or(n / 2);
        match dtype {
            Dtype::BF16 => {
                let at = 2 * i;
                let v = f(half::bf16::from_le_bytes([data[at], data[at + 1]]).to_f32());
                data[at..at + 2].copy_from_slice(&half::bf16::from_f32(v).to_le_bytes());
            }
            Dtype::F32 => {
                let at = 4 * i;
                let v = f(f32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]));
                data[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
            other => panic!("cannot edit {other:?}"),
        }
    }
}

/// Add `delta` to the first element of a BF16 or F32 tensor.
fn nudge(delta: f32) -> impl FnOnce(Dtype, &mut Vec<usize>, &mut Vec<u8>) {
    edit_element(Some(0), move |v| v + delta)
}

/// The Gemma shard of a case that holds `key` (from its `model.safetensors.index.json`).
fn shard_of(dir: &Path, key: &str) -> String {
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model.safetensors.index.json")).unwrap())
            .unwrap();
    index["weight_map"][key].as_str().unwrap_or_else(|| panic!("{key} not in the index")).to_string()
}

/// Rewrite `case.json` with `edit` applied.
fn edit_case_json(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("case.json");
    let mut meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut meta);
    std::fs::write(&path, serde_json::to_string_pretty(&meta).unwrap()).unwrap();
}

fn failures(dir: &Path) -> Vec<String> {
    run_case(dir).unwrap().into_iter().filter(|r| !r.pass).map(|r| r.tensor).collect()
}

#[test]
fn perturbed_weights_fail_the_comparison() {
    let cases = [
        (
            "transformer-tiny-s0",
            "scenema-audio-transformer.safetensors",
            "velocity_model.transformer_blocks.1.audio_ff.net.2.weight",
        ),
        (
            "sampler-tiny-s0",
            "scenema-audio-transformer.safetensors",
            "velocity_model.transformer_blocks.0.audio_prompt_scale_shift_table",
        ),
        (
            "transformer_int8-tiny-s0",
            "scenema-audio-transformer-int8.safetensors",
            "velocity_model.audio_proj_out.weight.scale",
        ),
        (
            "connector-tiny-s0",
            "scenema-audio-pipeline.safetensors",
            "model.diffusion_model.audio_embeddings_connector.transformer_1d_blocks.0.attn1.to_q.weight",
        ),
    ];
    for (i, (case, file, key)) in cases.into_iter().enumerate() {
        let dir = copy_case(case, &format!("perturb{i}"));
        assert!(failures(&dir).is_empty(), "{case}: the untouched copy must pass");
        rewrite(&dir.join(file), key, nudge(0.05));
        let failed = failures(&dir);
        assert!(!failed.is_empty(), "{case}: perturbing {key} went unnoticed");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn perturbed_gemma_and_text_chain_weights_fail_the_comparison() {
    // (case, key, shard file or None for the Gemma shard that holds it)
    let cases: [(&str, &str, Option<&str>); 4] = [
        ("gemma-text-tiny-s0", "language_model.model.layers.2.self_attn.o_proj.weight", None),
        ("gemma-text-tiny2-s0", "language_model.model.layers.0.mlp.down_proj.weight", None),
        ("text_chain-tiny-s0", "language_model.model.layers.1.self_attn.q_proj.weight", None),
        (
            "text_chain-tiny2-s0",
            "model.diffusion_model.audio_embeddings_connector.transformer_1d_blocks.0.ff.net.2.weight",
            Some("scenema-audio-pipeline.safetensors"),
        ),
    ];
    for (i, (case, key, file)) in cases.into_iter().enumerate() {
        let dir = copy_case(case, &format!("perturb-text{i}"));
        assert!(failures(&dir).is_empty(), "{case}: the untouched copy must pass");
        let file = file.map_or_else(|| shard_of(&dir, key), str::to_string);
        rewrite(&dir.join(file), key, nudge(0.05));
        assert!(!failures(&dir).is_empty(), "{case}: perturbing {key} went unnoticed");
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn one_nan_in_the_middle_of_an_output_fails() {
    // In the reference's output ...
    let dir = copy_case("vocoder_bwe-tiny-s0", "nan-expected");
    rewrite(&dir.join("expected.safetensors"), "wave", edit_element(None, |_| f32::NAN));
    assert_eq!(failures(&dir), ["wave"]);
    std::fs::remove_dir_all(&dir).ok();
    // ... and in ours, through a weight.
    let dir = copy_case("audio_vae_decoder-tiny-s0", "nan-weight");
    rewrite(
        &dir.join("scenema-audio-pipeline-audio.safetensors"),
        "audio_vae.decoder.conv_out.conv.weight",
        edit_element(None, |_| f32::NAN),
    );
    let reports = run_case(&dir).unwrap();
    assert!(reports.iter().all(|r| !r.pass), "{reports:?}");
    assert!(reports.iter().all(|r| r.problem.as_deref().is_some_and(|p| p.contains("NaN"))), "{reports:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn an_expected_tensor_nothing_compares_fails() {
    let dir = copy_case("connector-tiny-s0", "uncompared");
    let path = dir.join("expected.safetensors");
    let mut expected = promptbook_models::candle::safetensors::load(&path, &Device::Cpu).unwrap();
    let extra = expected["features"].clone();
    expected.insert("features_after_block_0".into(), extra);
    promptbook_models::candle::safetensors::save(&expected, &path).unwrap();
    let reports = run_case(&dir).unwrap();
    let failed: Vec<&TensorReport> = reports.iter().filter(|r| !r.pass).collect();
    assert_eq!(failed.len(), 1, "{reports:?}");
    assert_eq!(failed[0].tensor, "features_after_block_0");
    assert!(failed[0].problem.as_deref().is_some_and(|p| p.contains("never compared")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_tolerance_looser_than_the_cap_does_not_pass() {
    let dir = copy_case("transformer-tiny-s0", "loose");
    edit_case_json(&dir, |meta| {
        meta["tolerance"] = 0.5.into();
        meta["tolerances"] = serde_json::json!({"velocity_0": 0.5, "x0_0": 0.5});
    });
    let case = Case::load(&dir).unwrap();
    assert_eq!(case.tolerance("velocity_0"), Some(1e-5));
    assert_eq!(case.tolerance("x0_1"), Some(1e-4));
    assert_eq!(case.tolerance("not_an_output"), None);
    // An error of ~1e-3 would pass at 0.5; the caps still fail it.
    rewrite(
        &dir.join("scenema-audio-transformer.safetensors"),
        "velocity_model.audio_proj_out.bias",
        nudge(0.01),
    );
    let failed = failures(&dir);
    assert!(failed.contains(&"velocity_0".to_string()), "{failed:?}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn no_cases_and_unknown_components_fail() {
    let empty = std::env::temp_dir().join(format!("pb-parity-empty-{}", std::process::id()));
    std::fs::create_dir_all(empty.join("not-a-case")).unwrap();
    let summary = run_all(&empty);
    assert_eq!(summary.cases, 0);
    assert!(!summary.passed());
    assert!(summary.failures()[0].contains("no case.json"), "{:?}", summary.failures());
    std::fs::remove_dir_all(&empty).ok();

    let dir = copy_case("connector-tiny-s0", "unknown");
    edit_case_json(&dir, |meta| meta["component"] = "connector_v9".into());
    let summary = run_all(&dir);
    assert!(!summary.passed());
    assert!(summary.errors[0].contains("connector_v9"), "{:?}", summary.errors);
    edit_case_json(&dir, |meta| {
        meta["component"] = "connector".into();
        meta["dtype"] = "f16".into();
    });
    assert!(run_case(&dir).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mis_shaped_tensor_is_an_error_naming_key_and_shapes() {
    let dir = copy_case("transformer-tiny-s0", "shape");
    let key = "velocity_model.transformer_blocks.0.audio_attn1.to_k.bias";
    rewrite(&dir.join("scenema-audio-transformer.safetensors"), key, |_, shape, data| {
        shape[0] -= 1;
        data.truncate(data.len() - 2);
    });
    let err = match run_case(&dir) {
        Ok(_) => panic!("a mis-shaped tensor loaded"),
        Err(err) => err.to_string(),
    };
    assert!(err.contains(key) && err.contains("[15]") && err.contains("[16]"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
