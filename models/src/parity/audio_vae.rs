//! Parity glue for the audio_vae components.

use super::{Case, TensorReport};

/// `Some(reports)` when `case` is one of this module's components.
pub(super) fn run(case: &Case) -> candle_core::Result<Option<Vec<TensorReport>>> {
    match case.meta.component.as_str() {
        _ => Ok(None),
    }
}
