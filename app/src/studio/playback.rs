//! The transport: play, pause, stop and seek over one take, with the audible work behind
//! [`AudioOutput`] so tests (and machines without a sound card) use [`NullOutput`].
//!
//! The transport keeps its own clock: the position is the seek point plus the time since `play`,
//! so the playhead moves identically with a real device or with the null output.

use std::sync::Arc;
use std::time::{Duration, Instant};

use promptbook_engine::audio::AudioBuffer;

/// Something that can make a waveform audible.
pub trait AudioOutput {
    /// Start playing `audio` from `from_s` with `gain_db` applied, replacing whatever played before.
    fn start(&mut self, audio: Arc<AudioBuffer>, from_s: f64, gain_db: f64) -> Result<(), String>;
    /// Silence the output.
    fn stop(&mut self);
    /// A line for the status bar.
    fn describe(&self) -> String;
}

/// An output that plays nothing (tests, no sound card); it remembers the last start for checks.
#[derive(Debug, Default)]
pub struct NullOutput {
    pub last_start: Option<(f64, f64)>,
    pub starts: usize,
}

impl AudioOutput for NullOutput {
    fn start(&mut self, _audio: Arc<AudioBuffer>, from_s: f64, gain_db: f64) -> Result<(), String> {
        self.last_start = Some((from_s, gain_db));
        self.starts += 1;
        Ok(())
    }

    fn stop(&mut self) {}

    fn describe(&self) -> String {
        "no audio output".into()
    }
}

/// Play state of the take under the playhead.
pub struct Transport {
    output: Box<dyn AudioOutput>,
    audio: Option<Arc<AudioBuffer>>,
    /// Seconds at the last seek/play/pause.
    anchor_s: f64,
    /// When playback started from `anchor_s` (None while paused or stopped).
    since: Option<Instant>,
    gain_db: f64,
    /// Playback wraps from the end of this span back to its start.
    loop_range: Option<(f64, f64)>,
    pub error: Option<String>,
}

impl Transport {
    pub fn new(output: Box<dyn AudioOutput>) -> Self {
        Self { output, audio: None, anchor_s: 0.0, since: None, gain_db: 0.0, loop_range: None, error: None }
    }

    pub fn output_name(&self) -> String {
        self.output.describe()
    }

    pub fn duration_secs(&self) -> f64 {
        self.audio.as_ref().map_or(0.0, |a| a.duration_secs())
    }

    pub fn is_playing(&self) -> bool {
        self.since.is_some()
    }

    /// The playhead in seconds (stops at the end of the take).
    pub fn position_s(&self) -> f64 {
        let run = self.since.map_or(0.0, |t| t.elapsed().as_secs_f64());
        (self.anchor_s + run).min(self.duration_secs())
    }

    /// Put `audio` under the playhead at the same position (A/B switch, take pick) without stopping.
    pub fn load(&mut self, audio: Arc<AudioBuffer>, gain_db: f64) {
        let at = self.position_s();
        self.audio = Some(audio);
        self.gain_db = gain_db;
        self.anchor_s = at.min(self.duration_secs());
        if self.since.is_some() {
            self.restart();
        }
    }

    /// Nothing under the playhead (another project was opened).
    pub fn unload(&mut self) {
        self.stop();
        self.audio = None;
        self.loop_range = None;
    }

    pub fn play(&mut self) {
        if self.audio.is_none() {
            return;
        }
        if self.position_s() >= self.duration_secs() {
            self.anchor_s = 0.0;
        }
        if let Some((start, end)) = self.loop_range
            && !(start..end).contains(&self.position_s())
        {
            self.anchor_s = start;
        }
        self.restart();
    }

    pub fn pause(&mut self) {
        self.anchor_s = self.position_s();
        self.since = None;
        self.output.stop();
    }

    pub fn stop(&mut self) {
        self.since = None;
        self.anchor_s = 0.0;
        self.output.stop();
    }

    pub fn toggle(&mut self) {
        if self.is_playing() { self.pause() } else { self.play() }
    }

    pub fn seek(&mut self, to_s: f64) {
        self.anchor_s = to_s.clamp(0.0, self.duration_secs());
        if self.since.is_some() {
            self.restart();
        }
    }

