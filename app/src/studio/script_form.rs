//! The structured script form: the `<speak>` attributes as controls, kept in sync with the XML both
//! ways, plus "insert action / sound at the caret".
//!
//! The form reads and writes only the first `<speak ...>` start tag, which it isolates with the studio's
//! forgiving lexer (`xml_lexer`) and parses on its own, so a broken body (an unclosed `<action>` further
//! down) never disables it. Edits rewrite that tag in place and leave every other byte of the script alone.

use std::ops::Range;

use egui::{RichText, TextEdit};
use promptbook_engine::prompt::parse;
use promptbook_engine::prompt::pystr::py_strip;
use promptbook_engine::prompt::validate::{ALLOWED_ATTRIBUTES, GENDERS, KNOWN_LANGUAGES, SHOTS};

use super::xml_lexer::{Markup, MarkupKind, markup};

/// Attributes the form removes when they are set to an empty value.
const OPTIONAL: [&str; 3] = ["scene", "shot", "language"];
/// The words an inserted `<action>` or `<sound>` starts with, selected for overtyping.
const ACTION_PLACEHOLDER: &str = "describe the action";
const SOUND_PLACEHOLDER: &str = "describe the sound";

/// The attribute values of the first `<speak>` start tag, unescaped; `None` when absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpeakFields {
    /// `voice`: who speaks and how (required).
    pub voice: Option<String>,
    /// `gender`: `male` or `female` (required, never guessed).
    pub gender: Option<String>,
    /// `scene`: where it happens.
    pub scene: Option<String>,
    /// `shot`: the camera framing the compiler knows (`closeup`, `wide`, `scene`).
    pub shot: Option<String>,
    /// `language`: a language code.
    pub language: Option<String>,
}

impl SpeakFields {
    /// The value of one of the five attributes by name (`None` for other names too).
    pub fn get(&self, name: &str) -> Option<&str> {
        match name {
            "voice" => self.voice.as_deref(),
            "gender" => self.gender.as_deref(),
            "scene" => self.scene.as_deref(),
            "shot" => self.shot.as_deref(),
            "language" => self.language.as_deref(),
            _ => None,
        }
    }
}

/// What [`insert_cue`] inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cue {
    /// `<action>describe the action</action>`.
    Action,
    /// `<sound>describe the sound</sound>`.
    Sound,
}

impl Cue {
    fn tag(self) -> &'static str {
        match self {
            Cue::Action => "action",
            Cue::Sound => "sound",
        }
    }

    fn placeholder(self) -> &'static str {
        match self {
            Cue::Action => ACTION_PLACEHOLDER,
            Cue::Sound => SOUND_PLACEHOLDER,
        }
    }
}

/// What the form asks of its caller this frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormOutput {
    /// The script after a field was edited (apply it to the editor).
    pub new_script: Option<String>,
    /// An insert button was pressed: call [`insert_cue`] with the editor's caret.
    pub insert: Option<Cue>,
}

/// Reads the attributes of the first `<speak>` start tag. Works whenever that tag itself is well
/// formed, whatever follows it. The error says why the form cannot read it.
pub fn read_fields(script: &str) -> Result<SpeakFields, String> {
    let tag = speak_tag(script)?;
    let element = parse_tag(script, &tag)?;
    let get = |name: &str| element.get(name).map(str::to_owned);
    Ok(SpeakFields {
        voice: get("voice"),
        gender: get("gender"),
        scene: get("scene"),
        shot: get("shot"),
        language: get("language"),
    })
}

