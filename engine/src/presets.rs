//! The twelve voice presets and the form → `<speak>` XML builder.
//!
//! Presets are the ComfyUI node's (`C: nodes/presets.py`, spec §7), one readable JSON file each in
//! `assets/presets/`, embedded at build time so the binary stands alone. [`build_xml`] is
//! `C: nodes/generate.py::_build_xml`, with one deliberate fix (ambiguity A19): quotes in the
//! scene are escaped, so a custom scene containing `"` no longer breaks the XML.

use serde::{Deserialize, Serialize};

use crate::prompt::pystr::py_strip;

/// Grammatical gender of the voice (pronouns in the compiled prompt).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    /// "He".
    Male,
    /// "She".
    Female,
}

impl Gender {
    /// `male` or `female`, as the `gender` attribute spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Male => "male",
            Self::Female => "female",
        }
    }
}

/// One voice preset (the fields of the ComfyUI form).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    /// Display name, e.g. "Terrified Whisper".
    pub name: String,
    /// The `voice` description.
    #[serde(rename = "voice_description")] // ComfyUI's field name
    pub voice: String,
    /// The voice's gender.
    pub gender: Gender,
    /// The scene dropdown value; it decides the shot (see [`derive_shot`]).
    pub scene: String,
    /// A free-form scene that replaces the dropdown value in the XML when not blank.
    #[serde(default)]
    pub custom_scene: String,
    /// Opening directions, one `<action>` per non-empty line.
    #[serde(default)]
    pub action_tags: String,
    /// The text; `[bracketed cues]` become inline `<action>`s.
    pub speech_text: String,
    /// Language name or code (`English` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

/// The dropdown's placeholder; the reference refuses to generate with it.
pub const SCENE_SENTINEL: &str = "Choose a scene...";
/// The scene dropdown (`SCENE_PRESETS`).
pub const SCENE_PRESETS: [&str; 9] = [
    SCENE_SENTINEL,
    "Absolute silence",
    "Quiet indoor room",
    "Reverberant hall",
    "Broadcast studio",
    "Outdoor, open air",
    "Café or restaurant",
    "Windy outdoors",
    "Rainy outdoors",
];
/// Scenes that mean clean speech: they get a close-up shot (`CLEAN_SPEECH_SCENES`).
pub const CLEAN_SPEECH_SCENES: [&str; 2] = ["Absolute silence", "Broadcast studio"];
/// Language names of the form and their codes (`LANGUAGE_CODES`).
pub const LANGUAGE_CODES: [(&str, &str); 12] = [
    ("English", "en"),
    ("Spanish", "es"),
    ("French", "fr"),
    ("German", "de"),
    ("Italian", "it"),
    ("Portuguese", "pt"),
    ("Japanese", "ja"),
    ("Korean", "ko"),
    ("Chinese", "zh"),
    ("Hindi", "hi"),
    ("Arabic", "ar"),
    ("Swahili", "sw"),
];

const PRESET_FILES: [&str; 12] = [
    include_str!("../../assets/presets/01-old-male-storyteller-fireside.json"),
    include_str!("../../assets/presets/02-young-woman-breathless-discovery.json"),
    include_str!("../../assets/presets/03-terrified-whisper.json"),
    include_str!("../../assets/presets/04-irish-woman-dry-wit.json"),
    include_str!("../../assets/presets/05-rage-to-vulnerability.json"),
    include_str!("../../assets/presets/06-eulogy-aeschylus-grief.json"),
    include_str!("../../assets/presets/07-terror-sobbing.json"),
    include_str!("../../assets/presets/08-villain-laughing-menace.json"),
    include_str!("../../assets/presets/09-rain-and-thunder-sfx.json"),
    include_str!("../../assets/presets/10-italian-cooking-show-sfx.json"),
    include_str!("../../assets/presets/11-kid-explaining-dinosaurs.json"),
    include_str!("../../assets/presets/12-british-woman-east-london-rage.json"),
];

