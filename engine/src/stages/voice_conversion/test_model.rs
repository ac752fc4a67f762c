//! Tiny random SeedVC files for the test model: every file `convert-voice` (and later the VC stage) reads, in
//! the real layout and formats — `Seed-VC/` (the DiT + length regulator torch archive with its YAML),
//! `campplus/` (a torch state dict with the original `xvector.dense.*` keys), `bigvgan_v2_22khz_80band_256x/`
//! (`config.json` + a torch archive with weight-norm `weight_g`/`weight_v`) — at the sizes of the `tiny` SeedVC
//! parity case. The content encoder reads the test model's one tiny Whisper-small
//! ([`make_test_whisper`](crate::stages::validation::test_model::make_test_whisper), which `qc` also transcribes with). The
//! converted audio is noise-like.

use std::path::{Path, PathBuf};

use promptbook_models::candle::{Device, Tensor};
use promptbook_models::pth::{self, PthValue};
use promptbook_models::seedvc::{self, Config, campplus, config as seedvc_config};

use crate::test_weights::{TestModelError, new_varmap, randomised, write};

/// The tiny Seed-VC preset (the `tiny` parity case's YAML).
const SEEDVC_CONFIG: &str = include_str!("test_model.yml");
/// Folder names under the models dir: the repositories' short names.
pub const SEEDVC_DIR: &str = "Seed-VC";
pub const CAMPPLUS_DIR: &str = "campplus";
pub const BIGVGAN_DIR: &str = "bigvgan_v2_22khz_80band_256x";

fn bigvgan_config() -> serde_json::Value {
    serde_json::json!({
        "resblock": "1", "num_gpus": 0, "batch_size": 32,
        "upsample_rates": [8, 8, 4], "upsample_kernel_sizes": [16, 16, 8], "upsample_initial_channel": 16,
        "resblock_kernel_sizes": [3, 5], "resblock_dilation_sizes": [[1, 3], [2]],
        "use_tanh_at_final": false, "use_bias_at_final": false,
        "activation": "snakebeta", "snake_logscale": true,
        "num_mels": 8, "num_freq": 1025, "n_fft": 1024, "hop_size": 256, "win_size": 1024,
        "sampling_rate": 22050, "fmin": 0, "fmax": null, "fmax_for_loss": null
    })
}

/// `P.weight` of a weight-normed layer as the pair torch stores: `weight_g = ‖weight‖` per leading index,
/// `weight_v = weight`.
fn weight_norm_pair(name: &str, w: &Tensor) -> Result<Vec<(String, Tensor)>, TestModelError> {
    let stem = name.strip_suffix(".weight").unwrap_or(name);
    let rows = w.dim(0)?;
    let mut g_shape = vec![1; w.rank()];
    g_shape[0] = rows;
    let g = w.reshape((rows, ()))?.sqr()?.sum_keepdim(1)?.sqrt()?.reshape(g_shape)?;
    Ok(vec![(format!("{stem}.weight_g"), g), (format!("{stem}.weight_v"), w.clone())])
}

fn dict(tensors: Vec<(String, Tensor)>) -> PthValue {
    PthValue::Dict(tensors.into_iter().map(|(k, t)| (k, PthValue::Tensor(t))).collect())
}

/// BigVGAN's stored anti-aliasing filter (`kaiser_sinc_filter1d(0.25, 0.3, 12)`), `(1, 1, 12)`.
fn antialias_filter() -> Result<Tensor, TestModelError> {
    let taps = promptbook_models::dsp::kaiser_sinc_filter(0.25, 0.3, 12);
    Ok(Tensor::from_vec(taps, (1, 1, 12), &Device::Cpu)?)
}

/// `TimestepEmbedder.freqs`: `exp(-ln(10000) · k / 128)`.
fn timestep_freqs() -> Result<Tensor, TestModelError> {
    let f: Vec<f32> = (0..128).map(|k| (-(10000f64.ln()) * k as f64 / 128.0).exp() as f32).collect();
    Ok(Tensor::from_vec(f, 128, &Device::Cpu)?)
}

fn save_pth(path: &Path, root: &PthValue) -> Result<u64, TestModelError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|source| TestModelError::Io { path: parent.to_path_buf(), source })?;
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "archive".into());
    pth::save(path, &stem, root)
        .map_err(|e| TestModelError::Save { path: path.to_path_buf(), message: e.to_string() })?;
    fn count(v: &PthValue) -> u64 {
        match v {
            PthValue::Dict(items) => items.iter().map(|(_, v)| count(v)).sum(),
            PthValue::Tensor(t) => t.elem_count() as u64,
        }
    }
    Ok(count(root))
}

