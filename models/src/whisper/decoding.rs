//! Decoding one window on token ids: greedy, beam search and temperature sampling, with HF's logits
//! processors (`SuppressTokensLogitsProcessor`, `SuppressTokensAtBeginLogitsProcessor`), plus language
//! detection and the no-speech probability.
//!
//! Greedy and beam follow HF transformers 5.12.1 `GenerationMixin._sample` / `_beam_search` step for step
//! (f32 scores, `length_penalty`, `early_stopping = False`, the top-2k candidate rule and the early-stop
//! heuristic), so that a tiny random model gives HF's tokens exactly (`tools/parity/components/whisper.py`).
//! Sampling draws from `softmax(suppressed logits / T)` with a seeded generator and keeps the best of
//! `best_of` draws by `sum_logprob / len^length_penalty`, as CTranslate2 ranks the hypotheses that
//! faster-whisper reads.

use candle_core::{Device, Result, Tensor, bail};
use rand::{Rng as _, SeedableRng as _};

use super::model::{CrossKv, Decoder, DecoderCache, argmax, last_logits, log_softmax, softmax};

/// What one window is decoded with.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// `[<|startofprev|> previous…] <|startoftranscript|> <|lang|> <|transcribe|> <|notimestamps|>`.
    pub prompt: Vec<u32>,
    /// `<|endoftext|>`: ends a hypothesis.
    pub eot: u32,
    /// Never generated (HF `suppress_tokens`).
    pub suppress_tokens: Vec<u32>,
    /// Not generated as the first token (HF `begin_suppress_tokens`: `" "` and `<|endoftext|>`).
    pub begin_suppress_tokens: Vec<u32>,
    /// Total length, prompt included (HF `max_length`).
    pub max_length: usize,
    /// HF `length_penalty`: beam scores are divided by `generated_len^length_penalty`.
    pub length_penalty: f32,
    /// Report the probability of this token (`<|nospeech|>`) at this prompt position (the
    /// `<|startoftranscript|>` one), from the raw logits.
    pub no_speech: Option<(usize, u32)>,
}

/// How tokens are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Strategy {
    /// The most likely token at each step.
    Greedy,
    /// HF beam search with `beams` beams.
    Beam { beams: usize },
    /// `best_of` independent draws at `temperature` (> 0), the best kept.
    Sample { temperature: f32, best_of: usize, seed: u64 },
}

/// One decoded window.
#[derive(Debug, Clone, PartialEq)]
pub struct Hypothesis {
    /// Generated tokens: no prompt, no final `<|endoftext|>`.
    pub tokens: Vec<u32>,
    /// It ended with `<|endoftext|>` (else it was cut at `max_length`).
    pub finished: bool,
    /// Sum of the log-probabilities of every generated token, `<|endoftext|>` included, under the
    /// log-softmax of the suppressed logits.
    pub sum_logprob: f64,
    /// Probability of the no-speech token, when asked for.
    pub no_speech_prob: Option<f32>,
}

impl Hypothesis {
    /// faster-whisper's `avg_logprob`: the sum over `len(tokens) + 1` (the end token counts).
    pub fn avg_logprob(&self) -> f64 {
        self.sum_logprob / (self.tokens.len() + 1) as f64
    }

    /// The generated tokens as HF returns them after the prompt (the end token kept).
    pub fn hf_sequence(&self, eot: u32) -> Vec<u32> {
        let mut seq = self.tokens.clone();
        if self.finished {
            seq.push(eot);
        }
        seq
    }
}

impl DecodeOptions {
    fn check(&self, decoder: &Decoder) -> Result<()> {
        if self.prompt.is_empty() {
            bail!("whisper decode: empty prompt");
        }
        if self.prompt.len() >= self.max_length {
            bail!(
                "whisper decode: the prompt ({} tokens) leaves no room under max_length {}",
                self.prompt.len(),
                self.max_length
            );
        }
        if self.max_length > decoder.max_positions() {
            bail!(
                "whisper decode: max_length {} exceeds the decoder's {} positions",
                self.max_length,
                decoder.max_positions()
            );
        }
        let vocab = decoder.vocab_size() as u32;
        if let Some(&t) = self.prompt.iter().find(|&&t| t >= vocab) {
            bail!("whisper decode: prompt token {t} is outside the vocabulary ({vocab})");
        }
        Ok(())
    }

