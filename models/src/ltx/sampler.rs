//! The distilled 8-step Euler sampler with reference-latent conditioning (ltx-audio-spec §3.4, §5).
//!
//! Reference: `ltx_pipelines/utils/constants.py` (`DISTILLED_SIGMA_VALUES`), `samplers.py`
//! (`euler_denoising_loop`), `helpers.py` (`post_process_latent`), `ltx_core/components/diffusion_steps.py`
//! (`EulerDiffusionStep`), `noisers.py` (`GaussianNoiser`), and Scenema's `_apply_a2v_reference`.
//! The noise is injected by the caller (Python's CUDA RNG cannot be reproduced, spec §5.5). The denoiser is a
//! closure or [`Denoiser`], and a stop check runs before every step so a caller can cancel within one step.

use candle_core::{DType, Result, Tensor};

use super::geometry::{LATENT_CHANNELS, TOKEN_WIDTH, audio_positions_tensor, patchify, unpatchify};

/// σ schedule of the distilled model: 9 values, 8 model calls.
pub const DISTILLED_SIGMAS: [f32; 9] = [1.0, 0.99375, 0.9875, 0.98125, 0.975, 0.909375, 0.725, 0.421875, 0.0];

/// The audio latent being denoised, patchified: reference tokens (if any) first, then generated tokens.
#[derive(Debug, Clone)]
pub struct AudioLatentState {
    /// (1, N, 128)
    pub latent: Tensor,
    /// (1, N, 1) f32: 0 for clean reference tokens, 1 for generated ones.
    pub denoise_mask: Tensor,
    /// (1, N, 128): the reference tokens, zeros elsewhere.
    pub clean_latent: Tensor,
    /// (1, 1, N, 2) seconds, recomputed over the combined length from 0.
    pub positions: Tensor,
    /// How many leading tokens are the reference.
    pub reference_tokens: usize,
}

impl AudioLatentState {
    /// `noise`: (1, T, 128), the initial latent of the generated tokens (pure noise at σ = 1).
    /// `reference`: an optional normalised reference latent (1, 8, T_r, 16), prepended clean.
    pub fn new(noise: &Tensor, reference: Option<&Tensor>) -> Result<Self> {
        let (b, t, width) = noise.dims3()?;
        if b != 1 || width != TOKEN_WIDTH {
            candle_core::bail!("noise must be (1, T, {TOKEN_WIDTH}), got {:?}", noise.dims());
        }
        let device = noise.device();
        let gen_mask = Tensor::ones((1, t, 1), DType::F32, device)?;
        let (latent, denoise_mask, clean_latent, reference_tokens) = match reference {
            None => (noise.clone(), gen_mask, noise.zeros_like()?, 0),
            Some(reference) => {
                let tokens = patchify(reference)?.to_dtype(noise.dtype())?;
                let t_ref = tokens.dim(1)?;
                if tokens.dim(2)? != TOKEN_WIDTH {
                    candle_core::bail!(
                        "reference latent must be (1, 8, T_r, 16), got {:?}",
                        reference.dims()
                    );
                }
                // Noiser with mask 0 on the reference: it stays exactly the clean tokens.
                let latent = Tensor::cat(&[&tokens, noise], 1)?;
                let mask = Tensor::cat(&[&Tensor::zeros((1, t_ref, 1), DType::F32, device)?, &gen_mask], 1)?;
                let clean = Tensor::cat(&[&tokens, &noise.zeros_like()?], 1)?;
                (latent, mask, clean, t_ref)
            }
        };
        let positions = audio_positions_tensor(reference_tokens + t, device)?;
        Ok(Self { latent, denoise_mask, clean_latent, positions, reference_tokens })
    }

    /// The reference tokens as they are now (they must come back unchanged).
    pub fn reference(&self) -> Result<Option<Tensor>> {
        if self.reference_tokens == 0 {
            return Ok(None);
        }
        Ok(Some(self.latent.narrow(1, 0, self.reference_tokens)?))
    }

    /// Strip the reference and unpatchify: (1, 8, T, 16).
    pub fn generated_latent(&self) -> Result<Tensor> {
        let n = self.latent.dim(1)?;
        let generated = self.latent.narrow(1, self.reference_tokens, n - self.reference_tokens)?;
        unpatchify(&generated, LATENT_CHANNELS)
    }
}

/// Produces the denoised estimate x0 (1, N, 128) of `state.latent` at noise level `sigma`.
pub trait Denoiser {
    fn denoise(&mut self, state: &AudioLatentState, sigma: f32) -> Result<Tensor>;
}

impl<F: FnMut(&AudioLatentState, f32) -> Result<Tensor>> Denoiser for F {
    fn denoise(&mut self, state: &AudioLatentState, sigma: f32) -> Result<Tensor> {
        self(state, sigma)
    }
}

/// How a sampling run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleOutcome {
    Finished,
    /// The stop check returned true before step `completed_steps` (0-based) ran.
    Cancelled {
        completed_steps: usize,
    },
}

