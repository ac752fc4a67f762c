//! The LTX-2.3 audio VAE: the decoder (latent -> stereo log-mel), the encoder with its 16 kHz log-mel
//! front end (reference waveform -> latent), and the per-channel latent statistics.
//!
//! Reference: ltx-core 1.0.0 `model/audio_vae/{audio_vae,causal_conv_2d,resnet,upsample,downsample,ops}.py`,
//! ltx-audio-spec §6.1, §6.2, §6.5; the reference preparation follows Scenema's ComfyUI "VAE Encode" node
//! (`nodes/vae_encode.py`).
//!
//! Layout is `(B, C, time, freq)`; every convolution is causal along time, so the decoder also runs
//! step by step ([`AudioDecoder::decode_step`]) with the same result as a whole pass.

mod blocks;
mod decoder;
mod encoder;

use std::sync::Arc;

use candle_core::{DType, Device, Result, Tensor, bail};
use candle_nn::VarBuilder;

pub use blocks::{CausalConv2d, Downsample, ResnetBlock, Upsample, pixel_norm};
pub use decoder::AudioDecoder;
pub use encoder::{AudioEncoder, AudioProcessor, MAX_REF_CAP_SECONDS, prepare_reference};

use crate::weights::Checkpoint;

/// Pipeline checkpoint: text path, decoder, statistics, vocoder + BWE, `config` metadata.
pub const PIPELINE_FILE: &str = "scenema-audio-pipeline.safetensors";
/// The audio-only subset of the pipeline checkpoint (same key names).
pub const PIPELINE_AUDIO_FILE: &str = "scenema-audio-pipeline-audio.safetensors";
/// The encoder alone, bare key names.
pub const ENCODER_FILE: &str = "scenema-audio-vae-encoder.safetensors";

/// Key prefixes in the pipeline files (ltx-core `AUDIO_VAE_DECODER_COMFY_KEYS_FILTER`).
pub const DECODER_PREFIX: &str = "audio_vae.decoder";
pub const STATISTICS_PREFIX: &str = "audio_vae.per_channel_statistics";

/// Latent geometry, hard-coded upstream (`AudioLatentShape`, `LATENT_DOWNSAMPLE_FACTOR`).
pub const LATENT_CHANNELS: usize = 8;
pub const LATENT_MEL_BINS: usize = 16;
pub const LATENT_DOWNSAMPLE_FACTOR: usize = 4;

/// `config["audio_vae"]`: `model.params.ddconfig` plus the preprocessing values the code reads, with
/// ltx-core's `AudioDecoderConfigurator` / `AudioEncoderConfigurator` defaults for absent keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub ch: usize,
    pub out_ch: usize,
    pub ch_mult: Vec<usize>,
    pub num_res_blocks: usize,
    pub z_channels: usize,
    pub double_z: bool,
    pub in_channels: usize,
    pub mel_bins: usize,
    pub resolution: usize,
    pub attn_resolutions: Vec<usize>,
    pub mid_block_add_attention: bool,
    pub sample_rate: u32,  // model.params.sampling_rate
    pub hop_length: usize, // preprocessing.stft.hop_length
    pub n_fft: usize,      // preprocessing.stft.filter_length
    pub is_causal: bool,   // preprocessing.stft.causal
}

impl Config {
    /// The LTX-2.3 values (spec §1.2).
    pub fn ltx23() -> Self {
        Self {
            ch: 128,
            out_ch: 2,
            ch_mult: vec![1, 2, 4],
            num_res_blocks: 2,
            z_channels: LATENT_CHANNELS,
            double_z: true,
            in_channels: 2,
            mel_bins: 64,
            resolution: 256,
            attn_resolutions: vec![],
            mid_block_add_attention: false,
            sample_rate: 16000,
            hop_length: 160,
            n_fft: 1024,
            is_causal: true,
        }
    }

