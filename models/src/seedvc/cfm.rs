//! The flow-matching sampler (`modules/flow_matching.py::BASECFM.inference / solve_euler`, spec §5.9): fixed
//! Euler steps from noise `z` over `linspace(0, 1, steps + 1)`, the reference mel as an in-context prompt in the
//! first frames (held at zero in `x`), and classifier-free guidance from one batched call.

use candle_core::{Result, Tensor, bail};

use super::dit::Dit;

/// `torch.linspace(0, 1, n)` in f32 (ATen: `start + step·i` below the halfway point, `end - step·(n-1-i)` above).
pub fn linspace01(n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![0.0];
    }
    let step = 1.0f32 / (n - 1) as f32;
    let halfway = n / 2;
    (0..n).map(|i| if i < halfway { step * i as f32 } else { 1.0 - step * (n - 1 - i) as f32 }).collect()
}

/// Sampler settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerOptions {
    /// `n_timesteps` (Scenema: `vc_steps`, 25 by default).
    pub steps: usize,
    /// `inference_cfg_rate` (Scenema: `vc_cfg_rate`, 0.5 by default); 0 runs without guidance.
    pub cfg_rate: f64,
    /// `zero_prompt_speech_token`: zero the content over the prompt frames.
    pub zero_prompt_content: bool,
}

/// `mu (1, T, content)`, `prompt (1, mel, T_ref)`, `style (1, style)`, noise `z (1, mel, T)` → `(1, mel, T)`; the
/// caller drops the first `T_ref` frames.
pub fn sample(
    dit: &Dit,
    mu: &Tensor,
    prompt: &Tensor,
    style: &Tensor,
    z: &Tensor,
    opts: &SamplerOptions,
    mut on_step: impl FnMut(usize) -> Result<()>,
) -> Result<Tensor> {
    let (b, mel, t) = z.dims3()?;
    let prompt_len = prompt.dim(2)?;
    if b != 1 || prompt_len > t || mu.dim(1)? != t || prompt.dim(1)? != mel {
        bail!(
            "sampler: noise {:?}, prompt {:?}, content {:?} do not line up",
            z.dims(),
            prompt.dims(),
            mu.dims()
        );
    }
    if opts.steps == 0 {
        bail!("sampler: at least one diffusion step is needed");
    }
    let dev = z.device();
    let dtype = z.dtype();
    let rest = t - prompt_len;
    // prompt_x = [prompt, 0]; x[..., :T_ref] = 0
    let prompt_x = prompt.to_dtype(dtype)?.pad_with_zeros(2, 0, rest)?;
    let keep = Tensor::cat(
        &[Tensor::zeros((1, 1, prompt_len), dtype, dev)?, Tensor::ones((1, 1, rest), dtype, dev)?],
        2,
    )?;
    let mut x = z.broadcast_mul(&keep)?;
    let mu = if opts.zero_prompt_content {
        let keep_t = keep.transpose(1, 2)?;
        mu.broadcast_mul(&keep_t)?
    } else {
        mu.clone()
    };
    let guided = opts.cfg_rate > 0.0;
    let (prompt_b, style_b, mu_b) = if guided {
        (
            Tensor::cat(&[&prompt_x, &prompt_x.zeros_like()?], 0)?,
            Tensor::cat(&[style, &style.zeros_like()?], 0)?,
            Tensor::cat(&[&mu, &mu.zeros_like()?], 0)?,
        )
    } else {
        (prompt_x.clone(), style.clone(), mu.clone())
    };
    let t_span = linspace01(opts.steps + 1);
    let mut time = t_span[0];
    for step in 1..t_span.len() {
        let dt = t_span[step] - t_span[step - 1];
        let v = if guided {
            let xb = Tensor::cat(&[&x, &x], 0)?;
            let tb = Tensor::new(&[time, time], dev)?;
            let v = dit.forward(&xb, &prompt_b, &tb, &style_b, &mu_b)?;
            let (cond, uncond) = (v.narrow(0, 0, 1)?, v.narrow(0, 1, 1)?);
            ((cond * (1.0 + opts.cfg_rate))? - (uncond * opts.cfg_rate)?)?
        } else {
            dit.forward(&x, &prompt_b, &Tensor::new(&[time], dev)?, &style_b, &mu_b)?
        };
        x = (x + (v * f64::from(dt))?)?;
        time += dt;
        x = x.broadcast_mul(&keep)?;
        on_step(step)?;
    }
    Ok(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linspace_matches_torch() {
        // torch.linspace(0, 1, 4) and (0, 1, 26)[[0, 12, 13, 25]]
        assert_eq!(linspace01(4), vec![0.0, 1.0 / 3.0, 1.0 - 1.0 / 3.0, 1.0]);
        let t = linspace01(26);
        assert_eq!((t[0], t[25]), (0.0, 1.0));
        assert_eq!(t[12], 0.04f32 * 12.0);
        assert_eq!(t[13], 1.0 - 0.04f32 * 12.0);
    }
}