/// The script with attribute `name` of the first `<speak>` tag set to `value`.
///
/// An existing value is replaced in place (its quote style kept); a missing attribute is added
/// after the last one. An empty value removes `scene`, `shot` or `language` (with the whitespace
/// before it); `voice` and `gender` are kept as `=""` so the lint reports them. Characters XML
/// cannot hold at all (most control characters) are dropped; newlines and tabs are written as
/// character references so they read back unchanged.
pub fn set_attribute(script: &str, name: &str, value: &str) -> Result<String, String> {
    if !ALLOWED_ATTRIBUTES.contains(&name) {
        return Err(format!("<speak> has no attribute '{name}'"));
    }
    let tag = speak_tag(script)?;
    let element = parse_tag(script, &tag)?;
    let value: String = value.chars().filter(|&c| is_xml_char(c)).collect();
    let base = tag.range.start;
    let removable = value.is_empty() && OPTIONAL.contains(&name);
    let mut out = String::with_capacity(script.len() + name.len() + value.len() + 4);
    match element.attribute(name) {
        Some(attr) if removable => {
            let start = base + attr.span.range.start;
            let before = script[..start].trim_end_matches(is_xml_space).len();
            out.push_str(&script[..before]);
            out.push_str(&script[base + attr.span.range.end..]);
        }
        None if removable => out.push_str(script),
        Some(attr) => {
            let range = base + attr.value_span.range.start..base + attr.value_span.range.end;
            let quote = if script[..range.start].ends_with('\'') { '\'' } else { '"' };
            out.push_str(&script[..range.start]);
            out.push_str(&escape(&value, quote));
            out.push_str(&script[range.end..]);
        }
        None => {
            let last = element.attributes.last().map_or(&element.name_span, |a| &a.span);
            let at = base + last.range.end;
            out.push_str(&script[..at]);
            out.push_str(&format!(" {name}=\"{}\"", escape(&value, '"')));
            out.push_str(&script[at..]);
        }
    }
    Ok(out)
}

/// Inserts `<action>describe the action</action>` (or the `<sound>` one) at the caret, a char
/// index clamped to the script. Returns the new script and the char range of the placeholder words.
///
/// The caret moves so the result stays well placed: from inside a tag to after it, from inside an
/// `<action>`/`<sound>` element to after that element, from before or inside the `<speak>` start
/// tag to just after it, and from inside or after `</speak>` to just before it. A self-closing
/// `<speak/>` is opened up to hold the cue.
pub fn insert_cue(script: &str, caret_char_index: usize, cue: Cue) -> (String, Range<usize>) {
    let caret = script.char_indices().nth(caret_char_index).map_or(script.len(), |(i, _)| i);
    let markup = markup(script);
    let is_named =
        |m: &&Markup, kind: MarkupKind, name: &str| m.kind == kind && &script[m.name.clone()] == name;
    let speak = markup.iter().find(|m| is_named(m, MarkupKind::Start, "speak") && m.closed);
    let open = format!("<{}>", cue.tag());
    let close = format!("</{}>", cue.tag());

    if let Some(speak) = speak.filter(|s| s.empty) {
        // `<speak .../>` has no body: turn it into `<speak ...>cue</speak>`.
        let slash = speak.range.end - 2;
        let new = format!(
            "{}>{open}{}{close}</speak>{}",
            &script[..slash],
            cue.placeholder(),
            &script[speak.range.end..]
        );
        let start = script[..slash].chars().count() + 1 + open.len();
        return (new, start..start + cue.placeholder().chars().count());
    }

    let root_end = speak.and_then(|s| {
        markup.iter().rfind(|m| m.range.start >= s.range.end && is_named(m, MarkupKind::End, "speak"))
    });
    let at = match (speak, root_end) {
        (Some(speak), _) if caret < speak.range.end => speak.range.end,
        (_, Some(end)) if caret > end.range.start => end.range.start,
        _ => {
            let mut at = caret;
            if let Some(tag) = markup.iter().find(|m| m.range.start < at && at < m.range.end) {
                at = tag.range.end;
            }
            cue_element_end(script, &markup, at).unwrap_or(at)
        }
    };
    let new = format!("{}{open}{}{close}{}", &script[..at], cue.placeholder(), &script[at..]);
    let start = script[..at].chars().count() + open.len();
    (new, start..start + cue.placeholder().chars().count())
}

/// When byte `at` lies in the content of an `<action>` or `<sound>` element, the byte just after
/// that element (for an unclosed one, where the next tag starts).
fn cue_element_end(script: &str, markup: &[Markup], at: usize) -> Option<usize> {
    let tags: Vec<&Markup> = markup.iter().filter(|m| m.kind != MarkupKind::Other).collect();
    tags.iter().enumerate().find_map(|(k, m)| {
        let name = &script[m.name.clone()];
        if m.kind != MarkupKind::Start || m.empty || !(name == "action" || name == "sound") {
            return None;
        }
        let (content_end, after) = match tags.get(k + 1) {
            Some(n) if n.kind == MarkupKind::End && &script[n.name.clone()] == name => {
                (n.range.start, n.range.end)
            }
            Some(n) => (n.range.start, n.range.start),
            None => (script.len(), script.len()),
        };
        (m.range.end <= at && at <= content_end).then_some(after)
    })
}

