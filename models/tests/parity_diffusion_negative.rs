//! The diffusion parity comparison can fail: a committed case with one weight perturbed must FAIL, and a
//! mis-shaped tensor must be an error naming the key and both shapes.

// Helpers below are test code too: a failure there is a broken fixture and should panic loudly.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use promptbook_models::parity::run_case;
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

/// Add `delta` to the first element of a BF16 or F32 tensor.
fn nudge(delta: f32) -> impl FnOnce(Dtype, &mut Vec<usize>, &mut Vec<u8>) {
    move |dtype, _, data| match dtype {
        Dtype::BF16 => {
            let v = half::bf16::from_le_bytes([data[0], data[1]]).to_f32() + delta;
            data[..2].copy_from_slice(&half::bf16::from_f32(v).to_le_bytes());
        }
        Dtype::F32 => {
            let v = f32::from_le_bytes([data[0], data[1], data[2], data[3]]) + delta;
            data[..4].copy_from_slice(&v.to_le_bytes());
        }
        other => panic!("cannot nudge {other:?}"),
    }
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