    /// The logits processors, in place: suppressed tokens become -inf; at the first generated position
    /// the begin-suppressed ones too.
    fn process(&self, row: &mut [f32], generated: usize) {
        let mut mask = |tokens: &[u32]| {
            for &t in tokens {
                if let Some(v) = row.get_mut(t as usize) {
                    *v = f32::NEG_INFINITY;
                }
            }
        };
        mask(&self.suppress_tokens);
        if generated == 0 {
            mask(&self.begin_suppress_tokens);
        }
    }
}

fn tokens_tensor(rows: &[u32], device: &Device) -> Result<Tensor> {
    Tensor::from_vec(rows.to_vec(), (rows.len(), 1), device)
}

/// Run the prompt; returns the cache, the logits row after the last prompt token and the no-speech
/// probability.
fn prefill(
    decoder: &Decoder,
    cross: &CrossKv,
    opts: &DecodeOptions,
    device: &Device,
) -> Result<(DecoderCache, Vec<f32>, Option<f32>)> {
    let mut cache = decoder.new_cache();
    let prompt = Tensor::from_vec(opts.prompt.clone(), (1, opts.prompt.len()), device)?;
    let logits = decoder.forward(&prompt, cross, &mut cache)?; // (1, P, vocab)
    let no_speech_prob = match opts.no_speech {
        None => None,
        Some((index, token)) => {
            if index >= opts.prompt.len() {
                bail!("whisper decode: no-speech position {index} is outside the prompt");
            }
            let row: Vec<f32> = logits.get(0)?.get(index)?.to_vec1()?;
            Some(no_speech_probability(&row, token))
        }
    };
    let last = last_logits(&logits)?.remove(0);
    Ok((cache, last, no_speech_prob))
}

/// `softmax(logits)[token]` (0 when the token is outside the row).
pub fn no_speech_probability(logits: &[f32], token: u32) -> f32 {
    softmax(logits).get(token as usize).copied().unwrap_or(0.0)
}

/// Decode one window whose cross-attention keys are `cross` (batch 1).
pub fn decode(
    decoder: &Decoder,
    cross: &CrossKv,
    opts: &DecodeOptions,
    strategy: Strategy,
) -> Result<Hypothesis> {
    opts.check(decoder)?;
    let device = decoder_device(cross)?;
    let (cache, first, no_speech_prob) = prefill(decoder, cross, opts, &device)?;
    let mut best = match strategy {
        Strategy::Greedy => greedy(decoder, cross, opts, cache, first, &device)?,
        Strategy::Beam { beams } => {
            if beams == 0 {
                bail!("whisper decode: beam search needs at least one beam");
            }
            beam_search(decoder, cross, opts, beams, cache, first, &device)?
        }
        Strategy::Sample { temperature, best_of, seed } => {
            if temperature.is_nan() || temperature <= 0.0 || best_of == 0 {
                bail!("whisper decode: sampling needs a temperature > 0 and best_of >= 1");
            }
            sample(decoder, cross, opts, (temperature, best_of, seed), cache, first, &device)?
        }
    };
    best.no_speech_prob = no_speech_prob;
    Ok(best)
}

fn decoder_device(cross: &CrossKv) -> Result<Device> {
    Ok(cross.device().clone())
}

/// The renormalised log-probability of `token` in a processed row.
fn logprob_of(row: &[f32], token: usize) -> f64 {
    f64::from(log_softmax(row)[token])
}

