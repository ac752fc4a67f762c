//! Stem export: the files carry `bext` and `iXML` that an independent reader (a RIFF walker written here, not
//! the engine's writer) gets back field by field, sox reads them as ordinary WAVs, the stems still sum to the
//! mix after the loudness gain, and the loudness fields and compliance line match the preset.

use std::path::Path;
use std::process::Command;

use promptbook_engine::audio::stems::{LoudnessPreset, StemKind, TakeInfo, export_stems, measure_loudness};
use promptbook_engine::audio::{AudioBuffer, WavSampleFormat};

/// Every chunk of a RIFF/WAVE file in file order, read with nothing but the byte layout. Every chunk must be
/// even-sized: hound (which `read_wav` uses) does not skip RIFF pad bytes.
fn riff_chunks(bytes: &[u8]) -> Chunks {
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let riff_len = u32::from_le_bytes(bytes[4..8].try_into().expect("RIFF size")) as usize;
    assert_eq!(riff_len + 8, bytes.len(), "the RIFF size covers the whole file");
    let mut chunks = Vec::new();
    let mut at = 12;
    while at + 8 <= bytes.len() {
        let id = String::from_utf8(bytes[at..at + 4].to_vec()).expect("chunk id");
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("chunk size")) as usize;
        assert_eq!(len % 2, 0, "{id} chunk has odd size {len}");
        chunks.push((id, bytes[at + 8..at + 8 + len].to_vec()));
        at += 8 + len;
    }
    assert_eq!(at, bytes.len(), "chunks tile the file");
    Chunks(chunks)
}

struct Chunks(Vec<(String, Vec<u8>)>);

impl Chunks {
    fn ids(&self) -> Vec<&str> {
        self.0.iter().map(|(id, _)| id.as_str()).collect()
    }

    fn get(&self, id: &str) -> &[u8] {
        &self.0.iter().find(|(i, _)| i == id).unwrap_or_else(|| panic!("no {id} chunk")).1
    }
}

/// A NUL-padded ASCII/UTF-8 field.
fn text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8(field[..end].to_vec()).expect("ASCII field")
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_le_bytes([b[at], b[at + 1]])
}

/// The text of `<TAG>` in an XML document (first occurrence).
fn xml_tag(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = xml.find(&open).unwrap_or_else(|| panic!("no <{tag}> in {xml}")) + open.len();
    let end = xml[start..].find(&format!("</{tag}>")).expect("closing tag") + start;
    xml[start..end].to_string()
}

fn take_audio() -> (AudioBuffer, AudioBuffer) {
    let rate = 48_000;
    let n = rate as usize * 4;
    let voice: Vec<f32> =
        (0..n).map(|i| 0.3 * (i as f32 * 2.0 * std::f32::consts::PI * 220.0 / rate as f32).sin()).collect();
    let room: Vec<f32> = (0..n).map(|i| 0.05 * ((i * 7919 % 1009) as f32 / 1009.0 - 0.5)).collect();
    let dialogue = AudioBuffer::new(rate, vec![voice.clone(), voice]).expect("dialogue buffer");
    let sfx =
        AudioBuffer::new(rate, vec![room.clone(), room.iter().map(|v| -v).collect()]).expect("sfx buffer");
    (dialogue, sfx)
}

fn info() -> TakeInfo {
    TakeInfo {
        project: "Ad read".into(),
        line: "line01".into(),
        line_text: "Many years later, as he faced the firing squad — «Colonel».".into(),
        take_number: 3,
        take_id: "take-0003-5f2a".into(),
        circled: true,
        note: "best <pause> & breath".into(),
        chunk: None,
    }
}

fn read_samples(path: &Path) -> Vec<Vec<f32>> {
    let mut reader = hound::WavReader::open(path).expect("open the stem");
    let channels = usize::from(reader.spec().channels);
    let interleaved: Vec<f32> = reader.samples::<f32>().map(|s| s.expect("stem sample")).collect();
    (0..channels).map(|c| interleaved.iter().skip(c).step_by(channels).copied().collect()).collect()
}

