//! Stem export: dialogue, SFX and mix of one take (or one chunk of it) as Broadcast WAVs named
//! `{project}_{line}_T{nn}[_chunk{kk}]_{stem}.wav`, loudness-normalised by a preset, with `bext` and `iXML`
//! metadata and a compliance line for the export report.
//!
//! One gain, measured on the mix, is applied to every stem, so the stems still sum to the mix. When the
//! preset's true-peak ceiling would be exceeded at the target loudness, the gain is lowered to meet the
//! ceiling (no limiter is applied) and the report says the loudness target was missed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::bwf::{Bext, BextLoudness, Ixml, origination_utc, write_bwf};
use super::{AudioBuffer, AudioError, WavSampleFormat};

/// A loudness target for export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoudnessPreset {
    /// EBU R 128: −23 LUFS integrated (±0.5 LU), true peak at most −1 dBTP.
    EbuR128,
    /// Podcast: −16 LUFS integrated (±1 LU), true peak at most −1 dBTP (the common streaming ceiling).
    Podcast,
    /// No normalisation: the take's own level.
    #[default]
    None,
}

impl LoudnessPreset {
    /// `(target LUFS, tolerance LU, true-peak ceiling dBTP)`.
    pub fn target(self) -> Option<(f64, f64, f64)> {
        match self {
            Self::EbuR128 => Some((-23.0, 0.5, -1.0)),
            Self::Podcast => Some((-16.0, 1.0, -1.0)),
            Self::None => None,
        }
    }

    /// For reports and menus.
    pub fn label(self) -> &'static str {
        match self {
            Self::EbuR128 => "EBU R128 (-23 LUFS, -1 dBTP)",
            Self::Podcast => "Podcast (-16 LUFS, -1 dBTP)",
            Self::None => "No loudness normalisation",
        }
    }
}

/// A full BS.1770 / EBU Tech 3341-3342 measurement.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Loudness {
    /// Gated integrated loudness; `None` for silence or audio shorter than one 400 ms block.
    pub integrated_lufs: Option<f64>,
    /// Loudness range (LU); `None` when it cannot be measured.
    pub range_lu: Option<f64>,
    /// Largest true peak over the channels, dBTP (−∞ for digital silence).
    pub true_peak_dbtp: f64,
    /// Largest momentary (400 ms) loudness seen, 100 ms steps.
    pub max_momentary_lufs: Option<f64>,
    /// Largest short-term (3 s) loudness seen, 100 ms steps.
    pub max_short_term_lufs: Option<f64>,
}

impl Loudness {
    /// The `bext` v2 fields (`None` when there is no integrated loudness to report).
    pub fn bext(&self) -> Option<BextLoudness> {
        Some(BextLoudness {
            integrated_lufs: self.integrated_lufs?,
            range_lu: self.range_lu.unwrap_or(0.0),
            max_true_peak_dbtp: self.true_peak_dbtp,
            max_momentary_lufs: self.max_momentary_lufs.unwrap_or(f64::NAN),
            max_short_term_lufs: self.max_short_term_lufs.unwrap_or(f64::NAN),
        })
    }
}

/// Measure `audio` (channels 1 and 2 weighted as left and right, further channels as the meter's defaults).
pub fn measure_loudness(audio: &AudioBuffer) -> Result<Loudness, AudioError> {
    use ebur128::{EbuR128, Mode};
    let meter_err = |e: ebur128::Error| AudioError::InvalidBuffer(format!("loudness meter: {e}"));
    let channels =
        u32::try_from(audio.num_channels()).map_err(|_| AudioError::InvalidBuffer("channels".into()))?;
    let mut meter = EbuR128::new(
        channels,
        audio.sample_rate(),
        Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::M | Mode::S,
    )
    .map_err(meter_err)?;
    let step = (audio.sample_rate() / 10).max(1) as usize;
    let (mut max_m, mut max_s) = (f64::NEG_INFINITY, f64::NEG_INFINITY);
    let mut start = 0;
    while start < audio.frames() {
        let end = (start + step).min(audio.frames());
        let planar: Vec<&[f32]> = audio.channels().iter().map(|c| &c[start..end]).collect();
        meter.add_frames_planar_f32(&planar).map_err(meter_err)?;
        if let Ok(m) = meter.loudness_momentary() {
            max_m = max_m.max(m);
        }
        if let Ok(s) = meter.loudness_shortterm() {
            max_s = max_s.max(s);
        }
        start = end;
    }
    let finite = |v: f64| Some(v).filter(|v| v.is_finite());
    let peak = (0..channels).filter_map(|c| meter.true_peak(c).ok()).fold(0.0, f64::max);
    Ok(Loudness {
        integrated_lufs: meter.loudness_global().ok().and_then(finite),
        range_lu: meter.loudness_range().ok().and_then(finite),
        true_peak_dbtp: 20.0 * peak.log10(),
        max_momentary_lufs: finite(max_m),
        max_short_term_lufs: finite(max_s),
    })
}

/// Which stem a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StemKind {
    Dialogue,
    Sfx,
    Mix,
}

