//! Parity glue for the diffusion components (cases written by `tools/parity/components/diffusion.py`):
//! `transformer`, `transformer_int8`, `sampler`, `connector`. Weights go through the real loaders.

use std::path::PathBuf;

use candle_core::{DType, Result, Tensor};

use super::{Case, TensorReport};
use crate::ltx::geometry::{audio_positions_tensor, latent_frames_for_duration};
use crate::ltx::sampler::{AudioLatentState, DISTILLED_SIGMAS, SampleOutcome, sample};
use crate::ltx::{connector, transformer};

/// `Some(reports)` when `case` is one of this module's components.
pub(super) fn run(case: &Case) -> Result<Option<Vec<TensorReport>>> {
    match case.meta.component.as_str() {
        "transformer" | "transformer_int8" => transformer(case).map(Some),
        "sampler" => sampler(case).map(Some),
        "connector" => connector(case).map(Some),
        _ => Ok(None),
    }
}

fn extra<'a>(case: &'a Case, key: &str) -> Result<&'a serde_json::Value> {
    case.meta
        .extra
        .get(key)
        .ok_or_else(|| candle_core::Error::Msg(format!("case {}: case.json has no extra.{key}", case.name())))
}

/// The case's checkpoint `extra.files[role]`.
fn file(case: &Case, role: &str) -> Result<PathBuf> {
    let name = extra(case, "files")?.get(role).and_then(|f| f.as_str()).ok_or_else(|| {
        candle_core::Error::Msg(format!("case {}: case.json has no extra.files.{role}", case.name()))
    })?;
    Ok(case.dir.join(name))
}

fn transformer(case: &Case) -> Result<Vec<TensorReport>> {
    let model = transformer::load(&[file(case, "transformer")?], case.dtype(), case.device())?;
    let latent = case.input("latent")?;
    let mask = case.input("denoise_mask")?;
    let context = case.input("context")?;
    let positions = audio_positions_tensor(latent.dim(1)?, case.device())?;
    let rope = model.velocity_model().rope(&positions, DType::F32)?;
    let mut reports = vec![
        case.check("positions", &positions)?,
        case.check("rope_cos", rope.cos())?,
        case.check("rope_sin", rope.sin())?,
    ];
    let sigmas = extra(case, "sigmas")?
        .as_array()
        .ok_or_else(|| candle_core::Error::Msg("extra.sigmas is not a list".into()))?;
    for (i, sigma) in sigmas.iter().enumerate() {
        let sigma =
            sigma.as_f64().ok_or_else(|| candle_core::Error::Msg("extra.sigmas: not numbers".into()))? as f32;
        let velocity = model.velocity_model().forward(latent, mask, sigma, &positions, context)?;
        let x0 = model.forward(latent, mask, sigma, &positions, context)?;
        reports.push(case.check(&format!("velocity_{i}"), &velocity)?);
        reports.push(case.check(&format!("x0_{i}"), &x0)?);
    }
    Ok(reports)
}

fn sampler(case: &Case) -> Result<Vec<TensorReport>> {
    let model = transformer::load(&[file(case, "transformer")?], case.dtype(), case.device())?;
    let noise = case.input("noise")?;
    let reference = case.input("ref_latent")?;
    let context = case.input("context")?;
    let duration_s = extra(case, "duration_s")?
        .as_f64()
        .ok_or_else(|| candle_core::Error::Msg("extra.duration_s is not a number".into()))?;
    let frames = latent_frames_for_duration(duration_s)?;
    if frames != noise.dim(1)? {
        candle_core::bail!(
            "duration {duration_s} s gives {frames} latent frames, the noise has {}",
            noise.dim(1)?
        );
    }

    let mut denoiser = |state: &AudioLatentState, sigma: f32| {
        model.forward(&state.latent, &state.denoise_mask, sigma, &state.positions, context)
    };
    let mut run = |reference: Option<&Tensor>| -> Result<AudioLatentState> {
        let mut state = AudioLatentState::new(noise, reference)?;
        match sample(&mut state, &DISTILLED_SIGMAS, &mut denoiser, &mut |_| false)? {
            SampleOutcome::Finished => Ok(state),
            SampleOutcome::Cancelled { completed_steps } => {
                candle_core::bail!("sampling stopped after {completed_steps} steps")
            }
        }
    };
    let plain = run(None)?;
    let with_ref = run(Some(reference))?;
    let ref_after =
        with_ref.reference()?.ok_or_else(|| candle_core::Error::Msg("no reference tokens".into()))?;
    Ok(vec![
        case.check("latent", &plain.generated_latent()?)?,
        case.check("latent_ref", &with_ref.generated_latent()?)?,
        case.check("positions_ref", &with_ref.positions)?,
        // The reference must come back bit-exact (tolerance 0 in the case).
        case.check("ref_tokens", &ref_after)?,
    ])
}

fn connector(case: &Case) -> Result<Vec<TensorReport>> {
    let hidden_states = case.input("hidden_states")?;
    let mask = case.input("attention_mask")?;
    let (_, _, embedding_dim, num_levels) = hidden_states.dims4()?;
    let processor =
        connector::load(&[file(case, "pipeline")?], embedding_dim, num_levels, case.dtype(), case.device())?;
    let features = processor.feature_extractor.forward(hidden_states, mask)?;
    let replaced = processor.audio_connector.replace_padded_with_registers(&features, mask)?;
    let encoding = processor.forward(hidden_states, mask)?;
    Ok(vec![
        case.check("features", &features)?,
        case.check("connector_in", &replaced)?,
        case.check("audio_encoding", &encoding)?,
    ])
}
