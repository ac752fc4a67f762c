//! The one table that maps our module paths to checkpoint key prefixes (ltx-audio-spec §1.3).
//!
//! The modules are built with the reference's internal names (`velocity_model.…` for the X0 wrapper,
//! `feature_extractor.…` / `audio_connector.…` for the `EmbeddingsProcessor`). The real files may store them
//! under other prefixes; the spec marks those as inferred, so every known alternative is listed here and the
//! first one present in the file (probed with one key) wins. `promptbook models inspect FILE` shows which.

use candle_nn::VarBuilder;

/// One module subtree: the path our code uses and the stored prefixes it may have, most likely first.
#[derive(Debug, Clone, Copy)]
pub struct KeyPrefix {
    pub module: &'static str,
    /// Alternatives; `""` means the keys are stored bare.
    pub stored: &'static [&'static str],
    /// A key (relative to the prefix) every such file has; its INT8 form counts too.
    pub probe: &'static str,
}

/// The transformer file (`scenema-audio-transformer[-int8].safetensors`): Scenema saves the `X0Model` wrapper
/// (`velocity_model.`); the Lightricks single file uses `model.diffusion_model.`.
pub const TRANSFORMER: &[KeyPrefix] = &[KeyPrefix {
    module: "velocity_model",
    stored: &["velocity_model", "model.diffusion_model", ""],
    probe: "audio_patchify_proj.weight",
}];

/// The pipeline file's text-path modules (`EMBEDDINGS_PROCESSOR_KEY_OPS` upstream).
pub const PIPELINE: &[KeyPrefix] = &[
    KeyPrefix {
        module: "feature_extractor.audio_aggregate_embed",
        stored: &[
            "text_embedding_projection.audio_aggregate_embed",
            "feature_extractor.audio_aggregate_embed",
        ],
        probe: "weight",
    },
    KeyPrefix {
        module: "audio_connector",
        stored: &[
            "model.diffusion_model.audio_embeddings_connector",
            "audio_embeddings_connector",
            "audio_connector",
        ],
        probe: "learnable_registers",
    },
];

fn join(prefix: &str, rest: &str) -> String {
    if prefix.is_empty() { rest.to_string() } else { format!("{prefix}.{rest}") }
}

/// The stored prefix of `entry` in the file behind `vb`, if any alternative is present.
pub fn resolve(vb: &VarBuilder, entry: &KeyPrefix) -> Option<&'static str> {
    entry.stored.iter().copied().find(|prefix| vb.contains_tensor(&join(prefix, entry.probe)))
}

/// `vb` seen through `table`: a request for `module.rest` reads `stored.rest`. An entry with no alternative
/// present maps to its first (most likely) prefix, so a missing-tensor error names the expected real key.
pub fn map(vb: VarBuilder<'static>, table: &'static [KeyPrefix]) -> VarBuilder<'static> {
    let resolved: Vec<(&'static str, &'static str)> =
        table.iter().map(|e| (e.module, resolve(&vb, e).unwrap_or(e.stored[0]))).collect();
    vb.rename_f(move |name: &str| {
        for (module, stored) in &resolved {
            if let Some(rest) = name.strip_prefix(module).and_then(|r| r.strip_prefix('.')) {
                return join(stored, rest);
            }
        }
        name.to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};
    use std::collections::HashMap;

    fn vb_with(keys: &[&str]) -> VarBuilder<'static> {
        let map: HashMap<String, Tensor> = keys
            .iter()
            .map(|k| (k.to_string(), Tensor::zeros(2, DType::F32, &Device::Cpu).unwrap()))
            .collect();
        VarBuilder::from_tensors(map, DType::F32, &Device::Cpu)
    }

    #[test]
    fn every_transformer_prefix_is_found() {
        for stored in ["velocity_model.", "model.diffusion_model.", ""] {
            let probe = format!("{stored}audio_patchify_proj.weight");
            let bias = format!("{stored}audio_proj_out.bias");
            let vb = map(vb_with(&[&probe, &bias]), TRANSFORMER);
            assert!(vb.pp("velocity_model").pp("audio_proj_out").get(2, "bias").is_ok(), "{stored}");
        }
    }

    #[test]
    fn pipeline_names_map_to_the_single_file_layout() {
        let vb = map(
            vb_with(&[
                "text_embedding_projection.audio_aggregate_embed.weight",
                "model.diffusion_model.audio_embeddings_connector.learnable_registers",
            ]),
            PIPELINE,
        );
        assert!(vb.pp("feature_extractor").pp("audio_aggregate_embed").get(2, "weight").is_ok());
        assert!(vb.pp("audio_connector").get(2, "learnable_registers").is_ok());
        // Absent: the request still maps to the likeliest real name.
        let vb = map(vb_with(&[]), PIPELINE);
        let err = vb.pp("audio_connector").get(2, "learnable_registers").unwrap_err().to_string();
        assert!(
            err.contains("model.diffusion_model.audio_embeddings_connector.learnable_registers"),
            "{err}"
        );
    }
}
