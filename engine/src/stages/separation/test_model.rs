//! A tiny random MelBandRoFormer in the released file's layout, for tests and demos: the real file name in the
//! store's folder (`DIR/MelBandRoFormer_comfy/MelBandRoformer_fp16.safetensors`), the real key names, fp16, the
//! real n_fft and 60 mel bands at 44.1 kHz, but a width of 8 and a hop of 4 × 441 (201 frames per 8 s chunk
//! instead of 801, so the time attention is 16× cheaper), so `promptbook separate` runs on any CPU in seconds,
//! even unoptimised. Its "dialogue" is a random mask of the input: only the plumbing is real.

use std::path::{Path, PathBuf};

use promptbook_models::candle::{DType, Tensor};
use promptbook_models::mel_band_roformer::{CHECKPOINT_FILE, Config, MelBandRoformer};

use crate::test_weights::{TestModelError, new_varmap, randomised, save};

/// The folder the store looks the separator up in: the repository's short name.
pub const SEPARATOR_DIR: &str = "MelBandRoFormer_comfy";

/// The tiny config: the released model's n_fft and bands, a coarser hop (it still divides the 8 s chunk), a
/// narrow network.
pub fn test_separator_config() -> Config {
    Config {
        stft_hop_length: 4 * 441,
        dim: 8,
        depth: 1,
        heads: 2,
        dim_head: 4,
        mask_estimator_depth: 1,
        ..Config::vocals()
    }
}

/// Write the tiny separator under `dir`; returns its path and parameter count.
pub fn make_test_separator(dir: &Path, seed: u64) -> Result<(PathBuf, u64), TestModelError> {
    let cfg = test_separator_config();
    let (varmap, vb) = new_varmap();
    MelBandRoformer::new(&cfg, vb)?;
    let mut tensors = randomised(&varmap, seed, str::to_string)?;
    for (name, tensor) in &mut tensors {
        if name.ends_with("rotary_embed.freqs") {
            // `RotaryEmbedding(dim_head)`'s own frequencies, θ = 10000.
            let half = cfg.dim_head / 2;
            let freqs: Vec<f32> =
                (0..half).map(|i| 10_000f32.powf(-((2 * i) as f32) / cfg.dim_head as f32)).collect();
            *tensor = Tensor::from_vec(freqs, half, tensor.device())?;
        }
        *tensor = tensor.to_dtype(DType::F16)?;
    }
    let path = dir.join(SEPARATOR_DIR).join(CHECKPOINT_FILE);
    let config = serde_json::to_value(&cfg)?;
    let params = save(&path, &tensors, Some(&config))?;
    Ok((path, params))
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;
    use crate::audio::AudioBuffer;
    use crate::device::DeviceKind;
    use crate::stages::separation::Separator;
    use crate::store::{HubSettings, Manifest, Source, Store};

    #[test]
    fn the_store_finds_it_and_the_stems_sum_to_the_input() {
        let dir = std::env::temp_dir().join(format!("pb-test-separator-{}", std::process::id()));
        make_test_separator(&dir, 3).unwrap();
        let store = Store::new(Source::ModelsDir(dir.clone()), HubSettings::from_env(), Manifest::builtin());
        let separator = Separator::from_store(&store, DeviceKind::Cpu).unwrap();
        // 3 s of mono noise-like audio at 22.05 kHz: resampled up, one model chunk... two, with the overlap.
        let samples: Vec<f32> =
            (0..66_150).map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * 0.4).collect();
        let audio = AudioBuffer::mono(22_050, samples).unwrap();
        let mut calls = Vec::new();
        let stems = separator
            .separate(&audio, |done, total| {
                calls.push((done, total));
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(calls, vec![(0, 1), (1, 1)]);
        for stem in [&stems.dialogue, &stems.sfx] {
            assert_eq!((stem.sample_rate(), stem.frames(), stem.num_channels()), (22_050, 66_150, 1));
        }
        let dialogue = &stems.dialogue.channels()[0];
        let energy: f32 = dialogue.iter().map(|v| v * v).sum();
        assert!(energy.is_finite() && energy > 0.0, "the dialogue stem is silent or not finite: {energy}");
        for ((x, d), s) in audio.channels()[0].iter().zip(dialogue).zip(&stems.sfx.channels()[0]) {
            assert!((d + s - x).abs() <= 1e-6, "{d} + {s} != {x}");
        }
        // Breaking off in the progress callback cancels.
        let cancelled = separator.separate(&audio, |_, _| ControlFlow::Break(()));
        assert!(matches!(cancelled, Err(crate::stages::separation::SeparationError::Cancelled)));
        std::fs::remove_dir_all(&dir).ok();
    }
}
