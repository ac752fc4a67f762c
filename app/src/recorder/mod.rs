//! Recording and preparing reference clips.
//!
//! - [`capture`]: the realtime half, run inside cpal's input callback (lock- and allocation-free).
//! - [`session`]: [`Recorder`], the UI-side half: device, count-in, timer, auto stop, the take.
//! - [`meter`]: peak/RMS meter with a clip light, shared through atomics.
//! - [`devices`]: input device list and choice.
//! - [`trim`]: trim handles, the 10–20 s target band and the span the engine encodes.
//! - [`refs`]: saving a clip with its check results in the project's `refs/`.
//! - [`panel`]: the egui [`RecorderPanel`].

pub mod capture;
pub mod devices;
pub mod meter;
pub mod panel;
pub mod refs;
pub mod session;
pub mod trim;

pub use capture::{CaptureParams, InputChannel};
pub use devices::{InputDevice, input_devices};
pub use meter::{MeterBallistics, MeterReading};
pub use panel::{RecorderEvent, RecorderPanel};
pub use refs::{ReferenceEntry, SavedReference, list_references, save_reference};
pub use session::{Phase, Recorder, RecorderConfig, StopReason, StreamErrorSink, Take};
pub use trim::Trim;

/// Errors from opening, running or saving a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// The host has no default input device.
    #[error("no input device: connect a microphone or choose one with --device")]
    NoInputDevice,
    /// No device matched the requested name.
    #[error("no input device matches {wanted:?}; available: {}", available.join(", "))]
    DeviceNotFound {
        /// What was asked for.
        wanted: String,
        /// The device names there are.
        available: Vec<String>,
    },
    /// The audio backend failed.
    #[error("could not {action}: {source}")]
    Backend {
        /// What we were doing.
        action: &'static str,
        /// cpal's error.
        #[source]
        source: cpal::Error,
    },
    /// The device offers no sample format we can convert (or not the forced one).
    #[error("the input device cannot record in a usable sample format ({0})")]
    UnsupportedFormat(cpal::SampleFormat),
    /// The recording settings are invalid.
    #[error("invalid recording settings: {0}")]
    InvalidConfig(String),
    /// Saving the clip failed.
    #[error(transparent)]
    Save(#[from] promptbook_engine::audio::AudioError),
    /// Writing the check results failed.
    #[error("could not write the check results: {0}")]
    Json(#[from] serde_json::Error),
}