    pub fn loop_range(&self) -> Option<(f64, f64)> {
        self.loop_range
    }

    /// Loop `range` (seconds) while playing, or stop looping with `None`. Spans shorter than 10 ms are ignored.
    pub fn set_loop(&mut self, range: Option<(f64, f64)>) {
        self.loop_range = range.map(|(a, b)| (a.min(b), a.max(b))).filter(|(a, b)| b - a >= 0.01);
    }

    /// Call once a frame: a loop wraps to its start, and a take that played to its end stops there.
    pub fn tick(&mut self) {
        if let (Some(_), Some((start, end))) = (self.since, self.loop_range)
            && self.position_s() >= end.min(self.duration_secs())
        {
            self.anchor_s = start;
            self.restart();
            return;
        }
        if self.since.is_some() && self.position_s() >= self.duration_secs() {
            self.anchor_s = self.duration_secs();
            self.since = None;
            self.output.stop();
        }
    }

    fn restart(&mut self) {
        let Some(audio) = self.audio.clone() else { return };
        match self.output.start(audio, self.anchor_s, self.gain_db) {
            Ok(()) => {
                self.since = Some(Instant::now());
                self.error = None;
            }
            Err(err) => {
                self.since = None;
                self.error = Some(err);
            }
        }
    }
}

/// Playback through the default output device with rodio. The device opens on first use, so a
/// machine without a sound card only sees an error when it presses Play.
#[derive(Default)]
pub struct RodioOutput {
    device: Option<(rodio::MixerDeviceSink, rodio::Player)>,
    name: String,
}

impl RodioOutput {
    fn player(&mut self) -> Result<&rodio::Player, String> {
        if self.device.is_none() {
            let mut sink = rodio::DeviceSinkBuilder::open_default_sink()
                .map_err(|e| format!("no audio output device: {e}"))?;
            sink.log_on_drop(false);
            let player = rodio::Player::connect_new(sink.mixer());
            self.name = "default audio device".into();
            self.device = Some((sink, player));
        }
        self.device.as_ref().map(|(_, p)| p).ok_or_else(|| "no audio output device".to_string())
    }
}

/// A take (or part of it) as a rodio source, read from the shared buffer sample by sample.
struct TakeSource {
    audio: Arc<AudioBuffer>,
    frame: usize,
    channel: usize,
    channels: rodio::ChannelCount,
    rate: rodio::SampleRate,
}

impl Iterator for TakeSource {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        let channels = self.audio.channels();
        let sample = *channels.get(self.channel)?.get(self.frame)?;
        self.channel += 1;
        if self.channel == channels.len() {
            self.channel = 0;
            self.frame += 1;
        }
        Some(sample)
    }
}

impl rodio::Source for TakeSource {
    fn current_span_len(&self) -> Option<usize> {
        None
    }

    fn channels(&self) -> rodio::ChannelCount {
        self.channels
    }

    fn sample_rate(&self) -> rodio::SampleRate {
        self.rate
    }

    fn total_duration(&self) -> Option<Duration> {
        None
    }
}

impl AudioOutput for RodioOutput {
    fn start(&mut self, audio: Arc<AudioBuffer>, from_s: f64, gain_db: f64) -> Result<(), String> {
        let channels = u16::try_from(audio.num_channels())
            .ok()
            .and_then(std::num::NonZero::new)
            .ok_or("a take without channels cannot play")?;
        let rate = std::num::NonZero::new(audio.sample_rate()).ok_or("a take without a sample rate")?;
        let start = ((from_s * f64::from(audio.sample_rate())) as usize).min(audio.frames());
        let player = self.player()?;
        player.clear();
        player.set_volume(10f32.powf(gain_db as f32 / 20.0));
        // Read straight from the shared take: play, seek and A/B copy nothing.
        player.append(TakeSource { audio, frame: start, channel: 0, channels, rate });
        player.play();
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((_, player)) = &self.device {
            player.clear();
        }
    }

    fn describe(&self) -> String {
        if self.name.is_empty() { "default audio device (opens on play)".into() } else { self.name.clone() }
    }
}
