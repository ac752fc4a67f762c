//! Parity glue for the MelBandRoFormer component (`tools/parity/components/mel_band_roformer.py`): the band
//! layout, one forward pass (with its band-split and transformer outputs), and the chunked overlap-add
//! inference over a multi-chunk input, all through the real loader from `MelBandRoformer_fp16.safetensors`.

use std::ops::ControlFlow;
use std::sync::Arc;

use candle_core::{DType, Tensor};

use super::{Cap, Case, Component, TensorReport};
use crate::mel_band_roformer::{self, chunked_inference};
use crate::weights::Checkpoint;

const F32: &str = "f32 parity (postprocessing-spec 8.6)";
const CAPS: &[Cap] = &[
    Cap { tensor: "freq_indices", max: 0.0, source: "integer band layout" },
    Cap { tensor: "num_bands_per_freq", max: 0.0, source: "integer band layout" },
    Cap { tensor: "features", max: 1e-5, source: "STFT features, f32 FFT order" },
    Cap { tensor: "embedded", max: 2e-5, source: "band-split embedding, f32 FFT order" },
    Cap { tensor: "vocals", max: 1e-5, source: F32 },
    Cap { tensor: "chunked", max: 1e-5, source: F32 },
];

pub(super) const COMPONENTS: &[Component] =
    &[Component { name: "mel_band_roformer", dtype: DType::F32, caps: CAPS, run }];

fn run(case: &Case) -> candle_core::Result<Vec<TensorReport>> {
    let extra = &case.meta.extra;
    let file = extra["checkpoint"].as_str().unwrap_or(mel_band_roformer::CHECKPOINT_FILE);
    let checkpoint = Arc::new(Checkpoint::open(&[case.dir.join(file)])?);
    let model = mel_band_roformer::load(&checkpoint, DType::F32, case.device())?;
    let channels = model.config().audio_channels();

    let as_tensor = |values: Vec<usize>| {
        let n = values.len();
        Tensor::from_vec(values.into_iter().map(|v| v as i64).collect::<Vec<_>>(), n, case.device())
    };
    let mut reports = vec![
        case.check("freq_indices", &as_tensor(model.layout().freq_indices(channels))?)?,
        case.check("num_bands_per_freq", &as_tensor(model.layout().bands_per_freq())?)?,
    ];

    let parts = model.forward_parts(case.input("audio")?)?;
    reports.push(case.check("features", &parts.features)?);
    reports.push(case.check("embedded", &parts.embedded)?);
    reports.push(case.check("vocals", &parts.vocals)?);

    let Some(chunk_size) = extra["chunk_size"].as_u64() else {
        candle_core::bail!("case {}: `extra.chunk_size` is missing", case.name())
    };
    let long: Vec<Vec<f32>> = case.input("long_audio")?.to_dtype(DType::F32)?.to_vec2()?;
    let Some(chunked) =
        chunked_inference(&model, &long, chunk_size as usize, |_, _| ControlFlow::Continue(()))?
    else {
        candle_core::bail!("case {}: chunked inference stopped early", case.name())
    };
    let n = long[0].len();
    reports.push(case.check("chunked", &Tensor::from_vec(chunked.concat(), (channels, n), case.device())?)?);
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use crate::parity::run_case;

    fn fixture(case: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(case)
    }

    /// Copy a case, add `delta` to the first fp16 value of `key` in its checkpoint (metadata kept).
    fn perturbed(case: &str, key: &str, delta: f32) -> PathBuf {
        let dst = std::env::temp_dir().join(format!("pb-parity-melband-{}-{case}", std::process::id()));
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(fixture(case)).unwrap() {
            let path = entry.unwrap().path();
            std::fs::copy(&path, dst.join(path.file_name().unwrap())).unwrap();
        }
        let path = dst.join(crate::mel_band_roformer::CHECKPOINT_FILE);
        let bytes = std::fs::read(&path).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .map(|(name, view)| (name.to_string(), view.dtype(), view.shape().to_vec(), view.data().to_vec()))
            .collect();
        let target = owned.iter_mut().find(|(name, ..)| name == key).unwrap_or_else(|| panic!("no {key}"));
        assert_eq!(target.1, safetensors::Dtype::F16);
        let v = half::f16::from_le_bytes([target.3[0], target.3[1]]).to_f32() + delta;
        target.3[..2].copy_from_slice(&half::f16::from_f32(v).to_le_bytes());
        let views: Vec<(String, safetensors::tensor::TensorView)> = owned
            .iter()
            .map(|(n, d, s, data)| {
                (n.clone(), safetensors::tensor::TensorView::new(*d, s.clone(), data).unwrap())
            })
            .collect();
        std::fs::write(&path, safetensors::serialize(views, meta.metadata().clone()).unwrap()).unwrap();
        dst
    }

    #[test]
    fn committed_cases_pass_and_a_perturbed_weight_fails() {
        for (case, key) in [
            ("mel_band_roformer-tiny-s0", "layers.1.0.layers.0.0.to_qkv.weight"),
            ("mel_band_roformer-tiny-s0", "mask_estimators.0.to_freqs.3.0.4.bias"),
            ("mel_band_roformer-tiny2-s0", "band_split.to_features.2.0.gamma"),
            ("mel_band_roformer-tiny2-s0", "layers.0.0.layers.1.0.rotary_embed.freqs"),
        ] {
            let reports = run_case(&fixture(case)).unwrap();
            assert_eq!(reports.len(), 6, "{case}: {reports:?}");
            assert!(reports.iter().all(|r| r.pass), "{case} should pass unmodified: {reports:?}");
            let dir = perturbed(case, key, 0.05);
            let reports = run_case(&dir).unwrap();
            std::fs::remove_dir_all(&dir).ok();
            let failed: Vec<&str> = reports.iter().filter(|r| !r.pass).map(|r| r.tensor.as_str()).collect();
            assert!(
                failed.contains(&"vocals") && failed.contains(&"chunked"),
                "{case}: perturbing {key}: {reports:?}"
            );
        }
    }
}
