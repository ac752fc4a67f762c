//! Transcription with Whisper as the reference calls faster-whisper 1.2.1 (`whisper_aligner.transcribe`,
//! postprocessing-spec §3.2): mono, 16 kHz, 30 s windows, beam 5 at temperature 0 then best-of-5 sampling at
//! 0.2 … 1.0 while the fallback rules ask for it, windows judged silent skipped, the previous windows' text as
//! the prompt (reset after a hot temperature), and `" ".join(segment.text.strip())`.
//!
//! Deliberate differences: `<|notimestamps|>` (one segment per window; the reference predicts timestamps),
//! no Silero VAD, the HF extractor's padding of each window (faster-whisper pads the log-mel instead), HF's
//! beam search (CTranslate2's differs in detail), and a seeded sampler. Decoding matches HF transformers
//! token for token on tiny random weights (`tools/parity`); the rules match faster-whisper (`fallback.rs`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use promptbook_models::candle::{DType, Device};
use promptbook_models::weights::Checkpoint;
use promptbook_models::whisper::{
    self, DecodeOptions, Hypothesis, LogMel, PreprocessorConfig, Strategy, Whisper,
};

use super::ValidationError;
use super::fallback::{Attempt, FallbackRules, compression_ratio, decode_with_fallback};
use super::tokenizer::WhisperTokenizer;
use crate::audio::{AudioBuffer, resample};
use crate::prompt::pystr::py_strip;
use crate::store::{Store, WHISPER_REPO};

/// Where the four files of a Whisper repository are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhisperFiles {
    pub model: PathBuf,
    pub config: PathBuf,
    pub preprocessor: PathBuf,
    pub tokenizer: PathBuf,
}

impl WhisperFiles {
    /// The names, as the manifest lists them under [`WHISPER_REPO`].
    pub const NAMES: [&str; 4] =
        [whisper::MODEL_FILE, whisper::CONFIG_FILE, whisper::PREPROCESSOR_FILE, whisper::TOKENIZER_FILE];

    /// `openai/whisper-small` in the store (hub cache or models folder).
    pub fn locate(store: &Store) -> Result<Self, ValidationError> {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for name in Self::NAMES {
            let key = format!("{WHISPER_REPO}/{name}");
            match store.path_of(&key) {
                Ok(path) => found.push(path),
                Err(_) => missing.push(key),
            }
        }
        if !missing.is_empty() {
            return Err(ValidationError::MissingModel {
                missing,
                source_dir: store.source().path().to_path_buf(),
            });
        }
        let [model, config, preprocessor, tokenizer]: [PathBuf; 4] =
            found.try_into().map_err(|_| ValidationError::Tokenizer("internal: file count".into()))?;
        Ok(Self { model, config, preprocessor, tokenizer })
    }

    /// The four files side by side in `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            model: dir.join(whisper::MODEL_FILE),
            config: dir.join(whisper::CONFIG_FILE),
            preprocessor: dir.join(whisper::PREPROCESSOR_FILE),
            tokenizer: dir.join(whisper::TOKENIZER_FILE),
        }
    }
}

/// How to transcribe: the reference's faster-whisper call (`transcribe(audio, language, word_timestamps=False,
/// vad_filter=True)` with every other option at its default).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TranscribeOptions {
    /// A language code (`en`); `None` detects it from the first window.
    pub language: Option<String>,
    /// `beam_size` at temperature 0 (1 is greedy).
    pub beam_size: usize,
    /// `best_of`: draws per sampled temperature.
    pub best_of: usize,
    /// `length_penalty`.
    pub length_penalty: f32,
    /// `temperature`: the fallback schedule.
    pub temperatures: Vec<f64>,
    /// The three thresholds.
    pub rules: FallbackRules,
    /// `condition_on_previous_text`.
    pub condition_on_previous_text: bool,
    /// `prompt_reset_on_temperature`: above it the previous text stops being the prompt.
    pub prompt_reset_on_temperature: f64,
    /// Seed of the sampler (the reference's is unseeded).
    pub seed: u64,
}

impl Default for TranscribeOptions {
    fn default() -> Self {
        Self {
            language: None,
            beam_size: 5,
            best_of: 5,
            length_penalty: 1.0,
            temperatures: vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            rules: FallbackRules::default(),
            condition_on_previous_text: true,
            prompt_reset_on_temperature: 0.5,
            seed: 0,
        }
    }
}

