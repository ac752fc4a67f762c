//! The temperature fallback and the no-speech skip, exactly as faster-whisper 1.2.1 applies them
//! (`transcribe.py`: `WhisperModel.generate_with_fallback`, the no-speech check in `generate_segments`,
//! `get_compression_ratio`), as pure functions over decoded attempts.

use std::io::Write as _;

/// faster-whisper's `get_compression_ratio`: UTF-8 bytes over zlib-compressed bytes (`zlib.compress`,
/// level 6). Repetitive text compresses well and scores high.
pub fn compression_ratio(text: &str) -> f64 {
    let bytes = text.as_bytes();
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let compressed = encoder.write_all(bytes).and_then(|()| encoder.finish()).map(|v| v.len()).unwrap_or(1);
    bytes.len() as f64 / compressed.max(1) as f64
}

/// The thresholds (`None` turns a rule off, as in faster-whisper).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FallbackRules {
    /// `compression_ratio_threshold` (2.4): above it the text is too repetitive.
    pub compression_ratio_threshold: Option<f64>,
    /// `log_prob_threshold` (-1.0): below it the decoding is too unsure.
    pub log_prob_threshold: Option<f64>,
    /// `no_speech_threshold` (0.6): above it, with a low log-probability, the window is silence.
    pub no_speech_threshold: Option<f64>,
}

impl Default for FallbackRules {
    fn default() -> Self {
        Self {
            compression_ratio_threshold: Some(2.4),
            log_prob_threshold: Some(-1.0),
            no_speech_threshold: Some(0.6),
        }
    }
}

/// What one decoding at one temperature gave, as the rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt<T> {
    pub temperature: f64,
    pub avg_logprob: f64,
    pub compression_ratio: f64,
    pub no_speech_prob: f64,
    /// The decoded result itself.
    pub result: T,
}

impl FallbackRules {
    fn too_repetitive(&self, compression_ratio: f64) -> bool {
        self.compression_ratio_threshold.is_some_and(|t| compression_ratio > t)
    }

    fn low_logprob(&self, avg_logprob: f64) -> bool {
        self.log_prob_threshold.is_some_and(|t| avg_logprob < t)
    }

    /// Whether the next temperature must be tried: too repetitive or too unsure, unless the window looks
    /// like silence (high no-speech probability and low log-probability).
    pub fn needs_fallback<T>(&self, a: &Attempt<T>) -> bool {
        let silence =
            self.no_speech_threshold.is_some_and(|t| a.no_speech_prob > t) && self.low_logprob(a.avg_logprob);
        (self.too_repetitive(a.compression_ratio) || self.low_logprob(a.avg_logprob)) && !silence
    }

    /// Whether the chosen attempt's window is skipped as silence: a no-speech probability above the
    /// threshold, unless the log-probability is above its threshold (strictly).
    pub fn skip_as_silence<T>(&self, a: &Attempt<T>) -> bool {
        let Some(threshold) = self.no_speech_threshold else { return false };
        let confident = self.log_prob_threshold.is_some_and(|t| a.avg_logprob > t);
        a.no_speech_prob > threshold && !confident
    }
}

/// The outcome of the fallback loop.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen<T> {
    /// The attempt kept.
    pub attempt: Attempt<T>,
    /// The temperature reported for it: its own, or the last one tried when every attempt failed
    /// (faster-whisper passes the final temperature on to `prompt_reset_on_temperature`).
    pub temperature: f64,
    /// How many temperatures were tried.
    pub tries: usize,
}

