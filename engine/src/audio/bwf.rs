//! Broadcast WAV files: a RIFF/WAVE file with a `bext` chunk (EBU Tech 3285 version 2, with the loudness
//! fields of EBU R 128 / Tech 3285 s1) and an `iXML` chunk (iXML 2.10: PROJECT, SCENE, TAKE, CIRCLED, NOTE and
//! a track list), written atomically.
//!
//! Chunk order: `fmt `, `fact` (float files only), `bext`, `iXML`, `data`, so readers that stop at `data` have
//! seen the metadata. Text fields of `bext` are fixed-size and NUL-padded, written as UTF-8 (Tech 3285 asks for
//! ASCII; UTF-8 keeps non-English line text and is ASCII for English), cut at a character boundary when too
//! long. hound writes plain WAVs only, so this writer builds the bytes itself.

use std::path::Path;

use super::wav::write_bytes_atomically;
use super::{AudioBuffer, AudioError, WavSampleFormat};

/// `bext` field sizes (Tech 3285).
const DESCRIPTION_LEN: usize = 256;
const ORIGINATOR_LEN: usize = 32;
const ORIGINATOR_REFERENCE_LEN: usize = 32;
const RESERVED_LEN: usize = 180;
const UMID_LEN: usize = 64;
/// Version 2: the loudness fields are valid.
const BEXT_VERSION: u16 = 2;
const WAVE_FORMAT_PCM: u16 = 1;
const WAVE_FORMAT_IEEE_FLOAT: u16 = 3;

/// The loudness fields of `bext` v2, in the units EBU Tech 3285 s1 stores them (×100 as `i16`).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BextLoudness {
    /// Integrated loudness, LUFS.
    pub integrated_lufs: f64,
    /// Loudness range, LU.
    pub range_lu: f64,
    /// Maximum true peak, dBTP.
    pub max_true_peak_dbtp: f64,
    /// Highest momentary (400 ms) loudness, LUFS.
    pub max_momentary_lufs: f64,
    /// Highest short-term (3 s) loudness, LUFS.
    pub max_short_term_lufs: f64,
}

/// The `bext` chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct Bext {
    /// `Description`: the line's text (256 bytes).
    pub description: String,
    /// `Originator`: the software and its version (32 bytes).
    pub originator: String,
    /// `OriginatorReference`: the take id (32 bytes).
    pub originator_reference: String,
    /// `OriginationDate`, `yyyy-mm-dd`.
    pub origination_date: String,
    /// `OriginationTime`, `hh:mm:ss`.
    pub origination_time: String,
    /// `TimeReference`: samples since midnight of the first sample (0: not placed on a timeline).
    pub time_reference: u64,
    /// Loudness of the file as written; `None` writes the "not measured" value 0x7fff.
    pub loudness: Option<BextLoudness>,
    /// `CodingHistory` (ASCII lines ending in CR LF).
    pub coding_history: String,
}

/// The `iXML` fields Promptbook fills.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Ixml {
    /// `PROJECT`.
    pub project: String,
    /// `SCENE`: the script line.
    pub scene: String,
    /// `TAKE`: the take number.
    pub take: String,
    /// `CIRCLED`: the take is starred.
    pub circled: bool,
    /// `NOTE`: the take's note.
    pub note: String,
    /// `TRACK_LIST` names, one per channel (empty: none written).
    pub track_names: Vec<String>,
}

