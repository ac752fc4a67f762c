//! WAV import on arbitrary bytes: the reader may refuse anything, but never panic, never return a
//! buffer that breaks its own invariants, and never read past the limits it was given.

#![no_main]

use libfuzzer_sys::fuzz_target;
use promptbook_engine::audio::{MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, ReadLimits, decode_wav_bytes};

fuzz_target!(|data: &[u8]| {
    // Most inputs get a valid RIFF/WAVE prefix so the fuzzer spends its time inside the chunks.
    let mut bytes = data.to_vec();
    if data.first().is_some_and(|b| b & 1 == 0) && bytes.len() >= 12 {
        bytes[0..4].copy_from_slice(b"RIFF");
        bytes[8..12].copy_from_slice(b"WAVE");
    }
    for limits in [ReadLimits::CLIP, ReadLimits { max_file_secs: None, head_secs: Some(0.01) }] {
        if let Ok((audio, info)) = decode_wav_bytes("fuzz.wav", &bytes, limits) {
            assert!((MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&audio.sample_rate()));
            assert_eq!(info.sample_rate, audio.sample_rate());
            assert!(audio.frames() > 0);
            assert!(audio.frames() * audio.num_channels() <= bytes.len());
            assert!(audio.channels().iter().flatten().all(|s| s.is_finite()));
            if let Some(head) = limits.head_secs {
                assert!(audio.frames() as f64 <= (head * f64::from(audio.sample_rate())).ceil());
            }
        }
    }
});
