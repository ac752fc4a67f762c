//! Parity glue for the whole text path (`tools/parity/components/text_chain.py`): token ids → Gemma 3 (every
//! hidden state) → feature extractor → audio connector, each prompt on its own as the reference encodes it.

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{DType, Error, Result, Tensor};

use super::{Cap, Case, Component, TensorReport};
use crate::gemma::{self, Config};
use crate::ltx::connector;
use crate::weights::Checkpoint;

/// Gemma's 1e-4 (spec §8.4) carries through the feature extractor and connector.
const CHAIN: &str = "ltx-audio-spec 8.4 (Gemma hidden states feed both)";

pub(super) const COMPONENTS: &[Component] = &[Component {
    name: "text_chain",
    dtype: DType::F32,
    caps: &[
        Cap { tensor: "features", max: 1e-4, source: CHAIN },
        Cap { tensor: "audio_encoding", max: 1e-4, source: CHAIN },
    ],
    run: text_chain,
}];

fn extra_str<'a>(case: &'a Case, pointer: &str) -> Result<&'a str> {
    case.meta.extra.pointer(pointer).and_then(|v| v.as_str()).ok_or_else(|| {
        Error::Msg(format!("case {}: case.json has no extra{}", case.name(), pointer.replace('/', ".")))
    })
}

fn read_json(case: &Case, pointer: &str) -> Result<serde_json::Value> {
    let path = case.weights(extra_str(case, pointer)?);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Msg(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Msg(format!("{}: {e}", path.display())))
}

/// Gemma from its hub `config.json` and sharded checkpoint, the processor from the pipeline file, f32 on the
/// CPU; the feature extractor is sized from the loaded Gemma (hidden width, layers + 1 levels).
fn text_chain(case: &Case) -> Result<Vec<TensorReport>> {
    let cfg = Config::from_hub_json(&read_json(case, "/config_file")?)?;
    let shards = gemma::shard_files(&read_json(case, "/index_file")?)?;
    let paths: Vec<PathBuf> = shards.iter().map(|f| case.weights(f)).collect();
    let checkpoint = Arc::new(Checkpoint::open(&paths)?);
    let model = gemma::load(&cfg, &checkpoint, case.gemma_mode(), case.device())?;
    let processor = connector::load(
        &[case.weights(extra_str(case, "/files/pipeline")?)],
        cfg.hidden_size,
        cfg.num_hidden_states(),
        DType::F32,
        case.device(),
    )?;

    let input_ids = case.input("input_ids")?;
    let attention_mask = case.input("attention_mask")?;
    let (prompts, _) = input_ids.dims2()?;
    let mut features = Vec::with_capacity(prompts);
    let mut encodings = Vec::with_capacity(prompts);
    for p in 0..prompts {
        // One prompt at a time, (1, S), as `GemmaTextEncoder.encode` runs it.
        let ids = input_ids.narrow(0, p, 1)?;
        let mask = attention_mask.narrow(0, p, 1)?;
        let states = model.forward_hidden_states(&ids, &mask)?;
        let feats = processor.feature_extractor.forward_levels(&states, &mask)?;
        encodings.push(processor.audio_connector.forward(&feats, &mask)?);
        features.push(feats);
    }
    // P × (1, S, D) -> (P, S, D)
    let features = Tensor::cat(&features, 0)?;
    let encodings = Tensor::cat(&encodings, 0)?;
    Ok(vec![case.check("features", &features)?, case.check("audio_encoding", &encodings)?])
}
