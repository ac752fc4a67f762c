//! The transcription loop end to end on the test model's tiny Whisper (random weights: the words are
//! noise, the plumbing is real): found through the store, resampled, windowed, decoded with the fallback,
//! deterministic, and a language it does not know is a clear error.

use promptbook_engine::audio::AudioBuffer;
use promptbook_engine::stages::validation::test_model::make_test_whisper;
use promptbook_engine::stages::validation::{TranscribeOptions, Transcriber, ValidationError, WhisperFiles};
use promptbook_engine::store::{HubSettings, Manifest, Source, Store};
use promptbook_models::candle::Device;

fn tone_and_noise(sample_rate: u32, secs: f64) -> AudioBuffer {
    let n = (secs * f64::from(sample_rate)) as usize;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let samples: Vec<f32> = (0..n)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let noise = (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
            0.3 * (i as f32 * 0.07).sin() + 0.05 * noise
        })
        .collect();
    AudioBuffer::new(sample_rate, vec![samples.clone(), samples]).expect("stereo buffer")
}

#[test]
fn the_test_whisper_transcribes_deterministically_through_the_store() {
    let dir = std::env::temp_dir().join(format!("pb-transcribe-{}", std::process::id()));
    make_test_whisper(&dir, 3).unwrap();
    let store = Store::new(Source::ModelsDir(dir.clone()), HubSettings::from_env(), Manifest::builtin());
    let files = WhisperFiles::locate(&store).unwrap();
    let transcriber = Transcriber::load(&files, &Device::Cpu).unwrap();
    assert_eq!(transcriber.sample_rate(), 16_000);

    // 31 s: two windows (30 s + 1 s).
    let audio = tone_and_noise(16_000, 31.0);
    let opts = TranscribeOptions { language: Some("en".into()), ..Default::default() };
    let started = std::time::Instant::now();
    let a = transcriber.transcribe(&audio, &opts).unwrap();
    eprintln!("two windows in {:.1} s", started.elapsed().as_secs_f64());
    let b = transcriber.transcribe(&audio, &opts).unwrap();
    assert_eq!(a, b, "same audio, same seed, same transcript");
    assert_eq!(a.language, "en");
    for s in &a.segments {
        assert!(s.start_secs < s.end_secs && s.end_secs <= 31.0 + 1e-9, "{s:?}");
        assert!(s.avg_logprob.is_finite() && s.avg_logprob <= 0.0, "{s:?}");
        assert!((0.0..=1.0).contains(&s.no_speech_prob), "{s:?}");
        assert!((1..=6).contains(&s.tries), "{s:?}");
    }
    let joined: Vec<&str> = a.segments.iter().map(|s| s.text.trim()).collect();
    assert_eq!(a.text, joined.join(" ").trim());

    // 48 kHz stereo is mixed down and resampled; no language: detected, one of the model's codes.
    let detected =
        transcriber.transcribe(&tone_and_noise(48_000, 2.0), &TranscribeOptions::default()).unwrap();
    assert!(detected.segments.iter().all(|s| s.end_secs <= 2.0 + 1e-9));
    assert!(transcriber.tokenizer().language_token(&detected.language).is_some(), "{}", detected.language);

    let err = transcriber
        .transcribe(&audio, &TranscribeOptions { language: Some("xx".into()), ..Default::default() })
        .unwrap_err();
    assert!(matches!(err, ValidationError::UnknownLanguage { .. }));
    let text = err.to_string();
    assert!(text.contains("\"xx\"") && text.contains(" en ") && text.contains(" de "), "{text}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn missing_whisper_files_name_the_fix() {
    let dir = std::env::temp_dir().join(format!("pb-transcribe-missing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::new(Source::ModelsDir(dir.clone()), HubSettings::from_env(), Manifest::builtin());
    let err = WhisperFiles::locate(&store).unwrap_err().to_string();
    assert!(err.contains("openai/whisper-small/model.safetensors"), "{err}");
    assert!(err.contains("promptbook models download --optional"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
