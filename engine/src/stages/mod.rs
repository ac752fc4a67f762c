//! Post stages: what the render runs after the voice engine, each optional, each with its own model
//! files, parameters, timing and outcome in the take's record, and each able to run again on a finished
//! take. Order and trigger rules follow the Scenema server (postprocessing-spec §1.3–1.5):
//!
//! 1. **validation** (per chunk, while rendering): Whisper hears the chunk, and a chunk under the minimum
//!    word match is rendered again, up to 4 attempts, 1.3× longer (≤ 20 s) with seed + 1 each; the best
//!    attempt is kept (§2.7, §3.3).
//! 2. **separation** (on the joined take, before the pause shortening): the dialogue stem replaces the take
//!    unless Background SFX is on; both stems are kept with the take either way (§4.4).
//! 3. **seedvc** (last): with a reference, or with more than one chunk, unless Skip VC; its target is the
//!    reference (≤ 25 s) or the raw chunk 0 (§1.5).
//!
//! Deliberate differences from the server, each because the server's behaviour loses something: the
//! separated audio keeps its own rate (§1.8 #1), the SFX stem is kept (the server discards it), a stage
//! whose model files are missing is recorded as skipped instead of failing the render, and a stage that
//! fails leaves the audio it was given and says why in the record (the server logs and carries on too).

pub mod chain;
pub mod models;
pub mod separation;
pub mod validation;
pub mod voice_conversion;

use serde::{Deserialize, Serialize};

pub use chain::{PlannedStage, RenderFacts, StageDecision, plan_stages};
pub use models::{Residency, StageModels};

/// A post stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageId {
    /// Whisper word check and retries.
    Validation,
    /// MelBandRoFormer dialogue / SFX split.
    Separation,
    /// SeedVC voice identity.
    Seedvc,
}

impl StageId {
    pub const ALL: [StageId; 3] = [StageId::Validation, StageId::Separation, StageId::Seedvc];

    pub fn name(self) -> &'static str {
        match self {
            StageId::Validation => "validation",
            StageId::Separation => "separation",
            StageId::Seedvc => "seedvc",
        }
    }

    /// For people.
    pub fn title(self) -> &'static str {
        match self {
            StageId::Validation => "Whisper word check",
            StageId::Separation => "MelBandRoFormer dialogue/SFX separation",
            StageId::Seedvc => "SeedVC voice identity",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The store keys of the model files this stage needs.
    pub fn files(self) -> Vec<String> {
        use crate::store::{
            BIGVGAN_REPO, CAMPPLUS_REPO, Manifest, SEEDVC_REPO, SEPARATOR_REPO, WHISPER_REPO,
        };
        let repos: &[&str] = match self {
            StageId::Validation => &[WHISPER_REPO],
            StageId::Separation => &[SEPARATOR_REPO],
            StageId::Seedvc => &[SEEDVC_REPO, CAMPPLUS_REPO, BIGVGAN_REPO, WHISPER_REPO],
        };
        let manifest = Manifest::builtin();
        manifest.files.iter().filter(|f| repos.contains(&f.repo.as_str())).map(|f| f.key()).collect()
    }
}

/// The director's stage settings for a render (the server's request fields of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageSettings {
    /// `validate` (server default true).
    pub validate: bool,
    /// `min_match_ratio` (0.90).
    pub min_match_ratio: f64,
    /// `background_sfx` (false: the take becomes the dialogue stem).
    pub background_sfx: bool,
    /// `skip_vc`: no SeedVC, and with a reference every chunk is conditioned on its last 3 s (anchor).
    pub skip_vc: bool,
    /// `vc_steps` (25).
    pub vc_steps: usize,
    /// `vc_cfg_rate` (0.5).
    pub vc_cfg_rate: f64,
}

impl Default for StageSettings {
    fn default() -> Self {
        Self {
            validate: true,
            min_match_ratio: crate::stages::validation::DEFAULT_MIN_RATIO,
            background_sfx: false,
            skip_vc: false,
            vc_steps: crate::stages::voice_conversion::DEFAULT_STEPS,
            vc_cfg_rate: crate::stages::voice_conversion::DEFAULT_CFG_RATE,
        }
    }
}

/// What one stage did to a take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// [`StageId::name`] (a string, so records from other builds still read).
    pub name: String,
    pub ran: bool,
    /// Why it ran or not, and what it found, for people.
    pub note: String,
    /// The parameters it ran with.
    #[serde(default)]
    pub params: serde_json::Value,
    /// Wall time of the stage, loading included.
    #[serde(default)]
    pub seconds: f64,
    /// The model files it read.
    #[serde(default)]
    pub files: Vec<String>,
}

impl StageRecord {
    pub fn skipped(stage: StageId, why: impl Into<String>) -> Self {
        Self {
            name: stage.name().to_string(),
            ran: false,
            note: why.into(),
            params: serde_json::Value::Null,
            seconds: 0.0,
            files: Vec::new(),
        }
    }
}
