//! A take rendered today is bit-identical to the one the code rendered when these fixtures were made
//! (before the voice-engine architecture): same seed, same test model, same samples, to the last bit, on
//! the CPU they were made on (an AMD EPYC build machine). On another CPU the matmul blocking follows other
//! cache sizes, so the sums round differently: there lengths and chunk layout stay exact and the samples are
//! held to 1e-3.
//!
//! Both takes are kept as the SHA-256 of their samples (`digests.txt`, with lengths and chunk starts),
//! and the first quarter second of the short one as audio (`short_head.wav`, 32-bit float, lossless) to
//! say where a difference starts; whole takes would be megabytes. Set `PROMPTBOOK_BLESS=1` to write them
//! again (only when a change to the output is intended, and say so in the commit).

use std::path::{Path, PathBuf};

use promptbook_engine::audio::{AudioBuffer, WavSampleFormat, read_wav, write_wav};
use promptbook_engine::check::EstimatorKind;
use promptbook_engine::engines::scenema::ScenemaLoader;
use promptbook_engine::engines::scenema::test_model::make_test_model;
use promptbook_engine::engines::{EngineLoader, LoadOptions};
use promptbook_engine::pipeline::render::{RenderMode, RenderRequest, Take, render};
use promptbook_engine::stages::StageModels;
use sha2::{Digest, Sha256};

const SHORT: &str =
    r#"<speak voice="A calm male voice" gender="male" scene="A small office">Hello there.</speak>"#;
const LONG: &str = r#"<speak voice="A calm male voice" gender="male" scene="A small office">I have been meaning to tell you something for a long time. It is about the letters you sent last winter, and the ones I never answered. <action>He pauses.</action> I read every one of them, more than once, and I kept them all in a box by the window.</speak>"#;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/take_identity")
}

fn bless() -> bool {
    std::env::var("PROMPTBOOK_BLESS").is_ok_and(|v| v == "1")
}

/// A deterministic 1.5 s stereo reference: a gliding tone with a little second harmonic.
fn reference() -> AudioBuffer {
    let rate = 48_000u32;
    let n = 72_000;
    let left: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / f64::from(rate);
            let phase = 2.0 * std::f64::consts::PI * (180.0 * t + 40.0 * t * t);
            (0.3 * phase.sin() + 0.05 * (2.0 * phase).sin()) as f32
        })
        .collect();
    let right: Vec<f32> = left.iter().map(|s| s * 0.8).collect();
    AudioBuffer::from_channels(rate, vec![left, right])
}

fn render_take(dir: &Path, script: &str, seed: i64, reference: Option<AudioBuffer>) -> Take {
    let options = LoadOptions { models_dir: Some(dir.to_path_buf()), ..LoadOptions::default() };
    let mut loader = ScenemaLoader { options };
    let mut engine = loader.load(&mut |_, _| {}).expect("the test model loads");
    // The post stages did not exist before: the engine alone, as then.
    let mut request =
        RenderRequest::engine_only(script.into(), seed, 1.5, RenderMode::Generate, EstimatorKind::Default);
    request.reference = reference.map(std::sync::Arc::new);
    let mut stages = StageModels::none();
    render(engine.as_mut(), &mut stages, &request, &mut |_| std::ops::ControlFlow::Continue(()))
        .expect("the render succeeds")
}

fn sample_digest(audio: &AudioBuffer) -> String {
    let mut hash = Sha256::new();
    hash.update(audio.sample_rate().to_le_bytes());
    for channel in audio.channels() {
        hash.update((channel.len() as u64).to_le_bytes());
        for s in channel {
            hash.update(s.to_bits().to_le_bytes());
        }
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn takes_are_bit_identical_to_the_committed_ones() {
    let dir = std::env::temp_dir().join(format!("pb-take-identity-{}", std::process::id()));
    make_test_model(&dir, 11).expect("the test model is written");

    let short = render_take(&dir, SHORT, 42, Some(reference()));
    let long = render_take(&dir, LONG, 7, None);
    assert!(long.record.chunks.len() > 1, "the long take must exercise chunk chaining");
    let long_facts = format!(
        "{}\nframes {}\nchunks {}\nstarts {:?}\n",
        sample_digest(&long.audio),
        long.audio.frames(),
        long.record.chunks.len(),
        long.record.chunks.iter().map(|c| c.start_s).collect::<Vec<_>>()
    );

    let short_facts = format!(
        "{}\nframes {}\nchunks {}\n",
        sample_digest(&short.audio),
        short.audio.frames(),
        short.record.chunks.len()
    );
    let digests = format!("short\n{short_facts}long\n{long_facts}");
    let head = short.audio.slice(0, short.audio.sample_rate() as usize / 4);

    let head_path = fixtures().join("short_head.wav");
    let digests_path = fixtures().join("digests.txt");
    if bless() {
        std::fs::create_dir_all(fixtures()).unwrap();
        let buffer = AudioBuffer::new(head.sample_rate(), head.channels().to_vec()).unwrap();
        write_wav(&head_path, &buffer, WavSampleFormat::Float32).unwrap();
        std::fs::write(&digests_path, &digests).unwrap();
    }

    let committed = read_wav(&head_path).expect("the committed head of the short take");
    assert_eq!(committed.sample_rate(), head.sample_rate());
    assert_eq!(committed.num_channels(), head.num_channels());
    let committed_digests = std::fs::read_to_string(&digests_path).expect("the committed digests");
    // Lengths, chunk counts and chunk starts are exact everywhere.
    let structure = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| !(l.len() == 64 && l.bytes().all(|b| b.is_ascii_hexdigit())))
            .map(String::from)
            .collect()
    };
    assert_eq!(structure(&committed_digests), structure(&digests), "take lengths or chunk layout changed");
    let mut max_diff = 0f32;
    let mut first_diff = None;
    for (c, (want, got)) in committed.channels().iter().zip(head.channels()).enumerate() {
        assert_eq!(want.len(), got.len(), "channel {c}: frame count");
        assert!(got.iter().all(|v| v.is_finite()), "channel {c}: a NaN or infinity");
        for (i, (a, b)) in want.iter().zip(got).enumerate() {
            if a.to_bits() != b.to_bits() {
                first_diff.get_or_insert((c, i));
                max_diff = max_diff.max((a - b).abs());
            }
        }
    }
    if committed_digests != digests {
        // Bit identity holds on the CPU the fixtures were made on; another CPU (other cache sizes, so other
        // matmul blocking and summation order) gives rounding differences only (1.8e-4 on an Intel Xeon).
        eprintln!(
            "not bit-identical on this CPU: first difference at {first_diff:?}, max |diff| {max_diff:e}"
        );
        assert!(max_diff <= 1e-3, "the short take's head moved by {max_diff:e} (first at {first_diff:?})");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