/// `x0·mask + clean·(1 − mask)` in f32, cast to `x0`'s dtype: conditioning tokens keep their clean value.
pub fn post_process_latent(x0: &Tensor, denoise_mask: &Tensor, clean: &Tensor) -> Result<Tensor> {
    let mask = denoise_mask.to_dtype(DType::F32)?;
    let keep = x0.to_dtype(DType::F32)?.broadcast_mul(&mask)?;
    let clean = clean.to_dtype(DType::F32)?.broadcast_mul(&(mask.ones_like()? - &mask)?)?;
    (keep + clean)?.to_dtype(x0.dtype())
}

/// One Euler step: `v = (x − x0) / σ` (cast to the latent dtype), `x + v·(σ_next − σ)` in f32.
pub fn euler_step(sample: &Tensor, denoised: &Tensor, sigma: f32, sigma_next: f32) -> Result<Tensor> {
    if sigma == 0.0 {
        candle_core::bail!("euler step from sigma 0");
    }
    let device = sample.device();
    let x = sample.to_dtype(DType::F32)?;
    let velocity = (&x - denoised.to_dtype(DType::F32)?)?
        .broadcast_div(&Tensor::new(sigma, device)?)?
        .to_dtype(sample.dtype())?
        .to_dtype(DType::F32)?;
    let dt = Tensor::new(sigma_next - sigma, device)?;
    (x + velocity.broadcast_mul(&dt)?)?.to_dtype(sample.dtype())
}

/// Run the Euler loop over `sigmas` (usually [`DISTILLED_SIGMAS`]). `should_stop(step)` is asked before each
/// step; returning true leaves `state` at the last completed step.
pub fn sample(
    state: &mut AudioLatentState,
    sigmas: &[f32],
    denoiser: &mut impl Denoiser,
    should_stop: &mut impl FnMut(usize) -> bool,
) -> Result<SampleOutcome> {
    for (step, pair) in sigmas.windows(2).enumerate() {
        if should_stop(step) {
            return Ok(SampleOutcome::Cancelled { completed_steps: step });
        }
        let (sigma, sigma_next) = (pair[0], pair[1]);
        let x0 = denoiser.denoise(state, sigma)?;
        if x0.dims() != state.latent.dims() {
            candle_core::bail!("denoiser returned {:?} for a latent of {:?}", x0.dims(), state.latent.dims());
        }
        let x0 = post_process_latent(&x0, &state.denoise_mask, &state.clean_latent)?;
        state.latent = euler_step(&state.latent, &x0, sigma, sigma_next)?;
    }
    Ok(SampleOutcome::Finished)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn max_abs(a: &Tensor, b: &Tensor) -> f64 {
        crate::parity::parity_error(a, b).unwrap().0
    }

    #[test]
    fn reference_tokens_stay_bit_exact_and_are_stripped() {
        let dev = Device::Cpu;
        let noise = Tensor::randn(0f32, 1.0, (1, 6, 128), &dev).unwrap();
        let reference = Tensor::randn(0f32, 1.0, (1, 8, 4, 16), &dev).unwrap();
        let mut state = AudioLatentState::new(&noise, Some(&reference)).unwrap();
        assert_eq!(state.positions.dims(), &[1, 1, 10, 2]);
        // A made-up denoiser that predicts 0.25 everywhere, reference tokens included.
        let mut denoiser = |s: &AudioLatentState, _sigma: f32| s.latent.ones_like()? * 0.25;
        let outcome = sample(&mut state, &DISTILLED_SIGMAS, &mut denoiser, &mut |_| false).unwrap();
        assert_eq!(outcome, SampleOutcome::Finished);
        let tokens = patchify(&reference).unwrap();
        assert_eq!(max_abs(&state.reference().unwrap().unwrap(), &tokens), 0.0);
        let generated = state.generated_latent().unwrap();
        assert_eq!(generated.dims(), &[1, 8, 6, 16]);
        // The last step goes to σ = 0, so the generated tokens end on the prediction.
        assert!(max_abs(&generated, &(generated.ones_like().unwrap() * 0.25).unwrap()) < 1e-6);
    }

    #[test]
    fn euler_step_matches_the_formula_and_lands_on_x0_at_sigma_zero() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[[1.0f32, -2.0]]], &dev).unwrap();
        let x0 = Tensor::new(&[[[0.5f32, 0.5]]], &dev).unwrap();
        let next = euler_step(&x, &x0, 0.5, 0.25).unwrap();
        // v = (x − x0) / 0.5 = [1, −5]; x + v·(−0.25) = [0.75, −0.75]
        assert_eq!(next.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![0.75, -0.75]);
        assert_eq!(max_abs(&euler_step(&x, &x0, 0.421875, 0.0).unwrap(), &x0), 0.0);
        assert!(euler_step(&x, &x0, 0.0, 0.0).is_err());
    }

    #[test]
    fn stop_check_cancels_before_the_step_runs() {
        let dev = Device::Cpu;
        let noise = Tensor::randn(0f32, 1.0, (1, 3, 128), &dev).unwrap();
        let mut state = AudioLatentState::new(&noise, None).unwrap();
        let mut calls = 0;
        let mut denoiser = |s: &AudioLatentState, _sigma: f32| {
            calls += 1;
            s.latent.zeros_like()
        };
        let outcome = sample(&mut state, &DISTILLED_SIGMAS, &mut denoiser, &mut |step| step == 3).unwrap();
        assert_eq!(outcome, SampleOutcome::Cancelled { completed_steps: 3 });
        assert_eq!(calls, 3);
    }
}
