//! Parity glue for the Gemma 3 text encoder (`tools/parity/components/gemma.py`).

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{Error, Result};

use super::{Case, TensorReport};
use crate::gemma::{self, Config};
use crate::weights::Checkpoint;

/// `Some(reports)` when `case` is one of this module's components.
pub(super) fn run(case: &Case) -> Result<Option<Vec<TensorReport>>> {
    match case.meta.component.as_str() {
        "gemma-text" => text(case).map(Some),
        _ => Ok(None),
    }
}

fn read_json(case: &Case, key: &str) -> Result<serde_json::Value> {
    let name = case.meta.extra[key]
        .as_str()
        .ok_or_else(|| Error::Msg(format!("case {}: `extra.{key}` is missing", case.name())))?;
    let path = case.dir.join(name);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Msg(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Msg(format!("{}: {e}", path.display())))
}

/// Real file layout (hub `config.json`, sharded index, multimodal key prefixes), on the case's target;
/// every hidden state compared.
fn text(case: &Case) -> Result<Vec<TensorReport>> {
    let cfg = Config::from_hub_json(&read_json(case, "config_file")?)?;
    let shards = gemma::shard_files(&read_json(case, "index_file")?)?;
    let paths: Vec<PathBuf> = shards.iter().map(|f| case.dir.join(f)).collect();
    let checkpoint = Arc::new(Checkpoint::open(&paths)?);
    let model = gemma::load(&cfg, &checkpoint, case.target.gemma_mode(), case.device())?;
    let states = model.forward_hidden_states(case.input("input_ids")?, case.input("attention_mask")?)?;
    if case.expected.len() != states.len() {
        candle_core::bail!(
            "case {}: {} expected hidden states, computed {}",
            case.name(),
            case.expected.len(),
            states.len()
        )
    }
    states.iter().enumerate().map(|(i, h)| case.check(&format!("hs.{i}"), h)).collect()
}