/// One decoded window.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Segment {
    pub start_secs: f64,
    pub end_secs: f64,
    /// As decoded (usually with a leading space).
    pub text: String,
    /// The temperature reported by the fallback loop.
    pub temperature: f64,
    pub avg_logprob: f64,
    pub compression_ratio: f64,
    pub no_speech_prob: f64,
    /// Temperatures tried.
    pub tries: usize,
}

/// What was heard.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Transcript {
    /// The segments' stripped texts joined by spaces.
    pub text: String,
    /// The language decoded with (given or detected).
    pub language: String,
    /// Windows with text, in order (silent or empty ones are left out).
    pub segments: Vec<Segment>,
}

/// Whisper loaded for transcription.
pub struct Transcriber {
    model: Whisper,
    log_mel: LogMel,
    tokenizer: WhisperTokenizer,
    suppress_tokens: Vec<u32>,
    blank_tokens: Vec<u32>,
    device: Device,
}

impl std::fmt::Debug for Transcriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transcriber")
            .field("config", &self.model.config)
            .field("device", &self.device)
            .finish()
    }
}

impl Transcriber {
    /// Load the files; f32 on the CPU, f16 on a GPU.
    pub fn load(files: &WhisperFiles, device: &Device) -> Result<Self, ValidationError> {
        let cfg = whisper::Config::from_json(&whisper::read_json(&files.config)?)?;
        let pre = if files.preprocessor.exists() {
            PreprocessorConfig::from_json(&whisper::read_json(&files.preprocessor)?)?
        } else {
            PreprocessorConfig::default()
        };
        whisper::check_pair(&cfg, &pre)?;
        let tokenizer = WhisperTokenizer::from_file(&files.tokenizer)?;
        if tokenizer.no_timestamps as usize >= cfg.vocab_size {
            return Err(ValidationError::Tokenizer(format!(
                "{} has tokens beyond the model's vocabulary of {}",
                files.tokenizer.display(),
                cfg.vocab_size
            )));
        }
        let dtype = if device.is_cpu() { DType::F32 } else { DType::F16 };
        let checkpoint = Arc::new(Checkpoint::open(&[&files.model])?);
        let model = Whisper::new(&cfg, checkpoint.var_builder(dtype, device))?;
        Ok(Self {
            suppress_tokens: tokenizer.suppress_tokens()?,
            blank_tokens: tokenizer.blank_tokens()?,
            log_mel: LogMel::new(&pre)?,
            tokenizer,
            model,
            device: device.clone(),
        })
    }

    pub fn tokenizer(&self) -> &WhisperTokenizer {
        &self.tokenizer
    }

    /// The sample rate the model hears at (16 kHz).
    pub fn sample_rate(&self) -> u32 {
        self.log_mel.config().sampling_rate
    }

    /// Any audio: mixed to mono and resampled to the model's rate first.
    pub fn transcribe(
        &self,
        audio: &AudioBuffer,
        opts: &TranscribeOptions,
    ) -> Result<Transcript, ValidationError> {
        // A bad language fails before any work.
        opts.language.as_deref().map(|c| self.language_token(c)).transpose()?;
        let mono = AudioBuffer::mono(audio.sample_rate(), audio.to_mono())?;
        let mono = resample(&mono, self.sample_rate())?;
        self.transcribe_samples(&mono.channels()[0], opts)
    }

    fn language_token(&self, code: &str) -> Result<u32, ValidationError> {
        self.tokenizer.language_token(code).ok_or_else(|| ValidationError::UnknownLanguage {
            code: code.to_string(),
            known: self.tokenizer.language_codes().map(str::to_string).collect(),
        })
    }

