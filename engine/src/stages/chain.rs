//! Which post stages a render runs, decided before it starts (postprocessing-spec §1.3–1.5).

use serde::Serialize;

use super::{StageId, StageSettings};

/// Whether a stage runs on this render, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "why")]
pub enum StageDecision {
    Run(String),
    Skip(String),
}

impl StageDecision {
    pub fn runs(&self) -> bool {
        matches!(self, StageDecision::Run(_))
    }

    pub fn why(&self) -> &str {
        match self {
            StageDecision::Run(why) | StageDecision::Skip(why) => why,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedStage {
    pub stage: StageId,
    pub decision: StageDecision,
}

/// The facts about a render the trigger rules read.
#[derive(Debug, Clone, Copy)]
pub struct RenderFacts {
    /// A voice-design sample rather than a script render.
    pub voice_design: bool,
    pub has_reference: bool,
    pub chunks: usize,
}

/// The stages of `order` (the engine's [`crate::engines::Capabilities::stages`]) with the server's rule for
/// each; `installed(stage)` says whether its model files are in the store.
pub fn plan_stages(
    order: &[StageId],
    settings: &StageSettings,
    facts: RenderFacts,
    installed: &dyn Fn(StageId) -> bool,
) -> Vec<PlannedStage> {
    order
        .iter()
        .map(|&stage| {
            let rule = rule(stage, settings, facts);
            let decision = match rule {
                StageDecision::Run(why) if !installed(stage) => StageDecision::Skip(format!(
                    "would run ({why}), but its model files are not installed: `promptbook models download \
                     --optional`"
                )),
                other => other,
            };
            PlannedStage { stage, decision }
        })
        .collect()
}

/// The server's rule for one stage, before looking at the files.
fn rule(stage: StageId, settings: &StageSettings, facts: RenderFacts) -> StageDecision {
    use StageDecision::{Run, Skip};
    let voice_design = facts.voice_design;
    match stage {
        StageId::Validation if voice_design => Skip("voice design is never validated".into()),
        StageId::Validation if !settings.validate => Skip("Validate words is off".into()),
        StageId::Validation => {
            Run(format!("each chunk needs a word match of {:.2}", settings.min_match_ratio))
        }
        StageId::Separation if settings.background_sfx => {
            Skip("Background SFX is on: the take keeps the full mix".into())
        }
        StageId::Separation => Run("Background SFX is off: the take becomes the dialogue stem".into()),
        StageId::Seedvc if voice_design => Skip("voice design has no voice conversion".into()),
        StageId::Seedvc if settings.skip_vc => Skip("Skip VC is on".into()),
        StageId::Seedvc if facts.has_reference => Run("towards the reference voice".into()),
        StageId::Seedvc if facts.chunks > 1 => Run("towards chunk 1, to keep one voice across chunks".into()),
        StageId::Seedvc => Skip("one chunk and no reference: nothing to match".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    enum Mode {
        Generate,
        VoiceDesign,
    }

    fn seedvc_runs(mode: Mode, has_reference: bool, chunks: usize, skip_vc: bool) -> bool {
        let settings = StageSettings { skip_vc, ..StageSettings::default() };
        let facts = RenderFacts { voice_design: matches!(mode, Mode::VoiceDesign), has_reference, chunks };
        plan_stages(&[StageId::Seedvc], &settings, facts, &|_| true)[0].decision.runs()
    }

    /// postprocessing-spec §1.5, row by row.
    #[test]
    fn seedvc_follows_the_servers_table() {
        use Mode::{Generate, VoiceDesign};
        assert!(!seedvc_runs(Generate, false, 1, false));
        assert!(!seedvc_runs(Generate, false, 1, true));
        assert!(seedvc_runs(Generate, false, 2, false));
        assert!(seedvc_runs(Generate, true, 1, false));
        assert!(seedvc_runs(Generate, true, 3, false));
        assert!(!seedvc_runs(Generate, true, 2, true));
        assert!(!seedvc_runs(Generate, false, 2, true));
        assert!(!seedvc_runs(VoiceDesign, true, 1, false));
    }

    #[test]
    fn separation_and_validation_follow_their_switches() {
        let facts = RenderFacts { voice_design: false, has_reference: false, chunks: 1 };
        let order = [StageId::Validation, StageId::Separation];
        let on = plan_stages(&order, &StageSettings::default(), facts, &|_| true);
        assert!(on.iter().all(|s| s.decision.runs()), "{on:?}");
        let off = StageSettings { validate: false, background_sfx: true, ..StageSettings::default() };
        assert!(plan_stages(&order, &off, facts, &|_| true).iter().all(|s| !s.decision.runs()));
        let design = RenderFacts { voice_design: true, ..facts };
        let planned = plan_stages(&order, &StageSettings::default(), design, &|_| true);
        assert!(!planned[0].decision.runs() && planned[1].decision.runs(), "{planned:?}");
    }

    #[test]
    fn a_stage_without_its_files_is_skipped_and_says_so() {
        let facts = RenderFacts { voice_design: false, has_reference: true, chunks: 2 };
        let planned =
            plan_stages(&StageId::ALL, &StageSettings::default(), facts, &|s| s != StageId::Separation);
        assert!(planned[0].decision.runs() && planned[2].decision.runs());
        assert!(!planned[1].decision.runs());
        assert!(planned[1].decision.why().contains("not installed"), "{:?}", planned[1]);
    }
}
