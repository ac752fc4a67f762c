//! Parity glue for the Gemma 3 text encoder (`tools/parity/components/gemma.py`).

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::{DType, Error, Result};

use super::{Cap, Case, Component, TensorReport};
use crate::gemma::{self, Config};
use crate::weights::Checkpoint;

pub(super) const COMPONENTS: &[Component] = &[
    Component {
        name: "gemma-text",
        dtype: DType::F32,
        caps: &[Cap { tensor: "hs.*", max: 1e-4, source: "ltx-audio-spec 8.4 (Gemma hidden states, tiny)" }],
        run: text,
    },
    Component {
        name: "gemma-text",
        dtype: DType::BF16,
        caps: &[Cap {
            tensor: "hs.*",
            max: 4e-2,
            source: "3x the bf16 reference's error vs f32, tools/parity/README.md",
        }],
        run: text,
    },
];

fn read_json(case: &Case, key: &str) -> Result<serde_json::Value> {
    let name = case.meta.extra[key]
        .as_str()
        .ok_or_else(|| Error::Msg(format!("case {}: `extra.{key}` is missing", case.name())))?;
    let path = case.weights(name);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Msg(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| Error::Msg(format!("{}: {e}", path.display())))
}

/// Real file layout (hub `config.json`, sharded index, multimodal key prefixes), f32 or bf16 on the CPU;
/// every hidden state compared.
fn text(case: &Case) -> Result<Vec<TensorReport>> {
    let cfg = Config::from_hub_json(&read_json(case, "config_file")?)?;
    let shards = gemma::shard_files(&read_json(case, "index_file")?)?;
    let paths: Vec<PathBuf> = shards.iter().map(|f| case.weights(f)).collect();
    let checkpoint = Arc::new(Checkpoint::open(&paths)?);
    let model = gemma::load(&cfg, &checkpoint, case.gemma_mode(), case.device())?;
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