#[test]
fn stems_carry_bext_and_ixml_and_sum_to_the_mix() {
    let dir = std::env::temp_dir().join(format!("pb-stems-{}", std::process::id()));
    let (dialogue, sfx) = take_audio();
    let export = export_stems(
        &dir,
        &info(),
        &[(StemKind::Dialogue, &dialogue), (StemKind::Sfx, &sfx)],
        WavSampleFormat::Float32,
        LoudnessPreset::EbuR128,
        "Promptbook 0.1.0",
    )
    .unwrap();
    assert!(export.compliant, "{}", export.compliance);
    assert!(
        export.compliance.starts_with("EBU R128") && export.compliance.contains("-23.0 LUFS"),
        "{}",
        export.compliance
    );
    let names: Vec<String> =
        export.files.iter().map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned()).collect();
    assert_eq!(names, ["Ad-read_line01_T03_dialogue.wav", "Ad-read_line01_T03_sfx.wav"]);

    for file in &export.files {
        let chunks = riff_chunks(&std::fs::read(&file.path).unwrap());
        assert_eq!(chunks.ids(), ["fmt ", "fact", "bext", "iXML", "data"]);
        let fmt = chunks.get("fmt ");
        assert_eq!(u16::from_le_bytes([fmt[0], fmt[1]]), 3, "IEEE float");
        assert_eq!(u16::from_le_bytes([fmt[2], fmt[3]]), 2);
        assert_eq!(u32::from_le_bytes(fmt[4..8].try_into().unwrap()), 48_000);

        // EBU Tech 3285 v2 layout.
        let bext = chunks.get("bext");
        assert_eq!(text(&bext[0..256]), info().line_text);
        assert_eq!(text(&bext[256..288]), "Promptbook 0.1.0");
        assert_eq!(text(&bext[288..320]), "take-0003-5f2a");
        let date = text(&bext[320..330]);
        let time = text(&bext[330..338]);
        assert!(date.len() == 10 && date.as_bytes()[4] == b'-' && date.starts_with("20"), "{date}");
        assert!(time.len() == 8 && time.as_bytes()[2] == b':', "{time}");
        assert_eq!(u16::from_le_bytes([bext[346], bext[347]]), 2, "bext version");
        let integrated = f64::from(i16_at(bext, 412)) / 100.0;
        let true_peak = f64::from(i16_at(bext, 416)) / 100.0;
        let measured =
            measure_loudness(&AudioBuffer::new(48_000, read_samples(&file.path)).unwrap()).unwrap();
        assert!(
            (integrated - measured.integrated_lufs.unwrap()).abs() <= 0.01,
            "{integrated} vs {measured:?}"
        );
        assert!((true_peak - measured.true_peak_dbtp).abs() <= 0.01, "{true_peak} vs {measured:?}");
        assert!(i16_at(bext, 418) != 0x7fff && i16_at(bext, 420) != 0x7fff, "momentary / short-term maxima");
        let history = text(&bext[602..]);
        let stem = if file.kind == StemKind::Dialogue { "dialogue" } else { "sfx" };
        assert_eq!(history, format!("A=PCM,F=48000,W=32,M=stereo,T=Promptbook 0.1.0; {stem}\r\n"));

        let xml = String::from_utf8(chunks.get("iXML").to_vec()).unwrap();
        assert_eq!(xml_tag(&xml, "PROJECT"), "Ad read");
        assert_eq!(xml_tag(&xml, "SCENE"), "line01");
        assert_eq!(xml_tag(&xml, "TAKE"), "3");
        assert_eq!(xml_tag(&xml, "CIRCLED"), "TRUE");
        assert_eq!(xml_tag(&xml, "NOTE"), "best &lt;pause&gt; &amp; breath");
        assert_eq!(xml_tag(&xml, "TRACK_COUNT"), "2");

        // sox (a test dependency, see README) reads it as a plain 2-channel 48 kHz float WAV of 4 s.
        let out =
            Command::new("sox").arg("--i").arg(&file.path).output().expect("sox is needed by the tests");
        let info = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "sox --i failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(info.contains("Channels       : 2") && info.contains("Sample Rate    : 48000"), "{info}");
        assert!(info.contains("00:00:04.00 = 192000 samples"), "{info}");
        assert!(info.contains("32-bit Floating Point PCM"), "{info}");
    }

    // One gain for both stems: they still sum to the original mix, scaled.
    let gain = 10f32.powf(export.gain_db as f32 / 20.0);
    let d = read_samples(&export.files[0].path);
    let s = read_samples(&export.files[1].path);
    for c in 0..2 {
        for i in (0..192_000).step_by(997) {
            let mix = dialogue.channels()[c][i] + sfx.channels()[c][i];
            assert!((d[c][i] + s[c][i] - gain * mix).abs() < 1e-5);
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn pcm_stems_and_presets_that_cannot_comply() {
    let dir = std::env::temp_dir().join(format!("pb-stems-pcm-{}", std::process::id()));
    // A near-full-scale square wave: -16 LUFS would push the true peak far over -1 dBTP.
    let square: Vec<f32> = (0..96_000).map(|i| if (i / 60) % 2 == 0 { 0.05 } else { -0.05 }).collect();
    let spike = {
        let mut s = square.clone();
        s[50_000] = 0.99;
        s
    };
    let mix = AudioBuffer::mono(48_000, spike).unwrap();
    let info = TakeInfo { chunk: Some(2), circled: false, ..info() };
    let export = export_stems(
        &dir,
        &info,
        &[(StemKind::Mix, &mix)],
        WavSampleFormat::Pcm24,
        LoudnessPreset::Podcast,
        "Promptbook 0.1.0",
    )
    .unwrap();
    assert!(!export.compliant);
    assert!(export.compliance.contains("not compliant"), "{}", export.compliance);
    let file = &export.files[0];
    assert!(file.path.ends_with("Ad-read_line01_T03_chunk02_mix.wav"), "{}", file.path.display());
    let chunks = riff_chunks(&std::fs::read(&file.path).unwrap());
    assert_eq!(chunks.ids(), ["fmt ", "bext", "iXML", "data"]);
    let fmt = chunks.get("fmt ");
    assert_eq!((u16::from_le_bytes([fmt[0], fmt[1]]), u16::from_le_bytes([fmt[14], fmt[15]])), (1, 24));
    // The ceiling held: at most -1 dBTP (24-bit rounding allowed).
    assert!(file.loudness.true_peak_dbtp <= -0.99, "{:?}", file.loudness);
    let xml = String::from_utf8(chunks.get("iXML").to_vec()).unwrap();
    assert_eq!(xml_tag(&xml, "CIRCLED"), "FALSE");
    assert_eq!(xml_tag(&xml, "NAME"), "mix");
    let out = Command::new("sox").arg("--i").arg(&file.path).output().expect("sox is needed by the tests");
    let sox_info = String::from_utf8_lossy(&out.stdout);
    assert!(
        sox_info.contains("Channels       : 1") && sox_info.contains("24-bit Signed Integer PCM"),
        "{sox_info}"
    );
    // Mismatched stems are refused before anything is written.
    let other = AudioBuffer::mono(44_100, vec![0.0; 10]).unwrap();
    let err = export_stems(
        &dir.join("bad"),
        &info,
        &[(StemKind::Dialogue, &mix), (StemKind::Sfx, &other)],
        WavSampleFormat::Pcm16,
        LoudnessPreset::None,
        "x",
    )
    .unwrap_err();
    assert!(err.to_string().contains("sfx stem"), "{err}");
    assert!(!dir.join("bad").exists());
    std::fs::remove_dir_all(&dir).ok();
}
