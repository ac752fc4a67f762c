//! What a voice engine can do, declared before it is loaded: the studio draws its controls from this,
//! `promptbook engines` prints it, and the render plans chunks and continuity by it.

use serde::{Deserialize, Serialize};

use crate::stages::StageId;

/// What an engine needs (or takes) as a reference voice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReferenceNeed {
    /// No reference voice.
    None,
    /// A clip may be given; the engine renders without one too.
    OptionalAudio,
    /// A clip is required.
    Audio,
    /// A clip and its transcript are required.
    AudioAndTranscript,
}

/// A free-text instruction the engine follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstructionKind {
    /// A description of the voice to design ("a warm, low voice ...").
    VoiceDescription,
    /// How to perform the line ("whispered, close to tears").
    EmotionText,
}

/// Emotion controls beyond text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EmotionControls {
    /// The named axes of an emotion vector, each 0..=1 (empty: no vector).
    pub vector: Vec<String>,
    /// An emotion reference clip, separate from the voice reference.
    pub reference_clip: bool,
    /// One strength slider for the emotion (0..=1).
    pub strength: bool,
}

impl EmotionControls {
    pub fn any(&self) -> bool {
        !self.vector.is_empty() || self.reference_clip || self.strength
    }
}

/// Whether the director can ask for a length.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum DurationControl {
    /// The engine decides (Scenema: from the plan's estimate).
    None,
    /// The engine renders to a target length in seconds.
    TargetSeconds { min_s: f64, max_s: f64 },
}

/// How audio arrives while a chunk renders.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Streaming {
    /// The whole chunk at once, after its last step.
    WholeChunk,
    /// Pieces of about this many milliseconds as they are decoded.
    Pieces { piece_ms: u32 },
}

/// What conditions chunk `i + 1` on chunk `i` (voice continuity across a long script).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Continuity {
    /// Every chunk renders from the same inputs.
    None,
    /// The last seconds of the previous chunk are the next chunk's reference (Scenema).
    PreviousTail { seconds: f64 },
}

/// One model file of an engine or stage, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EngineFile {
    /// `org/name/file` in the store's manifest.
    pub key: String,
    pub licence: Option<String>,
    /// Whether it is in the store now.
    pub installed: bool,
}

/// Everything the studio and the planner may know about an engine without loading it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Capabilities {
    /// Stable id (`scenema`), used on the command line and in records.
    pub id: String,
    /// For people ("Scenema Audio").
    pub name: String,
    pub summary: String,
    /// Native output rate of the engine; the take keeps it.
    pub sample_rate: u32,
    pub channels: usize,
    pub reference: ReferenceNeed,
    /// The longest reference the engine uses (the rest is ignored).
    pub reference_max_s: Option<f64>,
    pub instruction: Option<InstructionKind>,
    pub emotion: EmotionControls,
    pub duration: DurationControl,
    pub streaming: Streaming,
    /// ISO 639-1 codes the engine speaks.
    pub languages: Vec<String>,
    /// Can render a voice from a description alone (the inspector's "Voice design" mode).
    pub voice_design: bool,
    pub continuity: Continuity,
    /// The longest chunk the planner may give it.
    pub max_chunk_s: f64,
    /// Post stages in the order the render runs them for this engine.
    pub stages: Vec<StageId>,
}

/// The engine-specific controls of one render, as the inspector set them; each is only read by engines
/// whose capabilities declare it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EngineControls {
    /// Free-text instruction ([`Capabilities::instruction`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
    /// Emotion vector, one value per [`EmotionControls::vector`] axis.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emotion_vector: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emotion_strength: Option<f32>,
    /// A target length ([`DurationControl::TargetSeconds`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_duration_s: Option<f64>,
}

impl EngineControls {
    /// Problems with these controls for an engine with `caps`: values it cannot take, or out of range.
    pub fn check(&self, caps: &Capabilities) -> Result<(), String> {
        if self.instruction.is_some() && caps.instruction.is_none() {
            return Err(format!("{} takes no free-text instruction", caps.name));
        }
        if !self.emotion_vector.is_empty() {
            if self.emotion_vector.len() != caps.emotion.vector.len() {
                return Err(format!(
                    "{} takes an emotion vector of {} values, not {}",
                    caps.name,
                    caps.emotion.vector.len(),
                    self.emotion_vector.len()
                ));
            }
            if let Some(v) = self.emotion_vector.iter().find(|v| !(0.0..=1.0).contains(*v)) {
                return Err(format!("emotion values are 0 to 1, not {v}"));
            }
        }
        if let Some(s) = self.emotion_strength {
            if !caps.emotion.strength {
                return Err(format!("{} has no emotion strength", caps.name));
            }
            if !(0.0..=1.0).contains(&s) {
                return Err(format!("emotion strength is 0 to 1, not {s}"));
            }
        }
        if let Some(d) = self.target_duration_s {
            match caps.duration {
                DurationControl::None => return Err(format!("{} takes no target duration", caps.name)),
                DurationControl::TargetSeconds { min_s, max_s } if !(min_s..=max_s).contains(&d) => {
                    return Err(format!("target duration is {min_s}–{max_s} s, not {d}"));
                }
                DurationControl::TargetSeconds { .. } => {}
            }
        }
        Ok(())
    }
}