impl StemKind {
    /// The file-name suffix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dialogue => "dialogue",
            Self::Sfx => "sfx",
            Self::Mix => "mix",
        }
    }
}

/// What the export knows about the take.
#[derive(Debug, Clone, PartialEq)]
pub struct TakeInfo {
    /// The project's name (`PROJECT`, first part of the file name).
    pub project: String,
    /// The script line's name (`SCENE`, second part of the file name).
    pub line: String,
    /// The line's text (the `bext` description).
    pub line_text: String,
    /// Take number (T{nn}, `TAKE`).
    pub take_number: u32,
    /// The take's id (`OriginatorReference`).
    pub take_id: String,
    /// Starred (`CIRCLED`).
    pub circled: bool,
    /// The take's note (`NOTE`).
    pub note: String,
    /// 1-based chunk number when exporting one chunk of the take.
    pub chunk: Option<usize>,
}

/// One exported stem.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StemFile {
    pub kind: StemKind,
    pub path: PathBuf,
    /// As written (after the gain).
    pub loudness: Loudness,
}

/// What [`export_stems`] did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StemExport {
    pub files: Vec<StemFile>,
    pub preset: LoudnessPreset,
    /// Applied to every stem.
    pub gain_db: f64,
    /// The mix before the gain.
    pub mix_before: Loudness,
    /// Whether the mix meets the preset (always true for [`LoudnessPreset::None`]).
    pub compliant: bool,
    /// One line for the export report.
    pub compliance: String,
}

/// `{project}_{line}_T{nn}[_chunk{kk}]_{stem}` with file-system-safe parts (letters, digits, `-`, `_`).
pub fn stem_file_name(info: &TakeInfo, kind: StemKind) -> String {
    let mut name = format!("{}_{}_T{:02}", file_safe(&info.project), file_safe(&info.line), info.take_number);
    if let Some(chunk) = info.chunk {
        name.push_str(&format!("_chunk{chunk:02}"));
    }
    format!("{name}_{}", kind.name())
}

fn file_safe(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
    let trimmed = cleaned.trim_matches('-');
    if trimmed.is_empty() { "untitled".into() } else { trimmed.to_string() }
}

/// The gain a preset asks for `mix`, whether the result complies, and the report line.
pub fn plan_gain(preset: LoudnessPreset, mix: &Loudness) -> (f64, bool, String) {
    let fmt = |v: f64| if v.is_finite() { format!("{v:.1}") } else { "-inf".to_string() };
    let Some((target, tolerance, ceiling)) = preset.target() else {
        let level = match mix.integrated_lufs {
            Some(l) => format!("{} LUFS", fmt(l)),
            None => "too quiet or short to measure".into(),
        };
        return (
            0.0,
            true,
            format!("{}: mix {level}, true peak {} dBTP", preset.label(), fmt(mix.true_peak_dbtp)),
        );
    };
    let Some(measured) = mix.integrated_lufs else {
        return (
            0.0,
            false,
            format!("{}: not compliant, the mix is too quiet or short to measure", preset.label()),
        );
    };
    let mut gain = target - measured;
    let limited = mix.true_peak_dbtp + gain > ceiling;
    if limited {
        gain = ceiling - mix.true_peak_dbtp;
    }
    let (loudness, peak) = (measured + gain, mix.true_peak_dbtp + gain);
    let compliant = (loudness - target).abs() <= tolerance && peak <= ceiling + 1e-9;
    let verdict = if compliant {
        "compliant".to_string()
    } else {
        format!("not compliant: the true-peak ceiling allows only {} LUFS", fmt(loudness))
    };
    let line = format!(
        "{}: mix {} LUFS, true peak {} dBTP after {}{} dB gain - {verdict}",
        preset.label(),
        fmt(loudness),
        fmt(peak),
        if gain >= 0.0 { "+" } else { "" },
        fmt(gain),
    );
    (gain, compliant, line)
}

