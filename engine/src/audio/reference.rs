//! Which part of a reference clip the engine encodes into the reference latent.
//!
//! Facts from `shared/docs/ltx-audio-spec.md`: §3.4 (the reference latent is prepended to the
//! generated tokens), §6.5 (the VAE encoder works at 16 kHz and gives `T_r = N / 640 + 1` latent
//! frames for `N` samples at 16 kHz) and §7.1–7.3 (ComfyUI's A2V path uses the first ≤ 20 s of the
//! user's clip; the standalone server's anchor mode uses the last 3 s, capped at 5 s).

/// The shortest reference length the model is built for (README of the reference: "10–20 s").
pub const TARGET_MIN_SECS: f64 = 10.0;
/// The longest useful reference length: the A2V path never encodes more than this.
pub const TARGET_MAX_SECS: f64 = 20.0;
/// ComfyUI "VAE Encode" cap: the first ≤ 20 s of the clip become the reference latent (§7.1).
pub const A2V_MAX_SECS: f64 = 20.0;
/// Server anchor mode (`skip_vc` + reference): the last 3 s of the clip (§7.2, `tail_seconds`).
pub const ANCHOR_TAIL_SECS: f64 = 3.0;
/// Server `MAX_REF_SECONDS`: any reference is truncated to its first 5 s at 16 kHz (§7.2).
pub const SERVER_MAX_REF_SECS: f64 = 5.0;
/// The VAE encoder's input rate (§6.5).
pub const VAE_SAMPLE_RATE: u32 = 16_000;
/// Samples at 16 kHz per reference latent frame: hop 160 × 4 (§6.5).
const SAMPLES_PER_LATENT: u64 = 640;

/// How the engine turns a reference clip into the reference latent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceUse {
    /// A2V voice reference for the first chunk: the first ≤ 20 s of the clip (ComfyUI path).
    #[default]
    Head,
    /// Anchor mode: the last 3 s of the clip conditions every chunk (server `skip_vc` path).
    AnchorTail,
}

impl ReferenceUse {
    /// The span `(start, end)` in seconds of a `clip_secs` long clip that reaches the encoder.
    pub fn used_span(self, clip_secs: f64) -> (f64, f64) {
        let clip_secs = clip_secs.max(0.0);
        match self {
            Self::Head => (0.0, clip_secs.min(A2V_MAX_SECS)),
            Self::AnchorTail => {
                let start = (clip_secs - ANCHOR_TAIL_SECS).max(0.0);
                (start, clip_secs.min(start + SERVER_MAX_REF_SECS))
            }
        }
    }

    /// A short label for the UI.
    pub fn label(self) -> &'static str {
        match self {
            Self::Head => "A2V reference (first 20 s)",
            Self::AnchorTail => "Anchor (last 3 s)",
        }
    }
}

/// Number of reference latent frames the VAE encoder makes from `secs` seconds of audio:
/// `N = ceil(secs · 16000)` samples at 16 kHz give `N / 640 + 1` frames (§6.5; 3 s → 76, 5 s → 126).
pub fn latent_frames(secs: f64) -> usize {
    let samples = (secs.max(0.0) * f64::from(VAE_SAMPLE_RATE)).ceil() as u64;
    (samples / SAMPLES_PER_LATENT + 1) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_follow_the_caps() {
        assert_eq!(ReferenceUse::Head.used_span(12.0), (0.0, 12.0));
        assert_eq!(ReferenceUse::Head.used_span(27.5), (0.0, 20.0));
        assert_eq!(ReferenceUse::AnchorTail.used_span(12.0), (9.0, 12.0));
        assert_eq!(ReferenceUse::AnchorTail.used_span(2.0), (0.0, 2.0));
    }

    #[test]
    fn latent_frames_match_the_spec_table() {
        assert_eq!(latent_frames(3.0), 76);
        assert_eq!(latent_frames(5.0), 126);
        assert_eq!(latent_frames(20.0), 501);
    }
}