/// Decode at each of `temperatures` in turn until an attempt needs no fallback. When all need one, keep the
/// highest `avg_logprob` among those under the compression threshold (or among all, if none is); the first
/// of equals wins (Python's `max`).
pub fn decode_with_fallback<T, E>(
    rules: &FallbackRules,
    temperatures: &[f64],
    mut decode: impl FnMut(f64) -> Result<Attempt<T>, E>,
) -> Result<Option<Chosen<T>>, E> {
    let mut all: Vec<Attempt<T>> = Vec::new();
    let mut below_cr: Vec<usize> = Vec::new();
    let mut last_temperature = 0.0;
    for &temperature in temperatures {
        last_temperature = temperature;
        let attempt = decode(temperature)?;
        if !rules.too_repetitive(attempt.compression_ratio) {
            below_cr.push(all.len());
        }
        if !rules.needs_fallback(&attempt) {
            let tries = all.len() + 1;
            return Ok(Some(Chosen { temperature: attempt.temperature, attempt, tries }));
        }
        all.push(attempt);
    }
    let tries = all.len();
    let pool: Vec<usize> = if below_cr.is_empty() { (0..all.len()).collect() } else { below_cr };
    let Some(mut best) = pool.first().copied() else { return Ok(None) };
    for &i in &pool {
        if all[i].avg_logprob > all[best].avg_logprob {
            best = i;
        }
    }
    let attempt = all.swap_remove(best);
    Ok(Some(Chosen { attempt, temperature: last_temperature, tries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(
        temperature: f64,
        avg_logprob: f64,
        compression_ratio: f64,
        no_speech_prob: f64,
    ) -> Attempt<usize> {
        Attempt {
            temperature,
            avg_logprob,
            compression_ratio,
            no_speech_prob,
            result: (temperature * 10.0) as usize,
        }
    }

    /// `len(s) / len(zlib.compress(s))` from CPython 3.11 (zlib 1.2.13).
    #[test]
    fn compression_ratio_is_zlib_s() {
        for (text, compressed) in [
            ("", 8usize),
            ("a", 9),
            ("Hello world.", 20),
            ("the the the the the the the the the the the the the the the the the the the the ", 15),
            (
                "Many years later, as he faced the firing squad, Colonel Aureliano Buendia was to remember that distant afternoon.",
                99,
            ),
        ] {
            let want = text.len() as f64 / compressed as f64;
            assert_eq!(compression_ratio(text), want, "{text:?}");
        }
    }

    #[test]
    fn fallback_triggers_on_repetition_or_low_logprob_but_not_on_silence() {
        let rules = FallbackRules::default();
        assert!(!rules.needs_fallback(&attempt(0.0, -0.5, 1.5, 0.1)));
        assert!(rules.needs_fallback(&attempt(0.0, -0.5, 2.41, 0.1)), "too repetitive");
        assert!(!rules.needs_fallback(&attempt(0.0, -0.5, 2.4, 0.1)), "the threshold itself passes");
        assert!(rules.needs_fallback(&attempt(0.0, -1.01, 1.5, 0.1)), "too unsure");
        assert!(!rules.needs_fallback(&attempt(0.0, -1.0, 1.5, 0.1)), "the threshold itself passes");
        // Silence: no-speech above 0.6 with a low log-probability stops the fallback, even when repetitive.
        assert!(!rules.needs_fallback(&attempt(0.0, -1.5, 3.0, 0.61)));
        // ...but a confident repetitive decoding still falls back.
        assert!(rules.needs_fallback(&attempt(0.0, -0.5, 3.0, 0.9)));
        let off = FallbackRules {
            compression_ratio_threshold: None,
            log_prob_threshold: None,
            no_speech_threshold: None,
        };
        assert!(!off.needs_fallback(&attempt(0.0, -9.0, 9.0, 1.0)));
    }

    #[test]
    fn silence_is_skipped_unless_confident() {
        let rules = FallbackRules::default();
        assert!(rules.skip_as_silence(&attempt(0.0, -1.5, 1.0, 0.7)));
        assert!(rules.skip_as_silence(&attempt(0.0, -1.0, 1.0, 0.7)), "-1.0 is not above -1.0");
        assert!(!rules.skip_as_silence(&attempt(0.0, -0.9, 1.0, 0.7)));
        assert!(!rules.skip_as_silence(&attempt(0.0, -1.5, 1.0, 0.6)), "0.6 is not above 0.6");
        let no_logprob = FallbackRules { log_prob_threshold: None, ..rules };
        assert!(no_logprob.skip_as_silence(&attempt(0.0, 0.0, 1.0, 0.7)));
    }

    const TEMPERATURES: [f64; 6] = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0];

    #[test]
    fn the_first_good_attempt_stops_the_loop() {
        let rules = FallbackRules::default();
        let mut tried = Vec::new();
        let chosen = decode_with_fallback::<_, ()>(&rules, &TEMPERATURES, |t| {
            tried.push(t);
            Ok(if t < 0.3 { attempt(t, -2.0, 1.0, 0.0) } else { attempt(t, -0.3, 1.0, 0.0) })
        })
        .unwrap()
        .unwrap();
        assert_eq!(tried, [0.0, 0.2, 0.4]);
        assert_eq!((chosen.attempt.temperature, chosen.temperature, chosen.tries), (0.4, 0.4, 3));
    }

    #[test]
    fn when_all_fail_the_best_logprob_under_the_compression_threshold_wins_with_the_last_temperature() {
        let rules = FallbackRules::default();
        // Index:        0.0 rep    0.2 ok-cr  0.4 rep (best logprob)  0.6 ok-cr (best among ok)  0.8  1.0
        let table = [(-1.2, 3.0), (-1.8, 1.0), (-1.05, 2.9), (-1.3, 1.2), (-1.3, 2.0), (-2.0, 2.5)];
        let chosen = decode_with_fallback::<_, ()>(&rules, &TEMPERATURES, |t| {
            let (lp, cr) = table[(t * 5.0).round() as usize];
            Ok(attempt(t, lp, cr, 0.0))
        })
        .unwrap()
        .unwrap();
        // 0.6 and 0.8 tie at -1.3: the first wins.
        assert_eq!(chosen.attempt.temperature, 0.6);
        assert_eq!((chosen.temperature, chosen.tries), (1.0, 6));
        // Every attempt too repetitive: the best of all.
        let chosen =
            decode_with_fallback::<_, ()>(&rules, &TEMPERATURES, |t| Ok(attempt(t, -1.0 - t, 3.0, 0.0)))
                .unwrap()
                .unwrap();
        assert_eq!(chosen.attempt.temperature, 0.0);
        assert_eq!(chosen.temperature, 1.0);
    }

    #[test]
    fn decode_errors_stop_the_loop_and_no_temperatures_give_nothing() {
        let rules = FallbackRules::default();
        let err = decode_with_fallback::<usize, &str>(&rules, &TEMPERATURES, |_| Err("boom"));
        assert_eq!(err, Err("boom"));
        assert_eq!(decode_with_fallback::<usize, ()>(&rules, &[], |_| unreachable!()), Ok(None));
    }
}
