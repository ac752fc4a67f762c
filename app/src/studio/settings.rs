//! What the director sets in the inspector. Saved with the project and covered by undo/redo. Names and
//! defaults follow the reference server's request fields (`AudioProcessor._parse_input`).

use promptbook_engine::check::{CheckOptions, EstimatorKind};
use promptbook_engine::pipeline::render::RenderMode;
use promptbook_engine::plan::{DEFAULT_PACE, PACE_RANGE};
use serde::{Deserialize, Serialize};

/// Renders queued at once with consecutive seeds, at most.
pub const MAX_TAKES_PER_RENDER: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RenderSettings {
    /// `pace`: duration multiplier for planning (in `PACE_RANGE`, 0.5–3.0).
    pub pace: f64,
    /// `seed`: base seed of the next render; chunk i uses seed + 1000·i.
    pub seed: i64,
    /// Keep the seed after a render instead of rolling a new one.
    pub seed_locked: bool,
    pub estimator: EstimatorKind,
    /// Takes rendered per click, with seeds seed, seed+1, … (a director's "give me five").
    pub takes: u32,
    /// `mode`: generate, or a single 15 s voice-design sample.
    pub mode: RenderMode,
    /// `validate`: Whisper word check with retries.
    pub validate: bool,
    /// `min_match_ratio`: Whisper word-match threshold.
    pub min_match_ratio: f64,
    /// `skip_vc`: leave out the SeedVC identity pass.
    pub skip_vc: bool,
    /// `vc_steps`: SeedVC Euler steps (10–50).
    pub vc_steps: u32,
    /// `vc_cfg_rate`: SeedVC classifier-free guidance (0–1).
    pub vc_cfg: f64,
    /// `background_sfx`: keep the full mix instead of the separated dialogue.
    pub background_sfx: bool,
}

impl Default for RenderSettings {
    fn default() -> Self {
        Self {
            pace: DEFAULT_PACE,
            seed: random_seed(),
            seed_locked: false,
            estimator: EstimatorKind::Default,
            takes: 1,
            mode: RenderMode::Generate,
            validate: true,
            min_match_ratio: 0.90,
            skip_vc: false,
            vc_steps: 25,
            vc_cfg: 0.5,
            background_sfx: false,
        }
    }
}

impl RenderSettings {
    pub fn check_options(&self) -> CheckOptions {
        CheckOptions { pace: self.pace, seed: self.seed, estimator: self.estimator }
    }

    /// The post stages' settings of a render.
    pub fn stage_settings(&self) -> promptbook_engine::stages::StageSettings {
        promptbook_engine::stages::StageSettings {
            validate: self.validate,
            min_match_ratio: self.min_match_ratio,
            background_sfx: self.background_sfx,
            skip_vc: self.skip_vc,
            vc_steps: self.vc_steps as usize,
            vc_cfg_rate: self.vc_cfg,
        }
    }

    /// Bring values from an old or hand-edited project file back into range.
    pub fn clamped(mut self) -> Self {
        let (low, high) = (*PACE_RANGE.start(), *PACE_RANGE.end());
        self.pace = if self.pace.is_finite() { self.pace.clamp(low, high) } else { DEFAULT_PACE };
        self.seed = self.seed.max(0);
        self.takes = self.takes.clamp(1, MAX_TAKES_PER_RENDER);
        self.min_match_ratio =
            if self.min_match_ratio.is_finite() { self.min_match_ratio.clamp(0.0, 1.0) } else { 0.9 };
        self.vc_steps = self.vc_steps.clamp(10, 50);
        self.vc_cfg = if self.vc_cfg.is_finite() { self.vc_cfg.clamp(0.0, 1.0) } else { 0.5 };
        self
    }
}

/// The reference draws seeds from 0..=999999; seeds shown to people stay short enough to read aloud.
pub fn random_seed() -> i64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    i64::from(nanos % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_reference_server_defaults() {
        let s = RenderSettings::default();
        assert_eq!((s.pace, s.validate, s.min_match_ratio, s.skip_vc), (1.5, true, 0.9, false));
        assert_eq!((s.vc_steps, s.vc_cfg, s.background_sfx, s.takes), (25, 0.5, false, 1));
        assert!((0..1_000_000).contains(&s.seed));
    }

    #[test]
    fn old_project_files_fill_missing_fields_and_clamp_bad_ones() {
        let s: RenderSettings = serde_json::from_str(r#"{"pace": 9.0, "takes": 0, "vc_steps": 3}"#)
            .map(RenderSettings::clamped)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((s.pace, s.takes, s.vc_steps), (3.0, 1, 10));
        assert_eq!(s.mode, RenderMode::Generate);
    }
}
