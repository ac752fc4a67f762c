//! A recording session on the UI (or CLI) thread: opens the device, drains the ring buffer,
//! reports the phase and the meter, and hands back the take.

use std::sync::Arc;
use std::sync::mpsc;

use cpal::traits::{DeviceTrait as _, StreamTrait as _};
use cpal::{ErrorKind, SampleFormat};
use promptbook_engine::audio::{AudioBuffer, ENGINE_SAMPLE_RATE};

use super::RecorderError;
use super::capture::{CaptureParams, CapturePhase, CaptureShared, CaptureState, InputChannel, capture_pair};
use super::devices::find_input_device;
use super::meter::MeterReading;

/// The automatic stop: the engine never uses more than 20 s of a reference.
pub const DEFAULT_MAX_SECS: f64 = 20.0;
/// The longest recording the CLI allows.
pub const MAX_ALLOWED_SECS: f64 = 120.0;

/// How to record.
#[derive(Debug, Clone, PartialEq)]
pub struct RecorderConfig {
    /// Device name or id (see [`super::input_devices`]); `None` for the default input.
    pub device: Option<String>,
    /// Stop automatically after this many seconds of recording.
    pub max_secs: f64,
    /// Seconds of count-in before recording starts (metered, not recorded).
    pub count_in_secs: f64,
    /// Which input channel(s) to record.
    pub channel: InputChannel,
    /// The sample rate to ask the device for; another rate is used (and resampled when saving) if
    /// the device cannot do it.
    pub preferred_rate: u32,
    /// Force this sample format instead of the best one the device offers (F32, then I32, I16, …).
    /// Some ALSA plugin chains convert formats badly; the file microphone used in the tests only
    /// delivers its data intact as I16.
    pub sample_format: Option<SampleFormat>,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            device: None,
            max_secs: DEFAULT_MAX_SECS,
            count_in_secs: 0.0,
            channel: InputChannel::Mix,
            preferred_rate: ENGINE_SAMPLE_RATE,
            sample_format: None,
        }
    }
}

/// What the session is doing.
#[derive(Debug, Clone, PartialEq)]
pub enum Phase {
    /// Counting in.
    CountIn {
        /// Seconds until recording starts.
        remaining_secs: f64,
    },
    /// Recording.
    Recording {
        /// Seconds recorded (counted in frames, not wall time).
        elapsed_secs: f64,
    },
    /// No more audio will be recorded; call [`Recorder::stop`] to get the take.
    Finished(StopReason),
}

/// Why a recording ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The maximum length was reached.
    MaxDuration,
    /// The user (or caller) stopped it.
    Stopped,
    /// The device failed or was unplugged; what was captured before is kept.
    DeviceFailed(String),
}

/// A finished recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Take {
    /// The recorded mono audio at the device's rate.
    pub audio: AudioBuffer,
    /// Why it ended.
    pub stop_reason: StopReason,
    /// The device it came from.
    pub device: String,
    /// Frames lost to a full ring buffer (0 unless something went badly wrong).
    pub dropped_frames: u64,
    /// Under/overruns the backend reported.
    pub xruns: u64,
}

/// A running recording. Poll it regularly (each UI frame) to drain the audio.
pub struct Recorder {
    stream: Option<cpal::Stream>,
    consumer: rtrb::Consumer<f32>,
    shared: Arc<CaptureShared>,
    errors: mpsc::Receiver<String>,
    failure: Option<String>,
    samples: Vec<f32>,
    sample_rate: u32,
    device: String,
}

/// Reports stream errors from cpal's error callback (which is not the audio callback).
pub struct StreamErrorSink {
    shared: Arc<CaptureShared>,
    errors: mpsc::SyncSender<String>,
}

impl StreamErrorSink {
    /// Handles one stream error: xruns are counted, route changes and realtime-priority refusals
    /// are ignored, anything else ends the recording (keeping what was captured).
    pub fn report(&self, err: &cpal::Error) {
        match err.kind() {
            ErrorKind::Xrun => self.shared.count_xrun(),
            ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied => {}
            _ => {
                // Message first, so that whoever sees the flag finds it. Only the first message
                // matters; a full channel just drops the rest.
                self.errors.try_send(err.to_string()).ok();
                self.shared.mark_failed();
            }
        }
    }
}

