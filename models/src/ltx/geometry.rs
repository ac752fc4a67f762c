//! Audio latent geometry: duration → latent frames, the patchifier, and RoPE positions in seconds
//! (ltx-audio-spec §3).
//!
//! Reference: `ltx_core/types.py` (`AudioLatentShape.from_duration`), `ltx_core/components/patchifiers.py`
//! (`AudioPatchifier`), and Scenema's `_build_pixel_shape` (video frames for a duration).

use candle_core::{Device, Result, Tensor};

/// Latent channels and latent mel bins (hard-coded upstream, not in the config).
pub const LATENT_CHANNELS: usize = 8;
pub const LATENT_MEL_BINS: usize = 16;
/// Width of one token: `channels · mel_bins`.
pub const TOKEN_WIDTH: usize = LATENT_CHANNELS * LATENT_MEL_BINS;
pub const SAMPLE_RATE: u32 = 16_000;
pub const HOP_LENGTH: u32 = 160;
/// Mel frames per latent frame.
pub const LATENT_DOWNSAMPLE: u32 = 4;
/// The dummy video stream's frame rate that the duration is quantised with.
pub const VIDEO_FPS: u32 = 24;

/// `((int(d·24) + 7) // 8) · 8 + 1` video frames for `duration_s` seconds.
pub fn video_frames_for_duration(duration_s: f64) -> Result<usize> {
    if !duration_s.is_finite() || duration_s <= 0.0 {
        candle_core::bail!("duration must be a positive number of seconds, got {duration_s}");
    }
    // `as` truncates toward zero like Python's int().
    let frames = (duration_s * VIDEO_FPS as f64) as usize;
    Ok(frames.div_ceil(8) * 8 + 1)
}

/// Latent frames `T = round(frames / 24 · 25)` (25 latents per second; half-to-even like Python's round).
pub fn latent_frames_for_duration(duration_s: f64) -> Result<usize> {
    let video_frames = video_frames_for_duration(duration_s)?;
    let latents_per_second = SAMPLE_RATE as f64 / HOP_LENGTH as f64 / LATENT_DOWNSAMPLE as f64;
    let seconds = video_frames as f64 / VIDEO_FPS as f64;
    Ok((seconds * latents_per_second).round_ties_even() as usize)
}

/// `(B, C, T, F) → (B, T, C·F)`, feature index `c·F + f`.
pub fn patchify(latent: &Tensor) -> Result<Tensor> {
    let (b, c, t, f) = latent.dims4()?;
    // (b, c, t, f) -> (b, t, c, f) -> (b, t, c·f)
    latent.permute((0, 2, 1, 3))?.reshape((b, t, c * f))
}

/// `(B, T, C·F) → (B, C, T, F)` with `channels = C`.
pub fn unpatchify(tokens: &Tensor, channels: usize) -> Result<Tensor> {
    let (b, t, width) = tokens.dims3()?;
    if !width.is_multiple_of(channels) {
        candle_core::bail!("token width {width} does not split into {channels} channels");
    }
    // (b, t, c·f) -> (b, t, c, f) -> (b, c, t, f)
    tokens.reshape((b, t, channels, width / channels))?.permute((0, 2, 1, 3))?.contiguous()
}

/// Start time in seconds of latent frame `i` (causal): `max(4i + 1 − 4, 0) · 160 / 16000`, in f32.
fn latent_time(i: usize) -> f32 {
    let mel = (i as f32 * LATENT_DOWNSAMPLE as f32 + 1.0 - LATENT_DOWNSAMPLE as f32).max(0.0);
    mel * HOP_LENGTH as f32 / SAMPLE_RATE as f32
}

/// `[t(i), t(i+1))` for `i = 0..frames`: the audio RoPE coordinates in seconds.
pub fn audio_positions(frames: usize) -> Vec<[f32; 2]> {
    (0..frames).map(|i| [latent_time(i), latent_time(i + 1)]).collect()
}

/// [`audio_positions`] as the `(1, 1, frames, 2)` f32 tensor the transformer takes.
pub fn audio_positions_tensor(frames: usize, device: &Device) -> Result<Tensor> {
    let flat: Vec<f32> = audio_positions(frames).into_iter().flatten().collect();
    Tensor::from_vec(flat, (1, 1, frames, 2), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duration_table_of_the_spec() {
        // spec §3.1: d -> (video frames, T)
        let table = [
            (1.0, 25, 26),
            (1.5, 41, 43),
            (3.0, 73, 76),
            (5.0, 121, 126),
            (10.0, 241, 251),
            (15.0, 361, 376),
            (20.0, 481, 501),
        ];
        for (d, frames, tokens) in table {
            assert_eq!(video_frames_for_duration(d).unwrap(), frames, "{d}");
            assert_eq!(latent_frames_for_duration(d).unwrap(), tokens, "{d}");
        }
        assert!(latent_frames_for_duration(0.0).is_err());
        assert!(latent_frames_for_duration(f64::NAN).is_err());
    }

    #[test]
    fn positions_are_causal_seconds() {
        let p = audio_positions(3);
        assert_eq!(p, vec![[0.0, 0.01], [0.01, 0.05], [0.05, 0.09]]);
        let mid: Vec<f32> = audio_positions(40).iter().map(|[a, b]| (a + b) / 2.0).collect();
        assert_eq!(mid[0], 0.005);
        assert!((mid[30] - 119.0 * 0.01).abs() < 1e-6);
    }

    #[test]
    fn patchify_puts_channel_major_features_and_round_trips() {
        let dev = Device::Cpu;
        let latent =
            Tensor::arange(0f32, (2 * 8 * 3 * 16) as f32, &dev).unwrap().reshape((2, 8, 3, 16)).unwrap();
        let tokens = patchify(&latent).unwrap();
        assert_eq!(tokens.dims(), &[2, 3, 128]);
        // token (b=1, t=2), feature c·16 + f with c = 5, f = 7
        let want = latent.get(1).unwrap().get(5).unwrap().get(2).unwrap().get(7).unwrap();
        let got = tokens.get(1).unwrap().get(2).unwrap().get(5 * 16 + 7).unwrap();
        assert_eq!(want.to_scalar::<f32>().unwrap(), got.to_scalar::<f32>().unwrap());
        let back = unpatchify(&tokens, 8).unwrap();
        let diff = (back - &latent).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert_eq!(diff, 0.0);
    }
}