/// All presets, in the reference's order.
pub fn all() -> Vec<Preset> {
    PRESET_FILES
        .iter()
        .map(|json| serde_json::from_str(json).expect("embedded presets are valid (checked by a unit test)"))
        .collect()
}

/// The preset called `name` (exact name first, then ignoring case, then by [`Preset::slug`]).
pub fn find(name: &str) -> Option<Preset> {
    let presets = all();
    let name = name.trim();
    let lower = name.to_lowercase();
    let index = presets
        .iter()
        .position(|p| p.name == name)
        .or_else(|| presets.iter().position(|p| p.name.to_lowercase() == lower))
        .or_else(|| presets.iter().position(|p| p.slug() == lower))?;
    presets.into_iter().nth(index)
}

impl Preset {
    /// The `<speak>` XML for this preset.
    pub fn xml(&self) -> String {
        build_xml(&self.form(None))
    }

    /// The `<speak>` XML for this preset's voice and scene speaking `text` instead of its own text.
    pub fn xml_with_text(&self, text: &str) -> String {
        build_xml(&self.form(Some(text)))
    }

    /// The form fields of this preset; `text` replaces the speech text.
    pub fn form<'a>(&'a self, text: Option<&'a str>) -> FormFields<'a> {
        FormFields {
            voice_description: &self.voice,
            gender: self.gender.as_str(),
            speech_text: text.unwrap_or(&self.speech_text),
            scene: &self.scene,
            custom_scene: &self.custom_scene,
            action_tags: &self.action_tags,
            language: self.language.as_deref().unwrap_or("English"),
        }
    }

    /// `closeup` or `wide`, from the scene dropdown.
    pub fn shot(&self) -> &'static str {
        derive_shot(&self.scene)
    }

    /// The `scene` attribute the XML carries (custom scene when not blank).
    pub fn scene_attr(&self) -> &str {
        scene_attr(&self.scene, &self.custom_scene)
    }

    /// Lower-case name with runs of other characters replaced by `-`, e.g. `terrified-whisper`.
    pub fn slug(&self) -> String {
        let mut slug = String::new();
        for c in self.name.to_lowercase().chars() {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.is_empty() && !slug.ends_with('-') {
                slug.push('-');
            }
        }
        slug.trim_end_matches('-').to_owned()
    }
}

/// The fields of the generate form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FormFields<'a> {
    /// The `voice` description.
    pub voice_description: &'a str,
    /// `male` or `female`.
    pub gender: &'a str,
    /// The text, with optional `[bracketed cues]`.
    pub speech_text: &'a str,
    /// The scene dropdown value.
    pub scene: &'a str,
    /// A free-form scene that wins when not blank.
    pub custom_scene: &'a str,
    /// Opening directions, one per line.
    pub action_tags: &'a str,
    /// A language name from [`LANGUAGE_CODES`] (or its code); anything else means English.
    pub language: &'a str,
}

/// `_derive_shot`: clean scenes get `closeup`, all others `wide`.
pub fn derive_shot(scene: &str) -> &'static str {
    if CLEAN_SPEECH_SCENES.contains(&scene) { "closeup" } else { "wide" }
}

/// The language code for a form language: a name from [`LANGUAGE_CODES`] or one of its codes;
/// anything else is `en`, as in the reference.
pub fn language_code(language: &str) -> &'static str {
    LANGUAGE_CODES
        .iter()
        .find(|(name, code)| *name == language || *code == language)
        .map_or("en", |&(_, code)| code)
}

fn scene_attr<'a>(scene: &'a str, custom_scene: &'a str) -> &'a str {
    let custom = py_strip(custom_scene);
    if custom.is_empty() { scene } else { custom }
}

/// Escapes `&`, `<` and `>` (`_xml_escape`).
fn escape_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Escapes text for a double-quoted attribute.
fn escape_attr(text: &str) -> String {
    escape_text(text).replace('"', "&quot;")
}