    /// Read the `audio_vae` section of a checkpoint's `config` metadata (the whole JSON object).
    pub fn from_checkpoint_config(config: &serde_json::Value) -> Result<Self> {
        let section = &config["audio_vae"];
        if !section.is_object() {
            bail!("checkpoint config has no `audio_vae` section");
        }
        let dd = &section["model"]["params"]["ddconfig"];
        let stft = &section["preprocessing"]["stft"];
        let usize_or = |v: &serde_json::Value, default: usize| v.as_u64().map_or(default, |x| x as usize);
        let list_or = |v: &serde_json::Value, default: &[usize]| -> Vec<usize> {
            v.as_array()
                .map(|a| a.iter().filter_map(|x| x.as_u64().map(|x| x as usize)).collect())
                .unwrap_or_else(|| default.to_vec())
        };
        for (key, want) in [("norm_type", "pixel"), ("causality_axis", "height")] {
            if let Some(got) = dd[key].as_str()
                && got != want
            {
                bail!("audio_vae ddconfig `{key}` = {got:?}: only {want:?} is supported (LTX-2.3)");
            }
        }
        let mel_bins = dd["mel_bins"]
            .as_u64()
            .or_else(|| section["preprocessing"]["mel"]["n_mel_channels"].as_u64())
            .or_else(|| section["variables"]["mel_bins"].as_u64())
            .map_or(64, |x| x as usize);
        let cfg = Self {
            ch: usize_or(&dd["ch"], 128),
            out_ch: usize_or(&dd["out_ch"], 2),
            ch_mult: list_or(&dd["ch_mult"], &[1, 2, 4]),
            num_res_blocks: usize_or(&dd["num_res_blocks"], 2),
            z_channels: usize_or(&dd["z_channels"], LATENT_CHANNELS),
            double_z: dd["double_z"].as_bool().unwrap_or(true),
            in_channels: usize_or(&dd["in_channels"], 2),
            mel_bins,
            resolution: usize_or(&dd["resolution"], 256),
            attn_resolutions: list_or(&dd["attn_resolutions"], &[8, 16, 32]),
            mid_block_add_attention: dd["mid_block_add_attention"].as_bool().unwrap_or(true),
            sample_rate: section["model"]["params"]["sampling_rate"].as_u64().map_or(16000, |x| x as u32),
            hop_length: usize_or(&stft["hop_length"], 160),
            n_fft: usize_or(&stft["filter_length"], 1024),
            is_causal: stft["causal"].as_bool().unwrap_or(true),
        };
        if cfg.ch_mult.is_empty() {
            bail!("audio_vae ddconfig `ch_mult` is empty");
        }
        Ok(cfg)
    }

    /// Spectrogram frames per latent frame along time (the `LATENT_DOWNSAMPLE_FACTOR`).
    pub fn latent_mel_bins(&self) -> usize {
        self.mel_bins >> (self.ch_mult.len() - 1)
    }

    /// Attention blocks are not ported (LTX-2.3 has none); refuse configs that would build one.
    fn check_no_attention(&self, encoder: bool) -> Result<()> {
        let levels = self.ch_mult.len();
        let resolutions: Vec<usize> = if encoder {
            (0..levels).map(|l| self.resolution >> l).collect()
        } else {
            (0..levels).map(|l| self.resolution >> (levels - 1 - l)).collect()
        };
        if let Some(r) = resolutions.iter().find(|r| self.attn_resolutions.contains(r)) {
            bail!("audio_vae config puts attention at resolution {r}; attention blocks are not supported");
        }
        Ok(())
    }
}

/// Dataset statistics of the latent, one value per (channel, latent mel bin) (`PerChannelStatistics`;
/// the checkpoint names carry hyphens: `std-of-means`, `mean-of-means`).
#[derive(Debug, Clone)]
pub struct PerChannelStatistics {
    /// `(1, C, 1, F)`, the token feature index `c * F + f` of the patchified latent.
    std: Tensor,
    mean: Tensor,
}