fn greedy(
    decoder: &Decoder,
    cross: &CrossKv,
    opts: &DecodeOptions,
    mut cache: DecoderCache,
    mut row: Vec<f32>,
    device: &Device,
) -> Result<Hypothesis> {
    let mut tokens = Vec::new();
    let mut sum_logprob = 0.0;
    loop {
        opts.process(&mut row, tokens.len());
        let next = argmax(&row);
        sum_logprob += logprob_of(&row, next);
        if next as u32 == opts.eot {
            return Ok(Hypothesis { tokens, finished: true, sum_logprob, no_speech_prob: None });
        }
        tokens.push(next as u32);
        if opts.prompt.len() + tokens.len() >= opts.max_length {
            return Ok(Hypothesis { tokens, finished: false, sum_logprob, no_speech_prob: None });
        }
        let logits = decoder.forward(&tokens_tensor(&[next as u32], device)?, cross, &mut cache)?;
        row = last_logits(&logits)?.remove(0);
    }
}

/// `best_of` draws decoded as one batch; finished rows leave the batch.
fn sample(
    decoder: &Decoder,
    cross: &CrossKv,
    opts: &DecodeOptions,
    (temperature, best_of, seed): (f32, usize, u64),
    mut cache: DecoderCache,
    first: Vec<f32>,
    device: &Device,
) -> Result<Hypothesis> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut done: Vec<Hypothesis> = Vec::with_capacity(best_of);
    // (tokens, sum_logprob) of the rows still running, in cache-row order.
    let mut running: Vec<(Vec<u32>, f64)> = vec![(Vec::new(), 0.0); best_of];
    let mut rows: Vec<Vec<f32>> = vec![first; best_of];
    cache.select_rows(&Tensor::from_vec(vec![0u32; best_of], best_of, device)?)?;
    loop {
        let mut keep = Vec::new();
        let mut next_tokens = Vec::new();
        for (i, ((tokens, sum), row)) in running.iter_mut().zip(rows.iter_mut()).enumerate() {
            opts.process(row, tokens.len());
            let tempered: Vec<f32> = row.iter().map(|&v| v / temperature).collect();
            let next = draw(&softmax(&tempered), rng.random::<f64>());
            *sum += logprob_of(row, next);
            if next as u32 == opts.eot {
                done.push(Hypothesis {
                    tokens: std::mem::take(tokens),
                    finished: true,
                    sum_logprob: *sum,
                    no_speech_prob: None,
                });
                continue;
            }
            tokens.push(next as u32);
            if opts.prompt.len() + tokens.len() >= opts.max_length {
                done.push(Hypothesis {
                    tokens: std::mem::take(tokens),
                    finished: false,
                    sum_logprob: *sum,
                    no_speech_prob: None,
                });
                continue;
            }
            keep.push(i as u32);
            next_tokens.push(next as u32);
        }
        if keep.is_empty() {
            break;
        }
        running = keep.iter().map(|&i| std::mem::take(&mut running[i as usize])).collect();
        if keep.len() != rows.len() {
            cache.select_rows(&Tensor::from_vec(keep.clone(), keep.len(), device)?)?;
        }
        let logits = decoder.forward(&tokens_tensor(&next_tokens, device)?, cross, &mut cache)?;
        rows = last_logits(&logits)?;
    }
    let score =
        |h: &Hypothesis| h.sum_logprob / (h.tokens.len().max(1) as f64).powf(f64::from(opts.length_penalty));
    // The first of equal scores wins (draw order).
    let mut best = 0;
    for (i, h) in done.iter().enumerate() {
        if score(h) > score(&done[best]) {
            best = i;
        }
    }
    Ok(done.swap_remove(best))
}

/// Inverse-CDF draw from `probs` with `u` in [0, 1); never a zero-probability token.
fn draw(probs: &[f32], u: f64) -> usize {
    let total: f64 = probs.iter().map(|&p| f64::from(p)).sum();
    let target = u * total;
    let mut acc = 0.0;
    let mut last_positive = 0;
    for (i, &p) in probs.iter().enumerate() {
        if p > 0.0 {
            acc += f64::from(p);
            last_positive = i;
            if acc > target {
                return i;
            }
        }
    }
    last_positive
}

