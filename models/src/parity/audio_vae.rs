//! Parity glue for the audio VAE, vocoder + BWE and encoder components
//! (`tools/parity/components/audio_vae.py`).
//!
//! Every case loads its weights through the real loaders from a file with the real name and key layout
//! (`extra.checkpoint`), config from the file's `config` metadata.

use std::sync::Arc;

use candle_core::{DType, Tensor};

use super::{Cap, Case, Component, TensorReport};
use crate::audio_vae::{self, AudioDecoder};
use crate::vocoder;
use crate::weights::Checkpoint;

const SPEC: &str = "ltx-audio-spec 8.4";
/// See `diffusion.rs`: 3x the bf16 reference's own error against f32, the largest over the committed cases.
const BF16: &str = "3x the bf16 reference's error vs f32, tools/parity/README.md";

pub(super) const COMPONENTS: &[Component] = &[
    Component {
        name: "audio_vae_decoder",
        dtype: DType::F32,
        caps: &[Cap { tensor: "mel", max: 1e-5, source: SPEC }],
        run: decoder,
    },
    Component {
        name: "vocoder_bwe",
        dtype: DType::F32,
        caps: &[
            Cap { tensor: "x16", max: 1e-4, source: SPEC },
            Cap { tensor: "bwe_mel", max: 1e-4, source: SPEC },
            Cap { tensor: "wave", max: 1e-4, source: SPEC },
        ],
        run: vocoder_bwe,
    },
    Component {
        name: "audio_vae_encoder",
        dtype: DType::F32,
        caps: &[
            Cap { tensor: "wav16", max: 1e-5, source: "ltx-audio-spec 8.4 (resampler)" },
            Cap { tensor: "logmel", max: 1e-4, source: SPEC },
            Cap { tensor: "latent", max: 1e-4, source: SPEC },
        ],
        run: encoder,
    },
    Component {
        name: "audio_vae_decoder",
        dtype: DType::BF16,
        caps: &[Cap { tensor: "mel", max: 8e-2, source: BF16 }],
        run: decoder,
    },
    // The vocoder computes in f32 on every device (spec §1.5, Scenema's autocast); in bf16 it is fed the
    // decoder's bf16 mel. The f32 work on bf16-exact values leaves only accumulation-order differences.
    Component {
        name: "vocoder_bwe",
        dtype: DType::BF16,
        caps: &[
            Cap { tensor: "x16", max: 1e-4, source: "f32 compute of a bf16 mel (spec 1.5)" },
            Cap { tensor: "bwe_mel", max: 1e-4, source: "f32 compute of a bf16 mel (spec 1.5)" },
            Cap { tensor: "wave", max: 1e-4, source: "f32 compute of a bf16 mel (spec 1.5)" },
        ],
        run: vocoder_bwe,
    },
    // The mel front end is f32 in both (spec §1.5): wav16 and logmel keep their f32 caps.
    Component {
        name: "audio_vae_encoder",
        dtype: DType::BF16,
        caps: &[
            Cap { tensor: "wav16", max: 1e-5, source: "f32 front end (spec 1.5, 8.4)" },
            Cap { tensor: "logmel", max: 1e-4, source: "f32 front end (spec 1.5, 8.4)" },
            Cap { tensor: "latent", max: 4e-2, source: BF16 },
        ],
        run: encoder,
    },
];

fn checkpoint(case: &Case) -> candle_core::Result<Arc<Checkpoint>> {
    let Some(file) = case.meta.extra["checkpoint"].as_str() else {
        candle_core::bail!("case {}: `extra.checkpoint` is missing", case.name())
    };
    Ok(Arc::new(Checkpoint::open(&[case.weights(file)])?))
}

fn decoder(case: &Case) -> candle_core::Result<Vec<TensorReport>> {
    let dec = audio_vae::load_decoder(&checkpoint(case)?, case.dtype(), case.device())?;
    let latent = &case.input_as_dtype("latent")?;
    let mel = dec.decode(latent)?;
    let mut reports = vec![case.check("mel", &mel)?];
    // Streaming: the same latent in uneven pieces must give the same mel.
    let mut dec = dec;
    let stepped = decode_in_pieces(&mut dec, latent)?;
    reports.push(case.check_as("mel", "mel (decode_step)", &stepped)?);
    Ok(reports)
}

fn decode_in_pieces(dec: &mut AudioDecoder, latent: &Tensor) -> candle_core::Result<Tensor> {
    dec.reset_state();
    let frames = latent.dim(2)?;
    let mut pieces = Vec::new();
    let (mut start, mut len) = (0, 1);
    while start < frames {
        let n = len.min(frames - start);
        pieces.push(dec.decode_step(&latent.narrow(2, start, n)?)?);
        start += n;
        len += 1;
    }
    Tensor::cat(&pieces, 2)
}