impl Recorder {
    /// Opens the input device and starts recording (after the count-in).
    pub fn start(config: &RecorderConfig) -> Result<Self, RecorderError> {
        if !(config.max_secs > 0.0 && config.max_secs <= MAX_ALLOWED_SECS) {
            return Err(RecorderError::InvalidConfig(format!(
                "the length must be more than 0 s and at most {MAX_ALLOWED_SECS} s, not {} s",
                config.max_secs
            )));
        }
        if !(config.count_in_secs >= 0.0 && config.count_in_secs <= 10.0) {
            return Err(RecorderError::InvalidConfig(format!(
                "the count-in must be between 0 and 10 s, not {} s",
                config.count_in_secs
            )));
        }
        let (device, name) = find_input_device(config.device.as_deref())?;
        let min_channels = match config.channel {
            InputChannel::Mix => 1,
            InputChannel::Only(c) => c + 1,
        };
        let supported = choose_config(&device, config.preferred_rate, min_channels, config.sample_format)?;
        let stream_config = supported.config();
        let rate = stream_config.sample_rate;
        let params = CaptureParams {
            sample_rate: rate,
            channels: stream_config.channels,
            pick: config.channel,
            count_in_frames: (config.count_in_secs * f64::from(rate)).round() as u64,
            max_frames: (config.max_secs * f64::from(rate)).round() as u64,
        };
        let (mut recorder, state, sink) = Self::without_device(params, name);
        let stream = match supported.sample_format() {
            SampleFormat::F32 => build::<f32>(&device, stream_config, state, sink),
            SampleFormat::I16 => build::<i16>(&device, stream_config, state, sink),
            SampleFormat::I32 => build::<i32>(&device, stream_config, state, sink),
            SampleFormat::U16 => build::<u16>(&device, stream_config, state, sink),
            SampleFormat::I8 => build::<i8>(&device, stream_config, state, sink),
            SampleFormat::U8 => build::<u8>(&device, stream_config, state, sink),
            SampleFormat::F64 => build::<f64>(&device, stream_config, state, sink),
            other => return Err(RecorderError::UnsupportedFormat(other)),
        }?;
        stream
            .play()
            .map_err(|source| RecorderError::Backend { action: "start the input stream", source })?;
        recorder.stream = Some(stream);
        Ok(recorder)
    }

    /// A session with no device attached: the caller feeds the returned [`CaptureState`] (as an
    /// audio callback would) and reports errors through the [`StreamErrorSink`]. Used by tests and
    /// by sources other than cpal.
    pub fn without_device(params: CaptureParams, device: String) -> (Self, CaptureState, StreamErrorSink) {
        let (state, shared, consumer) = capture_pair(params);
        let (tx, rx) = mpsc::sync_channel(4);
        let recorder = Self {
            stream: None,
            consumer,
            shared: Arc::clone(&shared),
            errors: rx,
            failure: None,
            samples: Vec::with_capacity(params.max_frames as usize),
            sample_rate: params.sample_rate,
            device,
        };
        (recorder, state, StreamErrorSink { shared, errors: tx })
    }

    /// Drains the ring buffer and reports the phase.
    pub fn poll(&mut self) -> Phase {
        self.drain();
        if self.failure.is_none() && self.shared.failed() {
            self.failure = Some(self.errors.try_recv().unwrap_or_else(|_| "the input device failed".into()));
        }
        if let Some(message) = &self.failure {
            return Phase::Finished(StopReason::DeviceFailed(message.clone()));
        }
        let rate = f64::from(self.sample_rate);
        match self.shared.phase() {
            CapturePhase::CountIn => {
                Phase::CountIn { remaining_secs: self.shared.count_in_left() as f64 / rate }
            }
            CapturePhase::Recording => Phase::Recording { elapsed_secs: self.samples.len() as f64 / rate },
            CapturePhase::Full => Phase::Finished(StopReason::MaxDuration),
            CapturePhase::Stopped => Phase::Finished(StopReason::Stopped),
        }
    }