/// Write `stems` (each a kind and its audio, all at one rate and length) into `dir` as Broadcast WAVs,
/// normalised together by `preset` measured on the mix (the [`StemKind::Mix`] stem when given, else the sum of
/// the others). `originator` goes into `bext` (e.g. `Promptbook 0.1.0`).
pub fn export_stems(
    dir: &Path,
    info: &TakeInfo,
    stems: &[(StemKind, &AudioBuffer)],
    format: WavSampleFormat,
    preset: LoudnessPreset,
    originator: &str,
) -> Result<StemExport, AudioError> {
    let Some((_, first)) = stems.first() else {
        return Err(AudioError::InvalidBuffer("no stems to export".into()));
    };
    if let Some((kind, bad)) = stems.iter().find(|(_, a)| {
        (a.sample_rate(), a.frames(), a.num_channels())
            != (first.sample_rate(), first.frames(), first.num_channels())
    }) {
        return Err(AudioError::InvalidBuffer(format!(
            "the {} stem ({} Hz, {} frames, {} channels) does not match the first stem",
            kind.name(),
            bad.sample_rate(),
            bad.frames(),
            bad.num_channels()
        )));
    }
    let mix = match stems.iter().find(|(k, _)| *k == StemKind::Mix) {
        Some((_, mix)) => (*mix).clone(),
        None => {
            let mut sum = vec![vec![0f32; first.frames()]; first.num_channels()];
            for (_, stem) in stems {
                for (acc, c) in sum.iter_mut().zip(stem.channels()) {
                    for (a, v) in acc.iter_mut().zip(c) {
                        *a += v;
                    }
                }
            }
            AudioBuffer::new(first.sample_rate(), sum)?
        }
    };
    let mix_before = measure_loudness(&mix)?;
    let (gain_db, compliant, compliance) = plan_gain(preset, &mix_before);
    let gain = 10f64.powf(gain_db / 20.0) as f32;
    std::fs::create_dir_all(dir).map_err(|source| AudioError::Io {
        action: "create",
        path: dir.into(),
        source,
    })?;
    let (date, time) = origination_utc(SystemTime::now());
    let mut files = Vec::with_capacity(stems.len());
    for (kind, audio) in stems {
        let scaled = AudioBuffer::new(
            audio.sample_rate(),
            audio.channels().iter().map(|c| c.iter().map(|v| v * gain).collect()).collect(),
        )?;
        let loudness = measure_loudness(&scaled)?;
        let channels = scaled.num_channels();
        let track_names = (0..channels)
            .map(|c| match (channels, c) {
                (1, _) => kind.name().to_string(),
                (2, 0) => format!("{} L", kind.name()),
                (2, _) => format!("{} R", kind.name()),
                _ => format!("{} {}", kind.name(), c + 1),
            })
            .collect();
        let bext = Bext {
            description: info.line_text.clone(),
            originator: originator.to_string(),
            originator_reference: info.take_id.clone(),
            origination_date: date.clone(),
            origination_time: time.clone(),
            time_reference: 0,
            loudness: loudness.bext(),
            coding_history: format!(
                "A=PCM,F={},W={},M={},T={originator}; {}\r\n",
                scaled.sample_rate(),
                match format {
                    WavSampleFormat::Pcm16 => 16,
                    WavSampleFormat::Pcm24 => 24,
                    WavSampleFormat::Float32 => 32,
                },
                if channels == 1 { "mono" } else { "stereo" },
                kind.name()
            ),
        };
        let ixml = Ixml {
            project: info.project.clone(),
            scene: info.line.clone(),
            take: info.take_number.to_string(),
            circled: info.circled,
            note: info.note.clone(),
            track_names,
        };
        let path = dir.join(format!("{}.wav", stem_file_name(info, *kind)));
        write_bwf(&path, &scaled, format, &bext, &ixml)?;
        files.push(StemFile { kind: *kind, path, loudness });
    }
    Ok(StemExport { files, preset, gain_db, mix_before, compliant, compliance })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loud(integrated: Option<f64>, peak: f64) -> Loudness {
        Loudness {
            integrated_lufs: integrated,
            range_lu: None,
            true_peak_dbtp: peak,
            max_momentary_lufs: None,
            max_short_term_lufs: None,
        }
    }

    #[test]
    fn gains_meet_the_target_or_stop_at_the_true_peak_ceiling() {
        let (gain, ok, line) = plan_gain(LoudnessPreset::EbuR128, &loud(Some(-18.0), -6.0));
        assert_eq!((gain, ok), (-5.0, true));
        assert!(line.contains("-23.0 LUFS") && line.ends_with("compliant"), "{line}");
        // -30 LUFS with a -2 dBTP peak: reaching -16 LUFS would put the peak at +12 dBTP.
        let (gain, ok, line) = plan_gain(LoudnessPreset::Podcast, &loud(Some(-30.0), -2.0));
        assert_eq!((gain, ok), (1.0, false));
        assert!(line.contains("not compliant") && line.contains("-29.0 LUFS"), "{line}");
        let (gain, ok, _) = plan_gain(LoudnessPreset::EbuR128, &loud(None, f64::NEG_INFINITY));
        assert_eq!((gain, ok), (0.0, false));
        let (gain, ok, line) = plan_gain(LoudnessPreset::None, &loud(Some(-20.04), -3.0));
        assert_eq!((gain, ok), (0.0, true));
        assert!(line.contains("-20.0 LUFS"), "{line}");
    }

    #[test]
    fn names_follow_the_pattern() {
        let info = TakeInfo {
            project: "Ad read".into(),
            line: "line01".into(),
            line_text: String::new(),
            take_number: 3,
            take_id: String::new(),
            circled: false,
            note: String::new(),
            chunk: None,
        };
        assert_eq!(stem_file_name(&info, StemKind::Sfx), "Ad-read_line01_T03_sfx");
        let chunk = TakeInfo { chunk: Some(2), project: "a/b".into(), ..info };
        assert_eq!(stem_file_name(&chunk, StemKind::Dialogue), "a-b_line01_T03_chunk02_dialogue");
    }
}
