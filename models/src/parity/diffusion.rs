//! Parity glue for the diffusion components (cases written by `tools/parity/components/diffusion.py`):
//! `transformer`, `transformer_int8`, `sampler`, `connector`, each in f32 and in bf16. Weights go through
//! the real loaders.

use std::path::PathBuf;

use candle_core::{DType, Result, Tensor};

use super::{Cap, Case, Component, TensorReport};
use crate::ltx::geometry::{audio_positions_tensor, latent_frames_for_duration};
use crate::ltx::sampler::{AudioLatentState, DISTILLED_SIGMAS, SampleOutcome, sample};
use crate::ltx::{connector, transformer};

const SPEC: &str = "ltx-audio-spec 8.4";

/// Spec §8.4: positions exact, RoPE 1e-6, velocity 1e-5, x0 1e-4.
const TRANSFORMER_CAPS: &[Cap] = &[
    Cap { tensor: "positions", max: 0.0, source: SPEC },
    Cap { tensor: "rope_cos", max: 1e-6, source: SPEC },
    Cap { tensor: "rope_sin", max: 1e-6, source: SPEC },
    Cap { tensor: "velocity_*", max: 1e-5, source: SPEC },
    Cap { tensor: "x0_*", max: 1e-4, source: SPEC },
];
const SAMPLER_CAPS: &[Cap] = &[
    Cap { tensor: "latent", max: 1e-4, source: SPEC },
    Cap { tensor: "latent_ref", max: 1e-4, source: SPEC },
    Cap { tensor: "positions_ref", max: 0.0, source: SPEC },
    Cap { tensor: "ref_tokens", max: 0.0, source: "bit-exact reference tokens (spec 8.4)" },
];
const CONNECTOR_CAPS: &[Cap] = &[
    Cap { tensor: "features", max: 1e-5, source: SPEC },
    Cap { tensor: "connector_in", max: 1e-5, source: SPEC },
    Cap { tensor: "audio_encoding", max: 1e-5, source: SPEC },
];

// bf16 against a bf16 reference: both round every op's result to 8 significant bits, in different orders
// (fused vs unfused kernels, accumulation order), so outputs differ by a few bf16 ulps. Each case's
// tolerance is 3x the bf16 reference's own error against the f32 one (`common.bf16_tolerance`); the caps are
// the largest of those over the committed cases (tools/parity/README.md, "bf16 cases").
const BF16: &str = "3x the bf16 reference's error vs f32, tools/parity/README.md";
/// One bf16 ulp at 1: RoPE tables are computed in f32 and rounded (spec §1.5).
const BF16_ULP_AT_ONE: f64 = 0.0078125;
const TRANSFORMER_BF16_CAPS: &[Cap] = &[
    Cap { tensor: "positions", max: 0.0, source: "f32 in both (spec 1.5)" },
    Cap { tensor: "rope_cos", max: BF16_ULP_AT_ONE, source: "f32 tables rounded to bf16 (spec 1.5)" },
    Cap { tensor: "rope_sin", max: BF16_ULP_AT_ONE, source: "f32 tables rounded to bf16 (spec 1.5)" },
    Cap { tensor: "velocity_*", max: 4e-2, source: BF16 },
    Cap { tensor: "x0_*", max: 3e-2, source: BF16 },
];
const SAMPLER_BF16_CAPS: &[Cap] = &[
    Cap { tensor: "latent", max: 3e-2, source: BF16 },
    Cap { tensor: "latent_ref", max: 3e-2, source: BF16 },
    Cap { tensor: "positions_ref", max: 0.0, source: "f32 in both (spec 1.5)" },
    Cap { tensor: "ref_tokens", max: 0.0, source: "bit-exact reference tokens (spec 8.4)" },
];
const CONNECTOR_BF16_CAPS: &[Cap] = &[
    Cap { tensor: "features", max: 3e-2, source: BF16 },
    Cap { tensor: "connector_in", max: 3e-2, source: BF16 },
    Cap { tensor: "audio_encoding", max: 3e-2, source: BF16 },
];

pub(super) const COMPONENTS: &[Component] = &[
    Component { name: "transformer", dtype: DType::F32, caps: TRANSFORMER_CAPS, run: transformer },
    Component { name: "transformer_int8", dtype: DType::F32, caps: TRANSFORMER_CAPS, run: transformer },
    Component { name: "sampler", dtype: DType::F32, caps: SAMPLER_CAPS, run: sampler },
    Component { name: "connector", dtype: DType::F32, caps: CONNECTOR_CAPS, run: connector },
    Component { name: "transformer", dtype: DType::BF16, caps: TRANSFORMER_BF16_CAPS, run: transformer },
    Component { name: "transformer_int8", dtype: DType::BF16, caps: TRANSFORMER_BF16_CAPS, run: transformer },
    Component { name: "sampler", dtype: DType::BF16, caps: SAMPLER_BF16_CAPS, run: sampler },
    Component { name: "connector", dtype: DType::BF16, caps: CONNECTOR_BF16_CAPS, run: connector },
];

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
    Ok(case.weights(name))
}

/// Latent and context in the case's dtype; the denoise mask, σ and positions stay f32 (spec §1.5).
fn transformer(case: &Case) -> Result<Vec<TensorReport>> {
    let model = transformer::load(&[file(case, "transformer")?], case.dtype(), case.device())?;
    let latent = &case.input_as_dtype("latent")?;
    let mask = case.input("denoise_mask")?;
    let context = &case.input_as_dtype("context")?;
    let positions = audio_positions_tensor(latent.dim(1)?, case.device())?;
    let rope = model.velocity_model().rope(&positions, case.dtype())?;
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
    let noise = &case.input_as_dtype("noise")?;
    let reference = &case.input_as_dtype("ref_latent")?;
    let context = &case.input_as_dtype("context")?;
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
    let hidden_states = &case.input_as_dtype("hidden_states")?;
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