/// HF's -1e9 "impossible" score offset.
const NEG_BIG: f32 = -1.0e9;

/// One beam or candidate: its generated tokens and scores.
#[derive(Debug, Clone)]
struct Beam {
    tokens: Vec<u32>,
    /// HF's accumulated score (raw log-softmax, then suppressed), f32.
    score: f32,
    /// Renormalised sum, for [`Hypothesis::sum_logprob`].
    sum_logprob: f64,
}

/// Indices of the `k` largest values, largest first; ties go to the lower index.
fn top_k(values: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..values.len()).collect();
    let by_value = |a: &usize, b: &usize| values[*b].total_cmp(&values[*a]).then(a.cmp(b));
    if k < idx.len() {
        idx.select_nth_unstable_by(k, by_value);
        idx.truncate(k);
    }
    idx.sort_by(by_value);
    idx
}

#[allow(clippy::too_many_arguments)]
fn beam_search(
    decoder: &Decoder,
    cross: &CrossKv,
    opts: &DecodeOptions,
    num_beams: usize,
    mut cache: DecoderCache,
    first: Vec<f32>,
    device: &Device,
) -> Result<Hypothesis> {
    let vocab = first.len();
    let prompt_len = opts.prompt.len();
    // One end token: keep the top 2·beams candidates so that `beams` unfinished ones always remain.
    let keep = 2 * num_beams;
    if keep > vocab {
        bail!("whisper beam search: {num_beams} beams need a vocabulary of at least {keep}");
    }
    let lp = opts.length_penalty;
    let mut running: Vec<Beam> = (0..num_beams)
        .map(|i| Beam { tokens: Vec::new(), score: if i == 0 { 0.0 } else { NEG_BIG }, sum_logprob: 0.0 })
        .collect();
    // Finished slots: (beam, score after the length penalty, finished flag).
    let mut finished: Vec<(Beam, f32, bool)> = (0..num_beams)
        .map(|_| (Beam { tokens: Vec::new(), score: 0.0, sum_logprob: 0.0 }, NEG_BIG, false))
        .collect();
    let mut heuristic_unsatisfied = true;
    let mut cur_len = prompt_len;
    let mut rows: Vec<Vec<f32>> = vec![first; num_beams];
    loop {
        // b. log-softmax, then the processors, then the running scores.
        let mut acc = Vec::with_capacity(num_beams * vocab);
        let mut lp_rows = Vec::with_capacity(num_beams);
        let mut renorm = Vec::with_capacity(num_beams);
        for (beam, row) in running.iter().zip(&rows) {
            let mut lp_row = log_softmax(row);
            opts.process(&mut lp_row, cur_len - prompt_len);
            // log of the probability mass left after suppression.
            let max = lp_row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            let mass: f64 = lp_row.iter().map(|&v| f64::from(v - max).exp()).sum();
            renorm.push(f64::from(max) + mass.ln());
            acc.extend(lp_row.iter().map(|&v| v + beam.score));
            lp_rows.push(lp_row);
        }
        // c. the top 2·beams continuations over every beam.
        let cand_idx = top_k(&acc, keep);
        let candidates: Vec<(usize, u32, f32)> =
            cand_idx.iter().map(|&i| (i / vocab, (i % vocab) as u32, acc[i])).collect();
        // d. which of them stop (end token, or max_length reached).
        let hits: Vec<bool> =
            candidates.iter().map(|&(_, t, _)| t == opts.eot || cur_len + 1 >= opts.max_length).collect();
        let beam_of = |&(src, token, score): &(usize, u32, f32)| {
            let parent = &running[src];
            let mut tokens = parent.tokens.clone();
            tokens.push(token);
            let logprob = f64::from(lp_rows[src][token as usize]) - renorm[src];
            Beam { tokens, score, sum_logprob: parent.sum_logprob + logprob }
        };
        // e. the best unfinished continuations run on.
        let running_scores: Vec<f32> =
            candidates.iter().zip(&hits).map(|(c, &hit)| if hit { c.2 + NEG_BIG } else { c.2 }).collect();
        let next_running = top_k(&running_scores, num_beams);
        // f. finished slots: the old ones and the candidates among the top `beams` that just stopped.
        let divisor = (f64::from((cur_len + 1 - prompt_len) as u32).powf(f64::from(lp))) as f32;
        let mut merged_scores: Vec<f32> = finished.iter().map(|f| f.1).collect();
        for (k, (c, &hit)) in candidates.iter().zip(&hits).enumerate() {
            let mut s = c.2 / divisor;
            if !heuristic_unsatisfied {
                s += NEG_BIG;
            }
            if !(hit && k < num_beams) {
                s += NEG_BIG;
            }
            merged_scores.push(s);
        }
        let chosen = top_k(&merged_scores, num_beams);
        finished = chosen
            .iter()
            .map(|&m| {
                if m < num_beams {
                    finished[m].clone()
                } else {
                    let k = m - num_beams;
                    (beam_of(&candidates[k]), merged_scores[m], hits[k] && k < num_beams)
                }
            })
            .collect();
        let sources: Vec<u32> = next_running.iter().map(|&k| candidates[k].0 as u32).collect();
        running = next_running
            .iter()
            .map(|&k| {
                let mut b = beam_of(&candidates[k]);
                b.score = running_scores[k];
                b
            })
            .collect();
        cur_len += 1;
        // The early-stop heuristic (`early_stopping = False`): can the best running beam still beat the
        // worst finished one, at its current length?
        let best_possible =
            running[0].score / (f64::from((cur_len - prompt_len) as u32).powf(f64::from(lp))) as f32;
        let min_finished = finished.iter().map(|f| f.1).fold(f32::INFINITY, f32::min);
        let improvable = finished.iter().any(|f| best_possible > if f.2 { min_finished } else { NEG_BIG });
        heuristic_unsatisfied &= improvable;
        if !heuristic_unsatisfied || hits.iter().all(|&h| h) {
            break;
        }
        cache.select_rows(&Tensor::from_vec(sources, num_beams, device)?)?;
        let last: Vec<u32> = running.iter().map(|b| *b.tokens.last().unwrap_or(&opts.eot)).collect();
        let logits = decoder.forward(&tokens_tensor(&last, device)?, cross, &mut cache)?;
        rows = last_logits(&logits)?;
    }
    let (best, _, _) = finished.swap_remove(0);
    let mut tokens = best.tokens;
    let finished = tokens.last() == Some(&opts.eot);
    if finished {
        tokens.pop();
    }
    Ok(Hypothesis { tokens, finished, sum_logprob: best.sum_logprob, no_speech_prob: None })
}