    /// Takes the meter reading (the peak resets on each call).
    pub fn meter(&self) -> MeterReading {
        self.shared.meter.take()
    }

    /// The audio recorded so far (mono, at [`Self::sample_rate`]); grows with each [`Self::poll`].
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// The stream's sample rate.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The device's name.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Stops recording, closes the stream and returns everything captured.
    pub fn stop(mut self) -> Result<Take, RecorderError> {
        let phase = self.poll();
        self.shared.request_stop();
        // Dropping the stream joins the audio thread, so nothing is pushed after the last drain.
        drop(self.stream.take());
        self.drain();
        let stop_reason = match phase {
            Phase::Finished(reason) => reason,
            Phase::CountIn { .. } | Phase::Recording { .. } => StopReason::Stopped,
        };
        let audio = AudioBuffer::mono(self.sample_rate, std::mem::take(&mut self.samples))
            .map_err(|e| RecorderError::InvalidConfig(e.to_string()))?;
        Ok(Take {
            audio,
            stop_reason,
            device: std::mem::take(&mut self.device),
            dropped_frames: self.shared.dropped_frames(),
            xruns: self.shared.xruns(),
        })
    }

    fn drain(&mut self) {
        let available = self.consumer.slots();
        if let Ok(chunk) = self.consumer.read_chunk(available) {
            let (a, b) = chunk.as_slices();
            self.samples.extend_from_slice(a);
            self.samples.extend_from_slice(b);
            chunk.commit_all();
        }
    }
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    mut state: CaptureState,
    sink: StreamErrorSink,
) -> Result<cpal::Stream, RecorderError>
where
    T: cpal::SizedSample,
    f32: cpal::FromSample<T>,
{
    device
        .build_input_stream::<T, _, _>(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| state.process(data),
            move |err| sink.report(&err),
            None,
        )
        .map_err(|source| RecorderError::Backend { action: "open the input stream", source })
}

/// Sample formats we can convert, best first.
const FORMAT_PREFERENCE: [SampleFormat; 7] = [
    SampleFormat::F32,
    SampleFormat::I32,
    SampleFormat::I16,
    SampleFormat::F64,
    SampleFormat::U16,
    SampleFormat::I8,
    SampleFormat::U8,
];

/// Picks a stream configuration: the preferred rate if any range has it (best sample format, or
/// the forced one; fewest channels that still include the wanted one), otherwise the device's
/// default, otherwise the best range at its highest rate.
fn choose_config(
    device: &cpal::Device,
    preferred_rate: u32,
    min_channels: u16,
    forced_format: Option<SampleFormat>,
) -> Result<cpal::SupportedStreamConfig, RecorderError> {
    let allowed =
        |f: SampleFormat| forced_format.map_or(FORMAT_PREFERENCE.contains(&f), |forced| f == forced);
    if let Some(forced) = forced_format
        && !FORMAT_PREFERENCE.contains(&forced)
    {
        return Err(RecorderError::UnsupportedFormat(forced));
    }
    let ranges: Vec<cpal::SupportedStreamConfigRange> = device
        .supported_input_configs()
        .map_err(|source| RecorderError::Backend { action: "read the device's formats", source })?
        .filter(|r| r.channels() >= min_channels && allowed(r.sample_format()))
        .collect();
    let rank = |r: &cpal::SupportedStreamConfigRange| {
        let format = FORMAT_PREFERENCE.iter().position(|f| *f == r.sample_format()).unwrap_or(usize::MAX);
        (format, r.channels())
    };
    if let Some(best) = ranges.iter().filter(|r| r.contains_rate(preferred_rate)).min_by_key(|r| rank(r)) {
        return Ok(best.with_sample_rate(preferred_rate));
    }
    let default = device
        .default_input_config()
        .map_err(|source| RecorderError::Backend { action: "read the default input format", source })?;
    if default.channels() >= min_channels && allowed(default.sample_format()) {
        return Ok(default);
    }
    ranges
        .iter()
        .min_by_key(|r| rank(r))
        .map(|r| r.with_max_sample_rate())
        .ok_or(RecorderError::UnsupportedFormat(forced_format.unwrap_or(default.sample_format())))
}