/// Draws the form for `script` (re-read every frame) and returns the edit to apply, if any.
pub fn show(ui: &mut egui::Ui, script: &str) -> FormOutput {
    let mut out = FormOutput::default();
    let error = ui.visuals().error_fg_color;
    let (fields, enabled) = match read_fields(script) {
        Ok(fields) => (fields, true),
        Err(message) => {
            ui.colored_label(error, message);
            (SpeakFields::default(), false)
        }
    };
    let mut edit: Option<(&str, String)> = None;
    ui.add_enabled_ui(enabled, |ui| {
        egui::Grid::new("script_form_grid").num_columns(2).spacing([8.0, 6.0]).show(ui, |ui| {
            let label = ui.label("Voice");
            let mut voice = fields.voice.clone().unwrap_or_default();
            let response = ui
                .add(
                    TextEdit::multiline(&mut voice)
                        .id_salt("script_form_voice")
                        .desired_rows(2)
                        .desired_width(f32::INFINITY)
                        .hint_text("Who speaks, and how: age, timbre, pace, mood"),
                )
                .labelled_by(label.id);
            if response.changed() {
                edit = Some(("voice", voice));
            }
            ui.end_row();

            let label = ui.label("Gender");
            ui.vertical(|ui| {
                let gender = fields.gender.as_deref();
                let valid = gender.is_some_and(|g| GENDERS.contains(&py_strip(g)));
                let selected = match gender {
                    Some(g) if valid => RichText::new(g),
                    Some(g) => RichText::new(g).color(error),
                    None => RichText::new("(required)").color(error),
                };
                if let Some(choice) =
                    choice_combo(ui, "script_form_gender", label.id, selected, gender, &GENDERS, None)
                {
                    edit = Some(("gender", choice));
                }
                if enabled && !valid {
                    let message = match gender {
                        None => "Gender is required: choose male or female".to_owned(),
                        Some(g) => format!("Gender \"{g}\" is invalid: choose male or female"),
                    };
                    ui.colored_label(error, message);
                }
            });
            ui.end_row();

            let label = ui.label("Scene");
            let mut scene = fields.scene.clone().unwrap_or_default();
            let response = ui
                .add(
                    TextEdit::singleline(&mut scene)
                        .id_salt("script_form_scene")
                        .desired_width(f32::INFINITY)
                        .hint_text("Where it happens, in 3-5 words"),
                )
                .labelled_by(label.id);
            if response.changed() {
                edit = Some(("scene", scene));
            }
            ui.end_row();

            for (name, title, known) in
                [("shot", "Shot", &SHOTS[..]), ("language", "Language", &KNOWN_LANGUAGES[..])]
            {
                let label = ui.label(title);
                let current = fields.get(name).filter(|v| !v.is_empty());
                let selected = RichText::new(current.unwrap_or("(none)"));
                let salt = format!("script_form_{name}");
                if let Some(choice) =
                    choice_combo(ui, &salt, label.id, selected, current, known, Some("(none)"))
                {
                    edit = Some((name, choice));
                }
                ui.end_row();
            }
        });
        ui.horizontal(|ui| {
            if ui.button("Insert action").on_hover_text("Insert <action> at the caret").clicked() {
                out.insert = Some(Cue::Action);
            }
            if ui.button("Insert sound").on_hover_text("Insert <sound> at the caret").clicked() {
                out.insert = Some(Cue::Sound);
            }
        });
    });
    if let Some((name, value)) = edit
        && let Ok(new) = set_attribute(script, name, &value)
        && new != script
    {
        out.new_script = Some(new);
    }
    out
}

/// A combo of `known` values (plus `none`, which chooses ""). A current value the list does not know
/// is listed too, so it is shown rather than lost. Returns the value chosen this frame.
fn choice_combo(
    ui: &mut egui::Ui,
    salt: &str,
    label: egui::Id,
    selected: RichText,
    current: Option<&str>,
    known: &[&str],
    none: Option<&str>,
) -> Option<String> {
    let mut choice = None;
    let stripped = current.map(py_strip);
    egui::ComboBox::from_id_salt(salt)
        .selected_text(selected)
        .show_ui(ui, |ui| {
            if let Some(none) = none
                && ui.selectable_label(current.is_none(), none).clicked()
            {
                choice = Some(String::new());
            }
            if let Some(value) = current.filter(|v| !known.contains(&py_strip(v))) {
                let _ = ui.selectable_label(true, value);
            }
            for &value in known {
                if ui.selectable_label(stripped == Some(value), value).clicked() && current != Some(value) {
                    choice = Some(value.to_owned());
                }
            }
        })
        .response
        .labelled_by(label);
    choice
}