/// The most likely of `language_tokens` after `<|startoftranscript|>`, and its probability among them
/// (HF `detect_language`; faster-whisper reads the same distribution from CTranslate2).
pub fn detect_language(
    decoder: &Decoder,
    cross: &CrossKv,
    sot: u32,
    language_tokens: &[u32],
) -> Result<(u32, f32)> {
    if language_tokens.is_empty() {
        bail!("whisper: this model has no language tokens");
    }
    let device = decoder_device(cross)?;
    let mut cache = decoder.new_cache();
    let logits = decoder.forward(&Tensor::from_vec(vec![sot], (1, 1), &device)?, cross, &mut cache)?;
    let row = last_logits(&logits)?.remove(0);
    let vocab = row.len() as u32;
    let lang: Vec<f32> = language_tokens
        .iter()
        .map(|&t| if t < vocab { row[t as usize] } else { f32::NEG_INFINITY })
        .collect();
    let best = argmax(&lang);
    Ok((language_tokens[best], softmax(&lang)[best]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_descending_with_low_index_ties() {
        assert_eq!(top_k(&[1.0, 3.0, 3.0, -1.0, 2.0], 3), vec![1, 2, 4]);
        assert_eq!(top_k(&[0.5, f32::NEG_INFINITY], 2), vec![0, 1]);
    }

    #[test]
    fn draw_follows_the_cumulative_distribution() {
        let p = [0.0, 0.25, 0.0, 0.75];
        assert_eq!(draw(&p, 0.0), 1);
        assert_eq!(draw(&p, 0.24), 1);
        assert_eq!(draw(&p, 0.26), 3);
        assert_eq!(draw(&p, 0.999_999), 3);
    }

    fn tiny_decoder() -> (crate::whisper::Whisper, CrossKv) {
        use candle_nn::{VarBuilder, VarMap};
        let cfg = crate::whisper::Config {
            vocab_size: 30,
            num_mel_bins: 4,
            d_model: 8,
            encoder_layers: 1,
            encoder_attention_heads: 2,
            encoder_ffn_dim: 8,
            decoder_layers: 1,
            decoder_attention_heads: 2,
            decoder_ffn_dim: 8,
            max_source_positions: 4,
            max_target_positions: 20,
            ..crate::whisper::Config::whisper_small()
        };
        let varmap = VarMap::new();
        let model = crate::whisper::Whisper::new(
            &cfg,
            VarBuilder::from_varmap(&varmap, candle_core::DType::F32, &Device::Cpu),
        )
        .unwrap();
        for var in varmap.all_vars() {
            var.set(&Tensor::randn(0f32, 1.0, var.shape(), &Device::Cpu).unwrap()).unwrap();
        }
        let features = Tensor::randn(0f32, 1.0, (1, 4, 8), &Device::Cpu).unwrap();
        let cross = model.decoder.cross_kv(&model.encoder.forward(&features).unwrap()).unwrap();
        (model, cross)
    }

    fn options() -> DecodeOptions {
        DecodeOptions {
            prompt: vec![25, 26, 27],
            eot: 24,
            suppress_tokens: vec![3, 4],
            begin_suppress_tokens: vec![24],
            max_length: 14,
            length_penalty: 1.0,
            no_speech: Some((0, 28)),
        }
    }

    #[test]
    fn sampling_is_seeded_and_near_zero_temperature_is_greedy() {
        let (model, cross) = tiny_decoder();
        let opts = options();
        let greedy = decode(&model.decoder, &cross, &opts, Strategy::Greedy).unwrap();
        let cold = decode(
            &model.decoder,
            &cross,
            &opts,
            Strategy::Sample { temperature: 1e-4, best_of: 3, seed: 9 },
        )
        .unwrap();
        assert_eq!(cold.tokens, greedy.tokens);
        let hot = Strategy::Sample { temperature: 1.0, best_of: 5, seed: 4 };
        let a = decode(&model.decoder, &cross, &opts, hot).unwrap();
        assert_eq!(a, decode(&model.decoder, &cross, &opts, hot).unwrap());
        for h in [&greedy, &a] {
            assert!(h.tokens.iter().all(|t| ![3, 4].contains(t)), "suppressed tokens: {:?}", h.tokens);
            assert!(opts.prompt.len() + h.tokens.len() + usize::from(h.finished) <= opts.max_length);
            assert!(h.sum_logprob <= 0.0 && h.sum_logprob.is_finite());
            let p = h.no_speech_prob.unwrap();
            assert!((0.0..=1.0).contains(&p));
        }
        let bad = decode(&model.decoder, &cross, &DecodeOptions { max_length: 3, ..opts }, Strategy::Greedy);
        assert!(bad.unwrap_err().to_string().contains("no room"));
    }

    #[test]
    fn avg_logprob_counts_the_end_token() {
        let h = Hypothesis { tokens: vec![5, 6, 7], finished: true, sum_logprob: -2.0, no_speech_prob: None };
        assert_eq!(h.avg_logprob(), -0.5);
        assert_eq!(h.hf_sequence(9), vec![5, 6, 7, 9]);
    }
}