impl PerChannelStatistics {
    pub fn new(channels: usize, mel_bins: usize, vb: VarBuilder) -> Result<Self> {
        let n = channels * mel_bins;
        // (C·F) -> (1, C, 1, F): feature c·F + f of the patchified latent.
        let std = vb.get(n, "std-of-means")?.reshape((1, channels, 1, mel_bins))?;
        let mean = vb.get(n, "mean-of-means")?.reshape((1, channels, 1, mel_bins))?;
        Ok(Self { std, mean })
    }

    /// `z * std + mean` on a `(B, C, T, F)` latent.
    pub fn un_normalize(&self, z: &Tensor) -> Result<Tensor> {
        z.broadcast_mul(&self.std.to_dtype(z.dtype())?)?.broadcast_add(&self.mean.to_dtype(z.dtype())?)
    }

    /// `(z - mean) / std`.
    pub fn normalize(&self, z: &Tensor) -> Result<Tensor> {
        z.broadcast_sub(&self.mean.to_dtype(z.dtype())?)?.broadcast_div(&self.std.to_dtype(z.dtype())?)
    }
}

fn checkpoint_config(ckpt: &Checkpoint) -> Result<serde_json::Value> {
    let files = ckpt.paths().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
    ckpt.config()?.ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "{files}: no `config` metadata (the audio_vae/vocoder sections live there)"
        ))
    })
}

/// Load the decoder from a pipeline checkpoint (`scenema-audio-pipeline{,-audio}.safetensors`).
pub fn load_decoder(ckpt: &Arc<Checkpoint>, dtype: DType, device: &Device) -> Result<AudioDecoder> {
    let cfg = Config::from_checkpoint_config(&checkpoint_config(ckpt)?)?;
    let vb = ckpt.var_builder(dtype, device);
    AudioDecoder::new(&cfg, vb.pp(DECODER_PREFIX), vb.pp(STATISTICS_PREFIX))
}

/// Load the encoder from `scenema-audio-vae-encoder.safetensors` (bare keys, statistics included). Its config
/// comes from `config` (the pipeline file's metadata, as Scenema does) or, when `None`, from the file's own.
pub fn load_encoder(
    ckpt: &Arc<Checkpoint>,
    config: Option<&serde_json::Value>,
    dtype: DType,
    device: &Device,
) -> Result<AudioEncoder> {
    let cfg = match config {
        Some(config) => Config::from_checkpoint_config(config)?,
        None => Config::from_checkpoint_config(&checkpoint_config(ckpt)?)?,
    };
    let vb = ckpt.var_builder(dtype, device);
    AudioEncoder::new(&cfg, vb.clone(), vb.pp("per_channel_statistics"))
}

/// Where the pipeline file keeps its copy of the encoder (ltx-core's `AudioVAE` state-dict prefix).
pub const PIPELINE_ENCODER_PREFIX: &str = "audio_vae.encoder";

/// Key prefixes an encoder file may use for the encoder weights, tried in order: bare (Scenema's file as
/// the spec describes it), `encoder.` (an `AudioVAE` state dict with the decoder dropped), the pipeline's.
const ENCODER_FILE_PREFIXES: [&str; 3] = ["", "encoder", PIPELINE_ENCODER_PREFIX];

/// Which file and keys the reference encoder was loaded from: the generation record says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderOrigin {
    /// File name of the weights (`scenema-audio-vae-encoder.safetensors` or the pipeline file).
    pub weights_file: String,
    /// Their key prefix (`""` for bare keys).
    pub weights_prefix: String,
    /// File name of the `per_channel_statistics`.
    pub statistics_file: String,
    /// Their key prefix (`per_channel_statistics`, `audio_vae.per_channel_statistics`, ...).
    pub statistics_prefix: String,
}