    /// Mono samples at [`Self::sample_rate`].
    pub fn transcribe_samples(
        &self,
        samples: &[f32],
        opts: &TranscribeOptions,
    ) -> Result<Transcript, ValidationError> {
        let pre = self.log_mel.config();
        let hop = pre.hop_length;
        let window_frames = pre.nb_max_frames();
        let content_frames = samples.len() / hop;
        let secs = |frames: usize| (frames * hop) as f64 / f64::from(pre.sampling_rate);
        let mut language = opts.language.as_deref().map(|c| self.language_token(c)).transpose()?;
        let max_length = self.model.config.max_target_positions;
        let tok = &self.tokenizer;

        let mut segments = Vec::new();
        let mut all_tokens: Vec<u32> = Vec::new();
        let mut prompt_reset_since = 0;
        let mut seek = 0;
        let mut window_index = 0u64;
        while seek < content_frames {
            let size = window_frames.min(content_frames - seek);
            let start = seek * hop;
            let end = ((seek + size) * hop).min(samples.len());
            let features = self.log_mel.tensor(&samples[start..end], &self.device)?;
            let encoded = self.model.encoder.forward(&features)?;
            let cross = self.model.decoder.cross_kv(&encoded)?;
            let lang = match language {
                Some(l) => l,
                None => {
                    let (l, _) = whisper::detect_language(
                        &self.model.decoder,
                        &cross,
                        tok.sot,
                        &tok.language_tokens(),
                    )?;
                    *language.insert(l)
                }
            };
            let previous = &all_tokens[prompt_reset_since..];
            let mut prompt = Vec::new();
            if !previous.is_empty() {
                prompt.push(tok.sot_prev);
                prompt.extend(&previous[previous.len().saturating_sub(max_length / 2 - 1)..]);
            }
            let sot_index = prompt.len();
            prompt.extend(tok.sot_sequence(lang));
            prompt.push(tok.no_timestamps);
            let decode_opts = DecodeOptions {
                prompt,
                eot: tok.eot,
                suppress_tokens: self.suppress_tokens.clone(),
                begin_suppress_tokens: self.blank_tokens.clone(),
                max_length,
                length_penalty: opts.length_penalty,
                no_speech: Some((sot_index, tok.no_speech)),
            };
            let mut temperature_index = 0u64;
            let chosen = decode_with_fallback(&opts.rules, &opts.temperatures, |temperature| {
                let strategy = if temperature > 0.0 {
                    let seed = opts.seed ^ (window_index << 16) ^ temperature_index;
                    Strategy::Sample { temperature: temperature as f32, best_of: opts.best_of.max(1), seed }
                } else if opts.beam_size > 1 {
                    Strategy::Beam { beams: opts.beam_size }
                } else {
                    Strategy::Greedy
                };
                temperature_index += 1;
                let hyp = whisper::decode(&self.model.decoder, &cross, &decode_opts, strategy)?;
                self.attempt(temperature, hyp)
            })?;
            window_index += 1;
            let Some(chosen) = chosen else { break };
            if opts.rules.skip_as_silence(&chosen.attempt) {
                seek += size;
                continue;
            }
            let Attempt { avg_logprob, compression_ratio, no_speech_prob, result: (tokens, text), .. } =
                chosen.attempt;
            if !py_strip(&text).is_empty() {
                all_tokens.extend(tokens);
                segments.push(Segment {
                    start_secs: secs(seek),
                    end_secs: secs(seek + size),
                    text,
                    temperature: chosen.temperature,
                    avg_logprob,
                    compression_ratio,
                    no_speech_prob,
                    tries: chosen.tries,
                });
            }
            seek += size;
            if !opts.condition_on_previous_text || chosen.temperature > opts.prompt_reset_on_temperature {
                prompt_reset_since = all_tokens.len();
            }
        }
        let text = segments.iter().map(|s| py_strip(&s.text)).collect::<Vec<_>>().join(" ");
        let language = language.and_then(|l| tok.language_code(l)).unwrap_or_default().to_string();
        Ok(Transcript { text: py_strip(&text).to_string(), language, segments })
    }

    fn attempt(
        &self,
        temperature: f64,
        hyp: Hypothesis,
    ) -> Result<Attempt<(Vec<u32>, String)>, ValidationError> {
        let text = self.tokenizer.decode(&hyp.tokens)?;
        Ok(Attempt {
            temperature,
            avg_logprob: hyp.avg_logprob(),
            compression_ratio: compression_ratio(py_strip(&text)),
            no_speech_prob: f64::from(hyp.no_speech_prob.unwrap_or(0.0)),
            result: (hyp.tokens, text),
        })
    }
}