/// Splits text at `[cue]`s like `re.split(r'\[([^\]]+)\]', text)`: `(is_cue, part)` in order.
fn split_cues(text: &str) -> Vec<(bool, &str)> {
    let mut parts = Vec::new();
    let mut last = 0;
    let mut from = 0;
    while let Some(open) = text[from..].find('[').map(|i| from + i) {
        match text[open + 1..].find(']') {
            Some(len) if len > 0 => {
                let close = open + 1 + len;
                parts.push((false, &text[last..open]));
                parts.push((true, &text[open + 1..close]));
                last = close + 1;
                from = close + 1;
            }
            _ => from = open + 1,
        }
    }
    parts.push((false, &text[last..]));
    parts
}

/// `_build_xml`: form fields → `<speak>` XML.
pub fn build_xml(form: &FormFields<'_>) -> String {
    let scene = scene_attr(form.scene, form.custom_scene);
    let language = language_code(form.language);
    let shot = derive_shot(form.scene);
    let mut attrs =
        format!("voice=\"{}\" gender=\"{}\"", escape_attr(form.voice_description), escape_attr(form.gender));
    if !scene.is_empty() {
        attrs.push_str(&format!(" scene=\"{}\"", escape_attr(scene)));
    }
    if language != "en" {
        attrs.push_str(&format!(" language=\"{language}\""));
    }
    if shot != "closeup" {
        attrs.push_str(&format!(" shot=\"{shot}\""));
    }
    let mut body = Vec::new();
    for line in py_strip(form.action_tags).split('\n') {
        let line = py_strip(line);
        if !line.is_empty() {
            body.push(format!("  <action>{}</action>", escape_text(line)));
        }
    }
    for (is_cue, part) in split_cues(form.speech_text) {
        let part = py_strip(part);
        if part.is_empty() {
            continue;
        }
        if is_cue {
            body.push(format!("  <action>{}</action>", escape_text(part)));
        } else {
            body.push(format!("  {}", escape_text(part)));
        }
    }
    format!("<speak {attrs}>\n{}\n</speak>", body.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_presets_load() {
        let presets = all();
        assert_eq!(presets.len(), 12);
        assert_eq!(presets[2].name, "Terrified Whisper");
        assert_eq!(presets[2].shot(), "closeup");
        assert_eq!(presets[0].shot(), "wide");
        assert_eq!(find("terrified whisper").map(|p| p.name), Some("Terrified Whisper".to_owned()));
        assert_eq!(find("rain-and-thunder-sfx").map(|p| p.name), Some("Rain and Thunder (SFX)".to_owned()));
        assert!(find("nope").is_none());
        let mut slugs: Vec<_> = presets.iter().map(Preset::slug).collect();
        slugs.dedup();
        assert_eq!(slugs.len(), 12);
    }

    #[test]
    fn cues_split_like_python_re() {
        assert_eq!(split_cues("a [b] c"), [(false, "a "), (true, "b"), (false, " c")]);
        assert_eq!(split_cues("[[x]y"), [(false, ""), (true, "[x"), (false, "y")]);
        assert_eq!(split_cues("[]x] [y"), [(false, "[]x] [y")]);
        assert_eq!(split_cues("[a][b]"), [(false, ""), (true, "a"), (false, ""), (true, "b"), (false, "")]);
    }

    #[test]
    fn quotes_in_a_custom_scene_stay_well_formed() {
        let preset = Preset {
            name: "x".into(),
            voice: "V".into(),
            gender: Gender::Male,
            scene: "Rainy outdoors".into(),
            custom_scene: "A \"haunted\" dock".into(),
            action_tags: String::new(),
            speech_text: "Hi.".into(),
            language: Some("fr".into()),
        };
        let xml = preset.xml();
        assert!(xml.contains("scene=\"A &quot;haunted&quot; dock\" language=\"fr\" shot=\"wide\""), "{xml}");
        assert!(crate::prompt::validate(&xml).iter().all(|d| d.severity == crate::prompt::Severity::Warning));
    }
}