impl std::fmt::Display for EncoderOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys =
            |prefix: &str| if prefix.is_empty() { "bare keys".to_string() } else { format!("`{prefix}.*`") };
        write!(
            f,
            "{} ({}), statistics from {} (`{}.*`)",
            self.weights_file,
            keys(&self.weights_prefix),
            self.statistics_file,
            self.statistics_prefix
        )
    }
}

fn file_name(ckpt: &Checkpoint) -> String {
    ckpt.paths()
        .iter()
        .map(|p| p.file_name().map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

/// Load the reference encoder as the real files allow: from the encoder file with bare or `encoder.`-prefixed
/// keys, its statistics from the encoder file when it has them and from the pipeline file's
/// `audio_vae.per_channel_statistics` otherwise; without an encoder file, the pipeline's own
/// `audio_vae.encoder.*`. The config is always the pipeline's (as Scenema loads it).
pub fn load_reference_encoder(
    encoder_file: Option<&Arc<Checkpoint>>,
    pipeline: &Arc<Checkpoint>,
    dtype: DType,
    device: &Device,
) -> Result<(AudioEncoder, EncoderOrigin)> {
    let cfg = Config::from_checkpoint_config(&checkpoint_config(pipeline)?)?;
    let probe = "conv_in.conv.weight";
    let stats_probe = "std-of-means";
    let (weights, weights_prefix) = match encoder_file {
        Some(file) => {
            let prefix =
                ENCODER_FILE_PREFIXES.iter().find(|p| file.contains(&join(p, probe))).ok_or_else(|| {
                    let tried: Vec<String> =
                        ENCODER_FILE_PREFIXES.iter().map(|p| format!("`{}`", join(p, probe))).collect();
                    candle_core::Error::Msg(format!(
                        "{}: no audio VAE encoder weights (looked for {})",
                        file.paths().iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                        tried.join(", ")
                    ))
                })?;
            (file, prefix.to_string())
        }
        None => {
            if !pipeline.contains(&join(PIPELINE_ENCODER_PREFIX, probe)) {
                bail!(
                    "no audio VAE encoder: {ENCODER_FILE} is absent and {} has no `{}`",
                    file_name(pipeline),
                    join(PIPELINE_ENCODER_PREFIX, probe)
                );
            }
            (pipeline, PIPELINE_ENCODER_PREFIX.to_string())
        }
    };
    // The statistics: next to the weights, at the file root, or the pipeline's (the decoder's).
    let candidates = [
        (weights, join(&weights_prefix, "per_channel_statistics")),
        (weights, "per_channel_statistics".to_string()),
        (weights, STATISTICS_PREFIX.to_string()),
        (pipeline, STATISTICS_PREFIX.to_string()),
    ];
    let (statistics, statistics_prefix) = candidates
        .iter()
        .find(|(ckpt, prefix)| ckpt.contains(&join(prefix, stats_probe)))
        .cloned()
        .ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "no per-channel statistics for the audio VAE encoder: neither {} nor {} has `{}`",
                file_name(weights),
                file_name(pipeline),
                join(STATISTICS_PREFIX, stats_probe)
            ))
        })?;
    let vb = weights.var_builder(dtype, device);
    let vb = if weights_prefix.is_empty() { vb } else { vb.pp(&weights_prefix) };
    let encoder = AudioEncoder::new(&cfg, vb, statistics.var_builder(dtype, device).pp(&statistics_prefix))?;
    let origin = EncoderOrigin {
        weights_file: file_name(weights),
        weights_prefix,
        statistics_file: file_name(statistics),
        statistics_prefix,
    };
    Ok((encoder, origin))
}

