//! Parity glue for Whisper (`tools/parity/components/whisper.py`): front end, encoder, SeedVC content, prompt
//! logits, and every `generate` run token for token.

use std::sync::Arc;

use candle_core::{DType, Error, Result, Tensor};

use super::{Cap, Case, Component, TensorReport};
use crate::weights::Checkpoint;
use crate::whisper::{
    self, Config, ContentEncoder, DecodeOptions, LogMel, PreprocessorConfig, Strategy, Whisper,
};

const F32: &str = "f32 parity with HF transformers";
const TOKENS: &str = "generate() token for token";
const CAPS: &[Cap] = &[
    Cap { tensor: "input_features", max: 1e-4, source: F32 },
    Cap { tensor: "encoder_hidden", max: 1e-4, source: F32 },
    Cap { tensor: "content", max: 1e-4, source: F32 },
    Cap { tensor: "prompt_logits", max: 1e-4, source: F32 },
    Cap { tensor: "greedy_*", max: 0.0, source: TOKENS },
    Cap { tensor: "beam*", max: 0.0, source: TOKENS },
];

pub(super) const COMPONENTS: &[Component] =
    &[Component { name: "whisper", dtype: DType::F32, caps: CAPS, run: all }];

fn file(case: &Case, key: &str) -> Result<std::path::PathBuf> {
    let name = case.meta.extra[key]
        .as_str()
        .ok_or_else(|| Error::Msg(format!("case {}: `extra.{key}` is missing", case.name())))?;
    Ok(case.dir.join(name))
}

/// The HF `generation_config.json` fields a run needs.
#[derive(Debug, serde::Deserialize)]
struct GenerationConfig {
    decoder_start_token_id: u32,
    eos_token_id: u32,
    suppress_tokens: Vec<u32>,
    begin_suppress_tokens: Vec<u32>,
    lang_to_id: std::collections::BTreeMap<String, u32>,
    task_to_id: std::collections::BTreeMap<String, u32>,
    no_timestamps_token_id: u32,
}

fn all(case: &Case) -> Result<Vec<TensorReport>> {
    let device = case.device().clone();
    let cfg = Config::from_json(&whisper::read_json(&file(case, "config_file")?)?)?;
    let pre = PreprocessorConfig::from_json(&whisper::read_json(&file(case, "preprocessor_file")?)?)?;
    let gen_cfg: GenerationConfig =
        serde_json::from_value(whisper::read_json(&file(case, "generation_config_file")?)?)
            .map_err(|e| Error::Msg(format!("case {}: generation_config.json: {e}", case.name())))?;
    let checkpoint = Arc::new(Checkpoint::open(&[file(case, "model_file")?])?);
    let model = Whisper::new(&cfg, checkpoint.var_builder(DType::F32, &device))?;
    let audio: Vec<f32> = case.input("audio")?.to_vec1()?;

    let mut reports = Vec::new();
    let features = LogMel::new(&pre)?.tensor(&audio, &device)?;
    reports.push(case.check("input_features", &features)?);
    // The encoder (and everything after it) runs on the reference features, so that each stage is held to
    // its own tolerance.
    let encoded = model.encoder.forward(case.expected("input_features")?)?;
    reports.push(case.check("encoder_hidden", &encoded)?);
    let window = audio.len().min(pre.n_samples());
    let content =
        ContentEncoder::new(&checkpoint, &cfg, &pre, DType::F32, &device)?.encode(&audio[..window])?;
    reports.push(case.check("content", &content)?);

    let cross = model.decoder.cross_kv(&encoded)?;
    let lang = |code: &str| {
        gen_cfg
            .lang_to_id
            .get(&format!("<|{code}|>"))
            .copied()
            .ok_or_else(|| Error::Msg(format!("no <|{code}|> token")))
    };
    let transcribe = gen_cfg
        .task_to_id
        .get("transcribe")
        .copied()
        .ok_or_else(|| Error::Msg("no transcribe task".into()))?;
    let sot = gen_cfg.decoder_start_token_id;
    let prompt = [sot, lang("en")?, transcribe, gen_cfg.no_timestamps_token_id];
    let mut cache = model.decoder.new_cache();
    let logits = model.decoder.forward(&Tensor::new(&prompt, &device)?.unsqueeze(0)?, &cross, &mut cache)?;
    reports.push(case.check("prompt_logits", &logits)?);

    let runs = case.meta.extra["runs"]
        .as_array()
        .ok_or_else(|| Error::Msg(format!("case {}: `extra.runs` is missing", case.name())))?;
    let languages: Vec<u32> = gen_cfg.lang_to_id.values().copied().collect();
    for run in runs {
        let name = run["name"].as_str().unwrap_or_default();
        let beams = run["num_beams"].as_u64().unwrap_or(1) as usize;
        let max_new = run["max_new_tokens"].as_u64().unwrap_or(1) as usize;
        // HF's prompt: language given -> task too; detected -> no task token (generation_whisper.py
        // `_retrieve_init_tokens`).
        let prompt = match run["language"].as_str() {
            Some(code) => vec![sot, lang(code)?, transcribe, gen_cfg.no_timestamps_token_id],
            None => {
                let (detected, _) = whisper::detect_language(&model.decoder, &cross, sot, &languages)?;
                vec![sot, detected, gen_cfg.no_timestamps_token_id]
            }
        };
        let opts = DecodeOptions {
            max_length: (prompt.len() + max_new).min(cfg.max_target_positions),
            prompt,
            eot: gen_cfg.eos_token_id,
            suppress_tokens: gen_cfg.suppress_tokens.clone(),
            begin_suppress_tokens: gen_cfg.begin_suppress_tokens.clone(),
            length_penalty: 1.0,
            no_speech: None,
        };
        let strategy = if beams > 1 { Strategy::Beam { beams } } else { Strategy::Greedy };
        let hyp = whisper::decode(&model.decoder, &cross, &opts, strategy)?;
        let mut sequence: Vec<i64> = opts.prompt.iter().map(|&t| i64::from(t)).collect();
        sequence.extend(hyp.hf_sequence(opts.eot).into_iter().map(i64::from));
        let n = sequence.len();
        let got = Tensor::from_vec(sequence, (1, n), &device)?;
        let want = case.expected(name)?;
        if want.dims() != got.dims() {
            // A different length is a token mismatch: report it as a failed tensor, not an error.
            let report = TensorReport {
                case: case.name(),
                component: case.meta.component.clone(),
                tensor: format!("{name} (length {n}, want {})", want.dim(1)?),
                max_abs: f64::INFINITY,
                scaled: f64::INFINITY,
                tolerance: case.tolerance(name).unwrap_or(0.0),
                pass: false,
                problem: Some("the decoded sequence has another length".into()),
                vs_f32: None,
            };
            reports.push(report);
            continue;
        }
        reports.push(case.check(name, &got)?);
    }
    Ok(reports)
}