/// The first `<speak ...>` start tag.
fn speak_tag(script: &str) -> Result<Markup, String> {
    let tag = markup(script)
        .into_iter()
        .find(|m| m.kind == MarkupKind::Start && &script[m.name.clone()] == "speak")
        .ok_or_else(|| "No <speak> tag: start the script with <speak voice=\"…\" gender=\"…\">".to_owned())?;
    if !tag.closed {
        return Err("The <speak> tag is not closed with '>'".to_owned());
    }
    Ok(tag)
}

/// Parses the start tag alone (as an empty element). Spans in the result are relative to
/// `tag.range.start`, because the tag text is kept as written up to its `>`.
fn parse_tag(script: &str, tag: &Markup) -> Result<promptbook_engine::prompt::Element, String> {
    let raw = &script[tag.range.clone()];
    let alone = if tag.empty { raw.to_owned() } else { format!("{}/>", &raw[..raw.len() - 1]) };
    parse(&alone).map(|doc| doc.root).map_err(|e| {
        let at = tag.range.start + e.offset.min(raw.len());
        let before = &script[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("The <speak> tag cannot be read: {} (line {line}, column {column})", e.message)
    })
}

/// An attribute value for a `quote`-delimited attribute.
fn escape(value: &str, quote: char) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' if quote == '\'' => out.push_str("&apos;"),
            // Literal whitespace would be normalised to a space by the parser.
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
    out
}