impl Ixml {
    /// The chunk's XML document.
    pub fn to_xml(&self) -> String {
        let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<BWFXML>\n");
        let mut field =
            |name: &str, value: &str| xml.push_str(&format!("  <{name}>{}</{name}>\n", escape(value)));
        field("IXML_VERSION", "2.10");
        field("PROJECT", &self.project);
        field("SCENE", &self.scene);
        field("TAKE", &self.take);
        field("CIRCLED", if self.circled { "TRUE" } else { "FALSE" });
        field("NOTE", &self.note);
        if !self.track_names.is_empty() {
            xml.push_str(&format!(
                "  <TRACK_LIST>\n    <TRACK_COUNT>{}</TRACK_COUNT>\n",
                self.track_names.len()
            ));
            for (i, name) in self.track_names.iter().enumerate() {
                xml.push_str(&format!(
                    "    <TRACK>\n      <CHANNEL_INDEX>{n}</CHANNEL_INDEX>\n      <INTERLEAVE_INDEX>{n}</INTERLEAVE_INDEX>\n      <NAME>{}</NAME>\n    </TRACK>\n",
                    escape(name),
                    n = i + 1
                ));
            }
            xml.push_str("  </TRACK_LIST>\n");
        }
        xml.push_str("</BWFXML>\n");
        xml
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters; tabs and newlines stay.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// `text` as a NUL-padded field of `len` bytes, cut at a UTF-8 character boundary.
fn fixed_field(text: &str, len: usize) -> Vec<u8> {
    let mut end = text.len().min(len);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut field = text.as_bytes()[..end].to_vec();
    field.resize(len, 0);
    field
}

/// Loudness ×100 as `i16` (0x7fff when not measured or out of range).
fn centi(value: Option<f64>) -> [u8; 2] {
    let v = match value {
        Some(v) if v.is_finite() && (v * 100.0).abs() < 32_767.0 => (v * 100.0).round() as i16,
        _ => 0x7fff,
    };
    v.to_le_bytes()
}

impl Bext {
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(602 + self.coding_history.len());
        b.extend(fixed_field(&self.description, DESCRIPTION_LEN));
        b.extend(fixed_field(&self.originator, ORIGINATOR_LEN));
        b.extend(fixed_field(&self.originator_reference, ORIGINATOR_REFERENCE_LEN));
        b.extend(fixed_field(&self.origination_date, 10));
        b.extend(fixed_field(&self.origination_time, 8));
        b.extend((self.time_reference as u32).to_le_bytes());
        b.extend(((self.time_reference >> 32) as u32).to_le_bytes());
        b.extend(BEXT_VERSION.to_le_bytes());
        b.extend([0u8; UMID_LEN]);
        let l = self.loudness;
        b.extend(centi(l.map(|l| l.integrated_lufs)));
        b.extend(centi(l.map(|l| l.range_lu)));
        b.extend(centi(l.map(|l| l.max_true_peak_dbtp)));
        b.extend(centi(l.map(|l| l.max_momentary_lufs)));
        b.extend(centi(l.map(|l| l.max_short_term_lufs)));
        b.extend([0u8; RESERVED_LEN]);
        b.extend(self.coding_history.as_bytes());
        b
    }
}

fn chunk(out: &mut Vec<u8>, id: &[u8; 4], body: &[u8]) -> Result<(), AudioError> {
    let len = u32::try_from(body.len()).map_err(|_| {
        AudioError::InvalidBuffer(format!(
            "a {} chunk of {} bytes is too large for WAV",
            String::from_utf8_lossy(id),
            body.len()
        ))
    })?;
    out.extend(id);
    out.extend(len.to_le_bytes());
    out.extend(body);
    if body.len() % 2 == 1 {
        out.push(0);
    }
    Ok(())
}

/// The whole file as bytes.
pub fn bwf_bytes(
    audio: &AudioBuffer,
    format: WavSampleFormat,
    bext: &Bext,
    ixml: &Ixml,
) -> Result<Vec<u8>, AudioError> {
    let channels = u16::try_from(audio.num_channels())
        .map_err(|_| AudioError::InvalidBuffer(format!("{} channels", audio.num_channels())))?;
    let (bits, tag): (u16, u16) = match format {
        WavSampleFormat::Pcm16 => (16, WAVE_FORMAT_PCM),
        WavSampleFormat::Pcm24 => (24, WAVE_FORMAT_PCM),
        WavSampleFormat::Float32 => (32, WAVE_FORMAT_IEEE_FLOAT),
    };
    let block_align = channels * (bits / 8);
    let mut fmt = Vec::with_capacity(18);
    fmt.extend(tag.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(audio.sample_rate().to_le_bytes());
    fmt.extend((audio.sample_rate() * u32::from(block_align)).to_le_bytes());
    fmt.extend(block_align.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if tag == WAVE_FORMAT_IEEE_FLOAT {
        // Non-PCM formats carry `cbSize` (0 extra bytes).
        fmt.extend(0u16.to_le_bytes());
    }
    let mut data = Vec::with_capacity(audio.frames() * usize::from(block_align));
    for s in audio.interleaved() {
        match format {
            WavSampleFormat::Pcm16 => {
                data.extend(((s.clamp(-1.0, 1.0) * 32_767.0).round() as i16).to_le_bytes())
            }
            WavSampleFormat::Pcm24 => {
                data.extend(&((s.clamp(-1.0, 1.0) * 8_388_607.0).round() as i32).to_le_bytes()[..3])
            }
            WavSampleFormat::Float32 => data.extend(s.to_le_bytes()),
        }
    }
    let mut body = b"WAVE".to_vec();
    chunk(&mut body, b"fmt ", &fmt)?;
    if tag == WAVE_FORMAT_IEEE_FLOAT {
        let frames =
            u32::try_from(audio.frames()).map_err(|_| AudioError::InvalidBuffer("too many frames".into()))?;
        chunk(&mut body, b"fact", &frames.to_le_bytes())?;
    }
    // RIFF pads odd chunks with a byte outside the chunk; some readers (hound among them) do not skip it, so the
    // metadata chunks are made even inside: a NUL after the coding history, a newline after the XML.
    let mut bext_bytes = bext.to_bytes();
    if bext_bytes.len() % 2 == 1 {
        bext_bytes.push(0);
    }
    let mut xml = ixml.to_xml().into_bytes();
    if xml.len() % 2 == 1 {
        xml.push(b'\n');
    }
    chunk(&mut body, b"bext", &bext_bytes)?;
    chunk(&mut body, b"iXML", &xml)?;
    chunk(&mut body, b"data", &data)?;
    let mut file = Vec::with_capacity(body.len() + 8);
    chunk(&mut file, b"RIFF", &body)?;
    Ok(file)
}

/// Write `audio` as a Broadcast WAV at `path` (temporary file, then rename).
pub fn write_bwf(
    path: &Path,
    audio: &AudioBuffer,
    format: WavSampleFormat,
    bext: &Bext,
    ixml: &Ixml,
) -> Result<(), AudioError> {
    write_bytes_atomically(path, &bwf_bytes(audio, format, bext, ixml)?)
}

/// `(yyyy-mm-dd, hh:mm:ss)` in UTC for `time` (BWF names no time zone; UTC is unambiguous).
pub fn origination_utc(time: std::time::SystemTime) -> (String, String) {
    let secs = time.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rest / 3600, rest / 60 % 60, rest % 60),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_fixed_size_and_cut_on_char_boundaries() {
        assert_eq!(fixed_field("abc", 5), b"abc\0\0");
        // "é" is two bytes: a 2-byte field cannot hold "aé".
        assert_eq!(fixed_field("aé", 2), b"a\0");
        assert_eq!(centi(Some(-23.004)), (-2300i16).to_le_bytes());
        assert_eq!(centi(None), 0x7fffi16.to_le_bytes());
        assert_eq!(centi(Some(f64::NEG_INFINITY)), 0x7fffi16.to_le_bytes());
    }

    #[test]
    fn utc_dates_follow_the_calendar() {
        let at = |secs| origination_utc(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs));
        assert_eq!(at(0), ("1970-01-01".into(), "00:00:00".into()));
        assert_eq!(at(951_782_400 + 3_723), ("2000-02-29".into(), "01:02:03".into()));
        assert_eq!(at(4_107_542_399), ("2100-02-28".into(), "23:59:59".into()));
    }

    #[test]
    fn ixml_escapes_text() {
        let xml = Ixml { note: "a < b & \"c\"\u{1}".into(), circled: true, ..Ixml::default() }.to_xml();
        assert!(xml.contains("<NOTE>a &lt; b &amp; &quot;c&quot;</NOTE>"), "{xml}");
        assert!(xml.contains("<CIRCLED>TRUE</CIRCLED>"));
        assert!(!xml.contains("TRACK_LIST"));
    }
}