/// Write the tiny SeedVC, CAMPPlus and BigVGAN files under `dir` (created if needed), deterministic in `seed`; returns
/// every file with its parameter count (0 for text files).
pub fn make_seedvc_test_model(dir: &Path, seed: u64) -> Result<Vec<(PathBuf, u64)>, TestModelError> {
    let cfg = Config::from_yaml(SEEDVC_CONFIG)?;
    let mut files = Vec::new();

    // DiT + length regulator: {"net": {"cfm": {...}, "length_regulator": {...}}}, weight norm on the WaveNet
    // convs and the final linear, the timestep frequency buffers stored.
    let (varmap, vb) = new_varmap();
    seedvc::Dit::new(&cfg.dit, &cfg.wavenet, vb.pp("estimator"))?;
    let mut cfm = Vec::new();
    for (name, t) in randomised(&varmap, seed, str::to_string)? {
        let weight_normed =
            name.starts_with("estimator.wavenet.") || name == "estimator.final_layer.linear.weight";
        if weight_normed && name.ends_with(".weight") {
            cfm.extend(weight_norm_pair(&name, &t)?);
        } else {
            cfm.push((name, t));
        }
    }
    cfm.push(("estimator.t_embedder.freqs".into(), timestep_freqs()?));
    cfm.push(("estimator.t_embedder2.freqs".into(), timestep_freqs()?));
    let (varmap, vb) = new_varmap();
    seedvc::LengthRegulator::new(&cfg.length_regulator, vb)?;
    let lr = randomised(&varmap, seed.wrapping_add(1), str::to_string)?;
    let root = PthValue::Dict(vec![(
        "net".into(),
        PthValue::Dict(vec![("cfm".into(), dict(cfm)), ("length_regulator".into(), dict(lr))]),
    )]);
    let path = dir.join(SEEDVC_DIR).join(seedvc_config::CHECKPOINT_FILE);
    let params = save_pth(&path, &root)?;
    files.push((path, params));
    let path = dir.join(SEEDVC_DIR).join(seedvc_config::CONFIG_FILE);
    write(&path, SEEDVC_CONFIG.as_bytes())?;
    files.push((path, 0));

    // CAMPPlus at the parity case's tiny sizes, stored with the pre-remap `xvector.dense.*` names.
    let cp_cfg = campplus::Config {
        feat_dim: 80,
        m_channels: 8,
        fcm_blocks: [2, 2],
        init_channels: 8,
        growth_rate: 4,
        bn_channels: 8,
        block_layers: vec![1, 2, 1],
        embedding_size: cfg.dit.style_dim,
    };
    let (varmap, vb) = new_varmap();
    campplus::CampPlus::new(&cp_cfg, vb)?;
    let rename = |n: &str| if n.starts_with("dense.") { format!("xvector.{n}") } else { n.to_string() };
    let cp = randomised(&varmap, seed.wrapping_add(2), rename)?;
    let path = dir.join(CAMPPLUS_DIR).join(campplus::CHECKPOINT_FILE);
    let params = save_pth(&path, &dict(cp))?;
    files.push((path, params));

    // BigVGAN: every conv weight-normed, the activations' filters stored; {"generator": {...}}.
    let big_json = bigvgan_config();
    let big_cfg = seedvc::bigvgan::Config::from_json(&big_json)?;
    let (varmap, vb) = new_varmap();
    promptbook_models::vocoder::Generator::with_layout(
        &big_cfg.generator,
        true,
        promptbook_models::vocoder::Layout::BigVgan { num_mels: big_cfg.num_mels },
        vb,
    )?;
    let mut generator = Vec::new();
    let mut activations = std::collections::BTreeSet::new();
    for (name, t) in randomised(&varmap, seed.wrapping_add(3), str::to_string)? {
        if let Some(act) = name.strip_suffix(".act.alpha") {
            activations.insert(act.to_string());
        }
        if name == "conv_post.weight" {
            // Keep the random vocoder's output inside its final clamp (a clipped square wave rings after
            // resampling).
            generator.extend(weight_norm_pair(&name, &(t * 0.05)?)?);
        } else if name.ends_with(".weight") {
            generator.extend(weight_norm_pair(&name, &t)?);
        } else if name.ends_with(".act.alpha") || name.ends_with(".act.beta") {
            // Log-scale SnakeBeta parameters near 0, as trained ones are.
            generator.push((name, (t.affine(1.0, -1.0)? * 0.2)?));
        } else {
            generator.push((name, t));
        }
    }
    for act in activations {
        generator.push((format!("{act}.upsample.filter"), antialias_filter()?));
        generator.push((format!("{act}.downsample.lowpass.filter"), antialias_filter()?));
    }
    let path = dir.join(BIGVGAN_DIR).join(seedvc::bigvgan::CONFIG_FILE);
    write(&path, serde_json::to_string_pretty(&big_json)?.as_bytes())?;
    files.push((path, 0));
    let path = dir.join(BIGVGAN_DIR).join(seedvc::bigvgan::CHECKPOINT_FILE);
    let params = save_pth(&path, &PthValue::Dict(vec![("generator".into(), dict(generator))]))?;
    files.push((path, params));

    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::AudioBuffer;
    use crate::stages::validation::test_model::make_test_whisper;
    use crate::stages::voice_conversion::{VoiceConversionFiles, VoiceConversionSettings, VoiceConverter};
    use crate::store::{HubSettings, Manifest, Source, Store};

    fn tone(sr: u32, secs: f64, hz: f64) -> AudioBuffer {
        let n = (f64::from(sr) * secs) as usize;
        let x = (0..n)
            .map(|i| (0.3 * (std::f64::consts::TAU * hz * i as f64 / f64::from(sr)).sin()) as f32)
            .collect();
        AudioBuffer::mono(sr, x).unwrap()
    }

    #[test]
    fn the_tiny_files_load_in_the_real_layout_and_convert() {
        let dir = std::env::temp_dir().join(format!("pb-test-model-seedvc-{}", std::process::id()));
        let a = make_seedvc_test_model(&dir.join("a"), 3).unwrap();
        make_test_whisper(&dir.join("a"), 3).unwrap();
        let b = make_seedvc_test_model(&dir.join("b"), 3).unwrap();
        for ((pa, _), (pb, _)) in a.iter().zip(&b) {
            assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap(), "{}", pa.display());
        }
        let store =
            Store::new(Source::ModelsDir(dir.join("a")), HubSettings::from_env(), Manifest::builtin());
        let files = VoiceConversionFiles::locate(&store).unwrap();
        let converter = VoiceConverter::load(&files, Device::Cpu).unwrap();
        // The loader reports what nothing took: only the `num_batches_tracked`-free tiny files, so nothing.
        assert!(converter.model().load_report().skipped.is_empty(), "{:?}", converter.model().load_report());
        let source = tone(44_100, 1.3, 180.0);
        let target = tone(16_000, 0.8, 240.0);
        let settings = VoiceConversionSettings { steps: 3, cfg_rate: 0.5, seed: 1 };
        let mut steps = 0;
        let out = converter.convert(&source, &target, &settings, &mut |_| steps += 1).unwrap();
        assert_eq!(steps, 3 * out.record.windows);
        assert_eq!(out.audio.sample_rate(), 48_000);
        assert_eq!(out.audio.num_channels(), 2);
        // Within one 22.05 kHz hop (256 samples) of the source.
        let hop_48k = 256.0 * 48_000.0 / 22_050.0;
        let want = source.duration_secs() * 48_000.0;
        assert!((out.audio.frames() as f64 - want).abs() <= hop_48k, "{} vs {want}", out.audio.frames());
        let ch = &out.audio.channels()[0];
        assert!(ch.iter().all(|x| x.is_finite()), "non-finite samples");
        // [-1, 1] at 22.05 kHz; the 48 kHz resampler may overshoot a little (the WAV writer clips).
        let peak = ch.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(peak > 1e-3 && peak < 1.2, "peak {peak}");
        let again = converter.convert(&source, &target, &settings, &mut |_| {}).unwrap();
        assert_eq!(again.audio.channels(), out.audio.channels(), "the same seed gives the same audio");
        // Missing files are all named.
        std::fs::remove_file(dir.join("a").join(CAMPPLUS_DIR).join(campplus::CHECKPOINT_FILE)).unwrap();
        let err = VoiceConversionFiles::locate(&store).unwrap_err().to_string();
        assert!(err.contains("funasr/campplus/campplus_cn_common.bin"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