/// XML 1.0 `Char`.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// XML `S`.
fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = "<speak voice=\"Warm narrator\" gender=\"female\" scene='A quiet room'>\
                          Hello.<action>She smiles</action> Bye.</speak>";

    fn fields(script: &str) -> SpeakFields {
        read_fields(script).unwrap_or_else(|e| panic!("{script:?} should read: {e}"))
    }

    fn set(script: &str, name: &str, value: &str) -> String {
        set_attribute(script, name, value).unwrap_or_else(|e| panic!("set {name} on {script:?}: {e}"))
    }

    /// The script with `[]` marking the placeholder range a cue insert returned.
    fn insert_marked(script: &str, caret: usize, cue: Cue) -> String {
        let (new, range) = insert_cue(script, caret, cue);
        let chars: Vec<char> = new.chars().collect();
        let placeholder: String = chars[range.clone()].iter().collect();
        assert_eq!(placeholder, cue.placeholder());
        let mut marked: String = chars[..range.start].iter().collect();
        marked.push('[');
        marked.push_str(&placeholder);
        marked.push(']');
        marked.extend(&chars[range.end..]);
        marked
    }

    #[test]
    fn reads_the_first_speak_tag() {
        let f = fields(SCRIPT);
        assert_eq!(f.voice.as_deref(), Some("Warm narrator"));
        assert_eq!(f.gender.as_deref(), Some("female"));
        assert_eq!(f.scene.as_deref(), Some("A quiet room"));
        assert_eq!((f.shot, f.language), (None, None));
        let f = fields(
            "<?xml version=\"1.0\"?>\n<!-- <speak voice=\"no\"> -->\n<speak voice=\"a &amp; b &quot;c&quot; &#10;d\" shot=\"x>y\"/>",
        );
        assert_eq!(f.voice.as_deref(), Some("a & b \"c\" \nd"));
        assert_eq!(f.shot.as_deref(), Some("x>y"));
        assert_eq!(fields("<speaker x=\"1\"><speak language=\"fr\">").language.as_deref(), Some("fr"));
    }

    #[test]
    fn a_broken_body_does_not_stop_the_form() {
        let script = "<speak voice=\"V\" gender=\"male\">\nHi <action>unclosed\n<sound>x</speak>";
        assert!(parse(script).is_err());
        assert_eq!(fields(script).voice.as_deref(), Some("V"));
        let edited = set(script, "scene", "Rain");
        assert_eq!(edited, script.replacen("gender=\"male\"", "gender=\"male\" scene=\"Rain\"", 1));
    }

    #[test]
    fn says_why_it_cannot_read() {
        assert!(read_fields("Just text").unwrap_err().starts_with("No <speak> tag"));
        assert!(read_fields("").unwrap_err().starts_with("No <speak> tag"));
        assert_eq!(read_fields("<speak voice=\"V\"").unwrap_err(), "The <speak> tag is not closed with '>'");
        let e = read_fields("<speak voice=\"V\" voice=\"W\">x</speak>").unwrap_err();
        assert!(e.starts_with("The <speak> tag cannot be read: duplicate attribute"), "{e}");
        let e = read_fields("\n<speak voice=\"V>Hi</speak>").unwrap_err();
        assert!(e.contains("(line 2, column"), "{e}");
        let e = read_fields("<speak voice=V>Hi</speak>").unwrap_err();
        assert!(e.starts_with("The <speak> tag cannot be read"), "{e}");
        assert!(set_attribute("no tag", "voice", "x").is_err());
        assert!(set_attribute(SCRIPT, "mood", "x").is_err());
    }

    #[test]
    fn replaces_values_in_place() {
        let s = "<speak  gender = 'male'\n   voice=\"Old\"\tscene='x'>Hi</speak>";
        assert_eq!(set(s, "voice", "New"), s.replace("Old", "New"));
        // Single quotes stay single; an apostrophe is escaped only there.
        assert_eq!(set(s, "scene", "Bob's \"bar\""), s.replace("'x'", "'Bob&apos;s &quot;bar&quot;'"));
        assert_eq!(set(s, "voice", "Bob's"), s.replace("Old", "Bob's"));
        assert_eq!(set(s, "gender", "female"), s.replace("'male'", "'female'"));
        assert_eq!(set(s, "voice", "a<b>&c"), s.replace("Old", "a&lt;b&gt;&amp;c"));
    }

    #[test]
    fn appends_missing_attributes_after_the_last_one() {
        assert_eq!(set("<speak>Hi</speak>", "voice", "V"), "<speak voice=\"V\">Hi</speak>");
        assert_eq!(
            set("<speak voice=\"V\" >Hi</speak>", "gender", "male"),
            "<speak voice=\"V\" gender=\"male\" >Hi</speak>"
        );
        assert_eq!(set("<speak voice=\"V\"/>", "shot", "wide"), "<speak voice=\"V\" shot=\"wide\"/>");
        assert_eq!(
            set("<speak\n  voice=\"V\"\n>Hi</speak>", "language", "de"),
            "<speak\n  voice=\"V\" language=\"de\"\n>Hi</speak>"
        );
    }

    #[test]
    fn empty_removes_optional_attributes_only() {
        let s = "<speak voice=\"V\"\n  scene=\"Rain\" shot='wide' language=\"en\" gender=\"male\">Hi</speak>";
        assert_eq!(
            set(s, "scene", ""),
            "<speak voice=\"V\" shot='wide' language=\"en\" gender=\"male\">Hi</speak>"
        );
        assert_eq!(set(s, "shot", ""), s.replace(" shot='wide'", ""));
        assert_eq!(set(s, "language", ""), s.replace(" language=\"en\"", ""));
        assert_eq!(set(s, "voice", ""), s.replace("\"V\"", "\"\""));
        assert_eq!(set(s, "gender", ""), s.replace("\"male\"", "\"\""));
        assert_eq!(set("<speak>Hi</speak>", "scene", ""), "<speak>Hi</speak>");
        assert_eq!(set("<speak>Hi</speak>", "gender", ""), "<speak gender=\"\">Hi</speak>");
    }

    #[test]
    fn round_trips_any_value() {
        let table = [
            "",
            " ",
            "plain",
            "  padded  ",
            "quotes \" and ' both",
            "&amp; literally",
            "<action>not a tag</action>",
            "a > b",
            "line one\nline two\r\nthree\ttab",
            "ünïcödé — 日本語 🎙",
            "&#10;",
            "]]>",
        ];
        let scripts =
            [SCRIPT, "<speak>Hi</speak>", "<speak voice='x' gender='y' scene='z' shot='w' language='v'/>"];
        for script in scripts {
            for name in ALLOWED_ATTRIBUTES {
                for value in table {
                    let new = set(script, name, value);
                    let read = fields(&new);
                    let expected =
                        if value.is_empty() && OPTIONAL.contains(&name) { None } else { Some(value) };
                    assert_eq!(read.get(name), expected, "{name}={value:?} in {new:?}");
                    // Nothing else changed.
                    for other in ALLOWED_ATTRIBUTES.iter().filter(|&&o| o != name) {
                        assert_eq!(
                            read.get(other),
                            fields(script).get(other),
                            "{other} after setting {name}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn round_trips_generated_values() {
        // A small deterministic generator over characters that need care in XML.
        let pool: Vec<char> = "aZ 0&<>\"';=/\n\r\t\u{a0}é日🎙]".chars().collect();
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..500 {
            let mut value = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 12) as usize;
            for k in 0..len {
                value.push(pool[((state >> (k * 5)) % pool.len() as u64) as usize]);
            }
            for name in ["voice", "scene"] {
                let new = set(SCRIPT, name, &value);
                let expected = if value.is_empty() && name == "scene" { None } else { Some(value.as_str()) };
                assert_eq!(fields(&new).get(name), expected, "{value:?} -> {new:?}");
            }
        }
    }

    #[test]
    fn drops_characters_xml_cannot_hold() {
        let new = set(SCRIPT, "voice", "a\u{1}b\u{fffe}c");
        assert_eq!(fields(&new).voice.as_deref(), Some("abc"));
    }

    #[test]
    fn inserts_cues_at_the_caret() {
        let s = "<speak voice=\"V\">Hello there.</speak>";
        let caret = s.find(" there").expect("in script");
        assert_eq!(
            insert_marked(s, caret, Cue::Action),
            "<speak voice=\"V\">Hello<action>[describe the action]</action> there.</speak>"
        );
        assert_eq!(
            insert_marked(s, caret, Cue::Sound),
            "<speak voice=\"V\">Hello<sound>[describe the sound]</sound> there.</speak>"
        );
        // Char indices, not bytes.
        let s = "<speak voice=\"é\">Héllo.</speak>";
        let caret = s.chars().position(|c| c == 'l').expect("in script");
        assert_eq!(
            insert_marked(s, caret, Cue::Action),
            "<speak voice=\"é\">Hé<action>[describe the action]</action>llo.</speak>"
        );
    }

    #[test]
    fn cues_move_out_of_tags_and_elements() {
        let s = "<speak voice=\"a>b\">One<action>smile</action>Two<sound/>Three</speak>";
        let after_speak = "<speak voice=\"a>b\"><action>[describe the action]</action>One<action>smile</action>Two<sound/>Three</speak>";
        // Before or inside the <speak> start tag (even at the quoted '>').
        for caret in [0, 3, s.find("b\"").expect("in script"), s.find("One").expect("in script")] {
            assert_eq!(insert_marked(s, caret, Cue::Action), after_speak, "caret {caret}");
        }
        // Inside <action>, its content or its end tag: after the element.
        let after_action = "<speak voice=\"a>b\">One<action>smile</action><sound>[describe the sound]</sound>Two<sound/>Three</speak>";
        let action = s.find("<action>").expect("in script");
        let action_end = s.find("Two").expect("in script");
        for caret in action + 1..action_end {
            assert_eq!(insert_marked(s, caret, Cue::Sound), after_action, "caret {caret}");
        }
        assert!(
            insert_marked(s, action, Cue::Sound)
                .contains("One<sound>[describe the sound]</sound><action>smile")
        );
        // Inside an empty tag: after it.
        let sound = s.find("<sound/>").expect("in script");
        assert!(
            insert_marked(s, sound + 2, Cue::Sound)
                .contains("<sound/><sound>[describe the sound]</sound>Three")
        );
        // Inside or after </speak>: just before it.
        let end = s.find("</speak>").expect("in script");
        let before_end = "Three<action>[describe the action]</action></speak>";
        for caret in [end, end + 3, s.len(), s.len() + 50] {
            assert!(insert_marked(s, caret, Cue::Action).ends_with(before_end), "caret {caret}");
        }
    }

    #[test]
    fn cues_in_broken_and_unusual_scripts() {
        // A self-closing <speak/> is opened up.
        assert_eq!(
            insert_marked("<speak voice=\"V\"/>", 99, Cue::Action),
            "<speak voice=\"V\"><action>[describe the action]</action></speak>"
        );
        // Comments are stepped over.
        let s = "<speak><!-- a note --></speak>";
        assert_eq!(
            insert_marked(s, 10, Cue::Sound),
            "<speak><!-- a note --><sound>[describe the sound]</sound></speak>"
        );
        // An unclosed action ends where the next tag starts.
        let s = "<speak>Hi <action>open <sound>x</sound></speak>";
        let caret = s.find("open").expect("in script");
        assert!(
            insert_marked(s, caret, Cue::Action)
                .contains("open <action>[describe the action]</action><sound>x")
        );
        // No <speak> at all: at the caret.
        assert_eq!(insert_marked("Hi", 1, Cue::Action), "H<action>[describe the action]</action>i");
        assert_eq!(insert_marked("", 5, Cue::Sound), "<sound>[describe the sound]</sound>");
    }
}