/// Latent `(1, 8, T, 16)` -> stereo 48 kHz waveform `(1, 2, 480 (4T - 3))` (ltx-core `decode_audio`). The mel
/// is cast to the vocoder's dtype (Scenema runs the vocoder in f32 whatever the decoder's dtype).
pub fn decode_audio(
    decoder: &AudioDecoder,
    vocoder: &crate::vocoder::VocoderWithBwe,
    latent: &Tensor,
) -> Result<Tensor> {
    let mel = decoder.decode(latent)?;
    vocoder.forward(&mel.to_dtype(vocoder.dtype())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(case: &str, file: &str) -> Arc<Checkpoint> {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity").join(case);
        Arc::new(Checkpoint::open(&[dir.join(file)]).unwrap())
    }

    /// The `config` sections as spec §1.2 lists them for the real files.
    fn ltx23_json() -> serde_json::Value {
        let generator = |c0: usize, rates: &[usize], kernels: &[usize]| {
            serde_json::json!({
                "upsample_initial_channel": c0, "upsample_rates": rates, "upsample_kernel_sizes": kernels,
                "resblock_kernel_sizes": [3, 7, 11], "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
                "resblock": "AMP1", "activation": "snakebeta", "use_tanh_at_final": false,
                "use_bias_at_final": false, "stereo": true,
            })
        };
        let mut bwe = generator(512, &[6, 5, 2, 2, 2], &[12, 11, 4, 4, 4]);
        for (k, v) in [
            ("apply_final_activation", serde_json::json!(false)),
            ("input_sampling_rate", 16000.into()),
            ("output_sampling_rate", 48000.into()),
            ("hop_length", 80.into()),
            ("n_fft", 512.into()),
            ("win_size", 512.into()),
            ("num_mels", 64.into()),
        ] {
            bwe[k] = v;
        }
        serde_json::json!({
            "audio_vae": {
                "model": {"params": {"ddconfig": {
                    "ch": 128, "ch_mult": [1, 2, 4], "num_res_blocks": 2, "z_channels": 8, "double_z": true,
                    "in_channels": 2, "out_ch": 2, "mel_bins": 64, "resolution": 256, "attn_resolutions": [],
                    "mid_block_add_attention": false, "norm_type": "pixel", "causality_axis": "height", "dropout": 0.0
                }, "sampling_rate": 16000}},
                "preprocessing": {"audio": {"sampling_rate": 16000},
                    "stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": true},
                    "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}}
            },
            "vocoder": {"vocoder": generator(1536, &[5, 2, 2, 2, 2, 2], &[11, 4, 4, 4, 4, 4]), "bwe": bwe}
        })
    }

    #[test]
    fn parses_the_ltx23_config() {
        let json = ltx23_json();
        assert_eq!(Config::from_checkpoint_config(&json).unwrap(), Config::ltx23());
        assert_eq!(Config::ltx23().latent_mel_bins(), LATENT_MEL_BINS);
        assert_eq!(
            crate::vocoder::Config::from_checkpoint_config(&json).unwrap(),
            crate::vocoder::Config::ltx23()
        );
        let mut group = json.clone();
        group["audio_vae"]["model"]["params"]["ddconfig"]["norm_type"] = "group".into();
        assert!(Config::from_checkpoint_config(&group).unwrap_err().to_string().contains("norm_type"));
        let mut attn = json.clone();
        attn["audio_vae"]["model"]["params"]["ddconfig"]["attn_resolutions"] = serde_json::json!([64]);
        let cfg = Config::from_checkpoint_config(&attn).unwrap();
        assert!(cfg.check_no_attention(false).unwrap_err().to_string().contains("attention"));
        let mut legacy = json;
        legacy["vocoder"] = serde_json::json!({"resblock": "1"});
        assert!(
            crate::vocoder::Config::from_checkpoint_config(&legacy).unwrap_err().to_string().contains("bwe")
        );
    }

    #[test]
    fn decoding_step_by_step_equals_whole_pass() {
        for case in ["audio_vae_decoder-tiny-s0", "audio_vae_decoder-tiny2-s1"] {
            let mut dec =
                load_decoder(&fixture(case, PIPELINE_AUDIO_FILE), DType::F32, &Device::Cpu).unwrap();
            let latent = Tensor::randn(0f32, 1.0, (1, 8, 12, 16), &Device::Cpu).unwrap();
            let whole = dec.decode(&latent).unwrap();
            assert_eq!(whole.dims(), &[1, 2, 45, 64]);
            for pieces in [vec![12], vec![1; 12], vec![5, 4, 3]] {
                dec.reset_state();
                let mut start = 0;
                let mut out = Vec::new();
                for n in pieces {
                    let mel = dec.decode_step(&latent.narrow(2, start, n).unwrap()).unwrap();
                    assert_eq!(mel.dim(2).unwrap(), if start == 0 { 4 * n - 3 } else { 4 * n });
                    out.push(mel);
                    start += n;
                }
                let stepped = Tensor::cat(&out, 2).unwrap();
                let diff = crate::parity::parity_error(&whole, &stepped).unwrap().0;
                assert!(diff <= 1e-5, "{case}: {diff}");
            }
        }
    }

    /// Rewrite the committed encoder case's file: every tensor `name` kept as `rename(name)` (`None` drops
    /// it), raw bytes unchanged, with the `config` metadata.
    fn rewrite_encoder(dst: &std::path::Path, rename: impl Fn(&str) -> Option<String>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/parity/audio_vae_encoder-tiny-s0");
        let bytes = std::fs::read(dir.join(ENCODER_FILE)).unwrap();
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let views: Vec<(String, safetensors::tensor::TensorView)> =
            st.tensors().into_iter().filter_map(|(name, view)| rename(&name).map(|n| (n, view))).collect();
        std::fs::write(dst, safetensors::serialize(views, meta.metadata().clone()).unwrap()).unwrap();
    }

    #[test]
    fn reference_encoder_loads_from_every_layout_the_real_files_may_have() {
        let case_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/parity/audio_vae_encoder-tiny-s0");
        let case = crate::parity::Case::load(&case_dir).unwrap();
        let channels: Vec<Vec<f32>> = case.input("waveform").unwrap().to_vec2().unwrap();
        let dir = std::env::temp_dir().join(format!("pb-encoder-layouts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let open = |name: &str| Arc::new(Checkpoint::open(&[dir.join(name)]).unwrap());
        let is_stats = |n: &str| n.starts_with("per_channel_statistics.");

        // Files as they may come: the encoder file bare (as committed), `encoder.`-prefixed without the
        // statistics, and a pipeline file with the statistics and its own `audio_vae.encoder.*` copy.
        rewrite_encoder(&dir.join("bare.safetensors"), |n| Some(n.to_string()));
        rewrite_encoder(&dir.join("prefixed.safetensors"), |n| {
            (!is_stats(n)).then(|| format!("encoder.{n}"))
        });
        rewrite_encoder(&dir.join("pipeline.safetensors"), |n| {
            match n.strip_prefix("per_channel_statistics.") {
                Some(stat) => Some(format!("{STATISTICS_PREFIX}.{stat}")),
                None => Some(format!("{PIPELINE_ENCODER_PREFIX}.{n}")),
            }
        });
        rewrite_encoder(&dir.join("pipeline-no-encoder.safetensors"), |n| {
            n.strip_prefix("per_channel_statistics.").map(|stat| format!("{STATISTICS_PREFIX}.{stat}"))
        });
        let pipeline = open("pipeline.safetensors");
        let layouts = [
            (
                Some(open("bare.safetensors")),
                &pipeline,
                ("bare.safetensors", "", "bare.safetensors", "per_channel_statistics"),
            ),
            (
                Some(open("prefixed.safetensors")),
                &pipeline,
                ("prefixed.safetensors", "encoder", "pipeline.safetensors", STATISTICS_PREFIX),
            ),
            (
                None,
                &pipeline,
                ("pipeline.safetensors", PIPELINE_ENCODER_PREFIX, "pipeline.safetensors", STATISTICS_PREFIX),
            ),
        ];
        for (encoder_file, pipeline, (wf, wp, sf, sp)) in layouts {
            let (enc, origin) =
                load_reference_encoder(encoder_file.as_ref(), pipeline, DType::F32, &Device::Cpu).unwrap();
            let want = EncoderOrigin {
                weights_file: wf.into(),
                weights_prefix: wp.into(),
                statistics_file: sf.into(),
                statistics_prefix: sp.into(),
            };
            assert_eq!(origin, want);
            let latent = enc.encode_reference(&channels, 48000, 0.25, &Device::Cpu).unwrap();
            let report = case.check("latent", &latent).unwrap();
            assert!(report.pass, "{origin}: {report}");
        }
        // Nothing to load: the errors name the files and keys.
        let err =
            load_reference_encoder(None, &open("pipeline-no-encoder.safetensors"), DType::F32, &Device::Cpu)
                .unwrap_err()
                .to_string();
        assert!(err.contains(ENCODER_FILE) && err.contains("audio_vae.encoder.conv_in.conv.weight"), "{err}");
        let stats_only = open("pipeline-no-encoder.safetensors");
        let err = load_reference_encoder(Some(&stats_only), &pipeline, DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline-no-encoder.safetensors") && err.contains("encoder.conv_in.conv.weight"),
            "{err}"
        );
        let no_stats = open("prefixed.safetensors");
        let err = load_reference_encoder(Some(&no_stats), &no_stats, DType::F32, &Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("per-channel statistics") && err.contains("prefixed.safetensors"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn loader_errors_name_file_and_key() {
        // A decoder-only checkpoint has no encoder or vocoder weights.
        let ckpt = fixture("audio_vae_decoder-tiny-s0", PIPELINE_AUDIO_FILE);
        let err = load_encoder(&ckpt, None, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains(PIPELINE_AUDIO_FILE) && err.contains("per_channel_statistics.std-of-means"),
            "{err}"
        );
        let err = crate::vocoder::load(&ckpt, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(
            err.contains(PIPELINE_AUDIO_FILE) && err.contains("vocoder.vocoder.conv_pre.weight"),
            "{err}"
        );
        // The encoder file read as a decoder: its keys are bare.
        let enc = fixture("audio_vae_encoder-tiny-s0", ENCODER_FILE);
        let err = load_decoder(&enc, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains(ENCODER_FILE) && err.contains("audio_vae."), "{err}");
    }

    #[test]
    fn reference_is_resampled_capped_and_made_stereo() {
        let long = vec![0.25f32; 16000 * 25];
        let [l, r] = prepare_reference(&[long], 16000, 60.0, 16000).unwrap();
        assert_eq!((l.len(), r.len()), (16000 * 20, 16000 * 20));
        assert_eq!(l, r);
        let stereo = vec![vec![0.1f32; 48000], vec![-0.1f32; 48000]];
        let [l, r] = prepare_reference(&stereo, 48000, 0.5, 16000).unwrap();
        assert_eq!((l.len(), r.len()), (8000, 8000));
        // A constant passes the resampler unchanged away from the edges.
        assert!((l[4000] - 0.1).abs() < 1e-3 && (r[4000] + 0.1).abs() < 1e-3);
        assert!(
            prepare_reference(&[vec![0.0; 10], vec![0.0; 10], vec![0.0; 10]], 16000, 1.0, 16000).is_err()
        );
        let enc =
            load_encoder(&fixture("audio_vae_encoder-tiny-s0", ENCODER_FILE), None, DType::F32, &Device::Cpu)
                .unwrap();
        let err = enc.encode_reference(&[vec![0.0; 300]], 16000, 5.0, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("too short"), "{err}");
        let latent = enc.encode_reference(&[vec![0.01; 16000]], 16000, 5.0, &Device::Cpu).unwrap();
        assert_eq!(latent.dims(), &[1, 8, 16000 / 640 + 1, 16]);
    }
}
