//! ITU-R BS.1770 integrated loudness and true peak, measured with the `ebur128` crate.

use crate::audio::AudioBuffer;

/// What the BS.1770 meter reports for a whole clip.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bs1770 {
    /// Gated integrated loudness in LUFS; `None` for silence or clips too short to gate (< 0.4 s).
    pub integrated_lufs: Option<f64>,
    /// The largest true peak over all channels (linear, 4× oversampled below 96 kHz).
    pub true_peak: f64,
}

/// Measures integrated loudness and true peak. Channels 1 and 2 are weighted as left and right
/// (a mono clip is one channel with weight 1, so a 0 dBFS 1 kHz sine reads −3.01 LUFS);
/// `None` is returned for channel counts the meter does not accept.
pub fn measure(audio: &AudioBuffer) -> Option<Bs1770> {
    use ebur128::{EbuR128, Mode};
    let channels = u32::try_from(audio.num_channels()).ok()?;
    let mut meter = EbuR128::new(channels, audio.sample_rate(), Mode::I | Mode::TRUE_PEAK).ok()?;
    let planar: Vec<&[f32]> = audio.channels().iter().map(Vec::as_slice).collect();
    meter.add_frames_planar_f32(&planar).ok()?;
    let integrated_lufs = meter.loudness_global().ok().filter(|l| l.is_finite());
    let true_peak = (0..channels).filter_map(|c| meter.true_peak(c).ok()).fold(0.0, f64::max);
    Some(Bs1770 { integrated_lufs, true_peak })
}