/// Always f32 compute, as the engine loads it; a bf16 case feeds the mel rounded to bf16.
fn vocoder_bwe(case: &Case) -> candle_core::Result<Vec<TensorReport>> {
    let voc = vocoder::load(&checkpoint(case)?, DType::F32, case.device())?;
    let out = voc.forward_parts(&case.input_as_dtype("mel")?.to_dtype(voc.dtype())?)?;
    Ok(vec![
        case.check("x16", &out.x16)?,
        case.check("bwe_mel", &out.bwe_mel)?,
        case.check("wave", &out.wave)?,
    ])
}

fn encoder(case: &Case) -> candle_core::Result<Vec<TensorReport>> {
    let ckpt = checkpoint(case)?;
    let enc = audio_vae::load_encoder(&ckpt, None, case.dtype(), case.device())?;
    let waveform = case.input("waveform")?;
    let sample_rate = case.meta.extra["sample_rate"].as_u64().unwrap_or(16000) as u32;
    let max_seconds = case.meta.extra["max_seconds"].as_f64().unwrap_or(audio_vae::MAX_REF_CAP_SECONDS);
    let channels: Vec<Vec<f32>> = waveform.to_dtype(DType::F32)?.to_vec2()?;
    let stereo = audio_vae::prepare_reference(&channels, sample_rate, max_seconds, enc.config().sample_rate)?;
    let n = stereo[0].len();
    let wav16 = Tensor::from_vec([stereo[0].clone(), stereo[1].clone()].concat(), (1, 2, n), case.device())?;
    let logmel = enc.processor().log_mel(&stereo, case.device())?;
    let latent = enc.encode_reference(&channels, sample_rate, max_seconds, case.device())?;
    Ok(vec![case.check("wav16", &wav16)?, case.check("logmel", &logmel)?, case.check("latent", &latent)?])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::{Path, PathBuf};

    use candle_core::Device;

    use super::*;
    use crate::parity::run_case;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/parity")
    }

    /// Copy a committed case to a temp dir, add `delta` to the first element of `key` in its checkpoint.
    fn perturbed_copy(case: &str, file: &str, key: &str, delta: f32) -> PathBuf {
        let src = fixtures().join(case);
        let dst = std::env::temp_dir().join(format!("pb-parity-{case}-{}", std::process::id()));
        std::fs::create_dir_all(&dst).unwrap();
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
        }
        let path = dst.join(file);
        let header = crate::weights::read_header(&path).unwrap();
        let mut tensors: HashMap<String, Tensor> =
            candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
        let t = tensors.get_mut(key).unwrap_or_else(|| panic!("{key} not in {case}"));
        let dtype = t.dtype();
        let mut values = t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        values[0] += delta;
        *t = Tensor::from_vec(values, t.shape(), &Device::Cpu).unwrap().to_dtype(dtype).unwrap();
        candle_core::safetensors::save(&tensors, &path).unwrap();
        // Put the `config` metadata back (candle's writer drops it).
        let data = std::fs::read(&path).unwrap();
        let st = safetensors::SafeTensors::deserialize(&data).unwrap();
        let views: Vec<(String, safetensors::tensor::TensorView)> =
            st.tensors().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let bytes = safetensors::serialize(views, Some(header.metadata.into_iter().collect())).unwrap();
        std::fs::write(&path, bytes).unwrap();
        dst
    }

    fn all_pass(dir: &Path) -> bool {
        run_case(dir).unwrap().iter().all(|r| r.pass)
    }

    #[test]
    fn committed_cases_pass_and_a_perturbed_weight_fails() {
        for (case, file, key) in [
            (
                "audio_vae_decoder-tiny-s0",
                audio_vae::PIPELINE_AUDIO_FILE,
                "audio_vae.decoder.up.1.block.0.conv2.conv.weight",
            ),
            (
                "vocoder_bwe-tiny-s0",
                audio_vae::PIPELINE_AUDIO_FILE,
                "vocoder.bwe_generator.resblocks.1.convs1.0.weight",
            ),
            (
                "vocoder_bwe-tiny-s0",
                audio_vae::PIPELINE_AUDIO_FILE,
                "vocoder.vocoder.resblocks.0.acts1.0.act.alpha",
            ),
            ("audio_vae_encoder-tiny-s0", audio_vae::ENCODER_FILE, "down.1.downsample.conv.weight"),
        ] {
            assert!(all_pass(&fixtures().join(case)), "{case} should pass unmodified");
            let dir = perturbed_copy(case, file, key, 0.05);
            let reports = run_case(&dir).unwrap();
            std::fs::remove_dir_all(&dir).ok();
            assert!(reports.iter().any(|r| !r.pass), "{case}: perturbing {key} went unnoticed: {reports:?}");
        }
    }
}
