//! The recorder panel: device choice, count-in, record/stop, level meter, timer, a waveform with
//! trim handles, the 10–20 s target band and the span the engine encodes, the clip check and
//! "Save to refs/".

use std::path::{Path, PathBuf};

use egui::{Align2, CursorIcon, FontId, Pos2, Rect, RichText, Sense, Stroke, StrokeKind, Vec2};
use promptbook_engine::audio::{self, AudioBuffer, ReferenceUse};
use promptbook_engine::clip_check::{self, ClipReport, Verdict};

use super::meter::{METER_FLOOR_DB, MeterBallistics};
use super::session::{Phase, Recorder, RecorderConfig, StopReason, Take};
use super::trim::{LengthFit, Trim, envelope};
use super::{InputChannel, InputDevice, SavedReference, input_devices, save_reference};

/// Colours of the recorder's own drawings. TODO(lead): move into the design tokens.
mod colors {
    use egui::Color32;
    /// The 10–20 s target band.
    pub const TARGET_BAND: Color32 = Color32::from_rgba_unmultiplied_const(80, 170, 100, 48);
    /// The span the engine encodes.
    pub const USED_SPAN: Color32 = Color32::from_rgba_unmultiplied_const(90, 140, 230, 60);
    /// Outside the selection.
    pub const TRIMMED_AWAY: Color32 = Color32::from_rgba_unmultiplied_const(0, 0, 0, 110);
    /// Meter: healthy level.
    pub const METER_OK: Color32 = Color32::from_rgb(80, 170, 100);
    /// Meter: hot level (above −6 dBFS).
    pub const METER_HOT: Color32 = Color32::from_rgb(220, 180, 60);
    /// Meter: clipping.
    pub const METER_CLIP: Color32 = Color32::from_rgb(220, 60, 50);
    /// A passed check.
    pub const PASS: Color32 = Color32::from_rgb(80, 170, 100);
}

/// Something the panel did that the studio should know about.
#[derive(Debug, Clone, PartialEq)]
pub enum RecorderEvent {
    /// A clip was saved in `refs/`; the inspector can offer it as the reference.
    Saved(SavedReference),
}

/// The recorder panel's state. Runtime-only: nothing here is persisted.
pub struct RecorderPanel {
    refs_dir: PathBuf,
    config: RecorderConfig,
    devices: Option<Vec<InputDevice>>,
    recorder: Option<Recorder>,
    meter: MeterBallistics,
    take: Option<Take>,
    trim: Option<Trim>,
    reference_use: ReferenceUse,
    report: Option<ClipReport>,
    report_stale: bool,
    name: String,
    message: Option<(String, bool)>,
}

impl RecorderPanel {
    /// A panel that saves clips into `refs_dir`. The default count-in is 3 s.
    pub fn new(refs_dir: impl Into<PathBuf>) -> Self {
        Self {
            refs_dir: refs_dir.into(),
            config: RecorderConfig { count_in_secs: 3.0, ..RecorderConfig::default() },
            devices: None,
            recorder: None,
            meter: MeterBallistics::default(),
            take: None,
            trim: None,
            reference_use: ReferenceUse::Head,
            report: None,
            report_stale: false,
            name: "reference".into(),
            message: None,
        }
    }

    /// The recording settings (device, count-in, channel).
    pub fn config_mut(&mut self) -> &mut RecorderConfig {
        &mut self.config
    }

    /// Shows a finished take (a recording or an imported file) for trimming and checking.
    pub fn load_take(&mut self, take: Take) {
        let secs = take.audio.duration_secs();
        if let StopReason::DeviceFailed(msg) = &take.stop_reason {
            self.message = Some((
                format!("The input device failed ({msg}); the {secs:.1} s recorded before are kept"),
                true,
            ));
        }
        self.trim = Some(Trim::new(secs));
        self.take = Some(take);
        self.report_stale = true;
        self.refresh_report();
    }

    /// Decodes an audio file (WAV, FLAC, MP3, OGG) and shows it like a take.
    pub fn import_file(&mut self, path: &Path) -> Result<(), audio::AudioError> {
        let (decoded, _) = audio::decode_file(path)?;
        let mono = AudioBuffer::mono(decoded.sample_rate(), decoded.to_mono())?;
        if let Some(stem) = path.file_stem() {
            self.name = stem.to_string_lossy().into_owned();
        }
        self.load_take(Take {
            audio: mono,
            stop_reason: StopReason::Stopped,
            device: path.display().to_string(),
            dropped_frames: 0,
            xruns: 0,
        });
        Ok(())
    }

    /// The current take, if any.
    pub fn take(&self) -> Option<&Take> {
        self.take.as_ref()
    }

    /// The trim selection, if there is a take.
    pub fn trim(&self) -> Option<&Trim> {
        self.trim.as_ref()
    }

    /// Moves the trim handles (seconds into the take) and re-checks the selection.
    pub fn set_trim(&mut self, start_secs: f64, end_secs: f64) {
        if let Some(trim) = &mut self.trim {
            trim.set_end(end_secs);
            trim.set_start(start_secs);
            trim.set_end(end_secs);
            self.report_stale = true;
            self.refresh_report();
        }
    }

    /// The check results of the current selection.
    pub fn report(&self) -> Option<&ClipReport> {
        self.report.as_ref()
    }

    /// True while a recording (or its count-in) runs.
    pub fn is_recording(&self) -> bool {
        self.recorder.is_some()
    }

    /// The selected part of the take.
    fn selection(&self) -> Option<AudioBuffer> {
        let (take, trim) = (self.take.as_ref()?, self.trim.as_ref()?);
        Some(take.audio.slice_secs(trim.start(), trim.end()))
    }

    fn refresh_report(&mut self) {
        if !self.report_stale {
            return;
        }
        self.report_stale = false;
        self.report = self.selection().and_then(|clip| match clip_check::check_clip(&clip, None) {
            Ok(report) => Some(report),
            Err(e) => {
                self.message = Some((format!("Could not check the clip: {e}"), true));
                None
            }
        });
    }

    /// Saves the selection in `refs/`.
    pub fn save(&mut self) -> Option<RecorderEvent> {
        let clip = self.selection()?;
        match save_reference(&self.refs_dir, &self.name, &clip) {
            Ok(saved) => {
                self.message = Some((format!("Saved {}", saved.wav.display()), false));
                self.report = Some(saved.report.clone());
                Some(RecorderEvent::Saved(saved))
            }
            Err(e) => {
                self.message = Some((format!("Could not save: {e}"), true));
                None
            }
        }
    }

    fn start_recording(&mut self) {
        match Recorder::start(&self.config) {
            Ok(recorder) => {
                self.recorder = Some(recorder);
                self.meter = MeterBallistics::default();
                self.message = None;
            }
            Err(e) => self.message = Some((format!("Could not start recording: {e}"), true)),
        }
    }

    fn stop_recording(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            match recorder.stop() {
                Ok(take) if take.audio.frames() > 0 => self.load_take(take),
                Ok(Take { stop_reason: StopReason::DeviceFailed(msg), .. }) => {
                    self.message =
                        Some((format!("The input device failed before recording started: {msg}"), true));
                }
                Ok(_) => self.message = Some(("Nothing was recorded".into(), true)),
                Err(e) => self.message = Some((format!("Recording failed: {e}"), true)),
            }
        }
    }

    /// Draws the panel. Returns an event when a clip was saved.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<RecorderEvent> {
        let phase = self.poll(ui);
        let mut event = None;
        ui.heading("Reference voice");
        self.controls_ui(ui, phase.as_ref());
        ui.add_space(4.0);
        self.meter_ui(ui);
        ui.add_space(4.0);
        self.waveform_ui(ui);
        if self.take.is_some() && self.recorder.is_none() {
            self.selection_ui(ui);
            self.report_ui(ui);
            ui.horizontal(|ui| {
                let label = ui.label("Name");
                ui.text_edit_singleline(&mut self.name).labelled_by(label.id);
                if ui.button("Save to refs/").clicked() {
                    event = self.save();
                }
            });
        }
        if let Some((text, is_error)) = &self.message {
            let color = if *is_error { ui.visuals().error_fg_color } else { ui.visuals().text_color() };
            ui.label(RichText::new(text).color(color));
        }
        event
    }

    /// Drains the recorder, updates the meter and finishes the take when the recorder says so.
    fn poll(&mut self, ui: &egui::Ui) -> Option<Phase> {
        let recorder = self.recorder.as_mut()?;
        let phase = recorder.poll();
        let dt = ui.input(|i| i.stable_dt).min(0.1);
        self.meter.update(recorder.meter(), dt);
        if matches!(phase, Phase::Finished(_)) {
            self.stop_recording();
        } else {
            ui.ctx().request_repaint();
        }
        Some(phase)
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui, phase: Option<&Phase>) {
        let recording = self.recorder.is_some();
        ui.horizontal(|ui| {
            ui.add_enabled_ui(!recording, |ui| self.device_ui(ui));
        });
        ui.horizontal(|ui| {
            ui.add_enabled_ui(!recording, |ui| {
                let label = ui.label("Count-in");
                ui.add(
                    egui::DragValue::new(&mut self.config.count_in_secs)
                        .range(0.0..=5.0)
                        .speed(0.1)
                        .suffix(" s"),
                )
                .labelled_by(label.id);
                let label = ui.label("Stop after");
                ui.add(
                    egui::DragValue::new(&mut self.config.max_secs).range(1.0..=60.0).speed(0.5).suffix(" s"),
                )
                .labelled_by(label.id);
            });
        });
        ui.horizontal(|ui| {
            if recording {
                if ui.button("Stop").clicked() {
                    self.stop_recording();
                }
            } else if ui.button("Record").clicked() {
                self.start_recording();
            }
            let max = self.config.max_secs;
            let text = match phase {
                Some(Phase::CountIn { remaining_secs }) => {
                    RichText::new(format!("Count-in {}", remaining_secs.ceil() as u32)).strong()
                }
                Some(Phase::Recording { elapsed_secs }) => {
                    RichText::new(format!("{} / {}", clock(*elapsed_secs), clock(max))).monospace()
                }
                _ => RichText::new(match &self.take {
                    Some(t) => format!("Take {}", clock(t.audio.duration_secs())),
                    None => format!("{} / {}", clock(0.0), clock(max)),
                })
                .monospace(),
            };
            ui.label(text);
        });
    }

    fn device_ui(&mut self, ui: &mut egui::Ui) {
        let selected = self.config.device.clone().unwrap_or_else(|| "Default input".into());
        let mut choice = self.config.device.clone();
        let combo = egui::ComboBox::from_label("Input").selected_text(selected).show_ui(ui, |ui| {
            let devices = self.devices.get_or_insert_with(|| input_devices().unwrap_or_default());
            ui.selectable_value(&mut choice, None, "Default input");
            for d in devices.iter() {
                ui.selectable_value(&mut choice, Some(d.name.clone()), &d.name);
            }
        });
        if combo.response.clicked() {
            self.devices = None; // re-list on every opening: devices come and go
        }
        self.config.device = choice;
        let channel = match self.config.channel {
            InputChannel::Mix => "Mix all channels".to_string(),
            InputChannel::Only(c) => format!("Channel {}", c + 1),
        };
        egui::ComboBox::from_label("Channel").selected_text(channel).show_ui(ui, |ui| {
            ui.selectable_value(&mut self.config.channel, InputChannel::Mix, "Mix all channels");
            for c in 0..8 {
                ui.selectable_value(
                    &mut self.config.channel,
                    InputChannel::Only(c),
                    format!("Channel {}", c + 1),
                );
            }
        });
    }

    fn meter_ui(&mut self, ui: &mut egui::Ui) {
        let width = ui.available_width().min(420.0);
        let (rect, response) = ui.allocate_exact_size(Vec2::new(width, 18.0), Sense::click());
        let clip_rect = Rect::from_min_size(Pos2::new(rect.right() - 18.0, rect.top()), Vec2::splat(18.0));
        let bar = Rect::from_min_max(rect.min, Pos2::new(clip_rect.left() - 6.0, rect.bottom()));
        let painter = ui.painter_at(rect);
        painter.rect_filled(bar, 2.0, ui.visuals().extreme_bg_color);
        let x_of =
            |db: f32| bar.left() + bar.width() * ((db - METER_FLOOR_DB) / -METER_FLOOR_DB).clamp(0.0, 1.0);
        let color_of = |db: f32| {
            if db > -1.0 {
                colors::METER_CLIP
            } else if db > -6.0 {
                colors::METER_HOT
            } else {
                colors::METER_OK
            }
        };
        let peak = self.meter.peak_db();
        let rms = self.meter.rms_db();
        painter.rect_filled(
            Rect::from_min_max(bar.min, Pos2::new(x_of(peak), bar.bottom())),
            2.0,
            color_of(peak).gamma_multiply(0.45),
        );
        painter.rect_filled(
            Rect::from_min_max(
                Pos2::new(bar.left(), bar.center().y - 4.0),
                Pos2::new(x_of(rms), bar.center().y + 4.0),
            ),
            1.0,
            color_of(rms),
        );
        let hold = x_of(self.meter.hold_db());
        painter.line_segment(
            [Pos2::new(hold, bar.top()), Pos2::new(hold, bar.bottom())],
            Stroke::new(2.0, color_of(self.meter.hold_db())),
        );
        for db in [-48.0, -36.0, -24.0, -12.0, -6.0, 0.0] {
            let x = x_of(db);
            painter.line_segment(
                [Pos2::new(x, bar.bottom() - 4.0), Pos2::new(x, bar.bottom())],
                Stroke::new(1.0, ui.visuals().weak_text_color()),
            );
        }
        let lit = self.meter.clip_lit();
        painter.circle_filled(
            clip_rect.center(),
            7.0,
            if lit { colors::METER_CLIP } else { ui.visuals().extreme_bg_color },
        );
        let response =
            response.on_hover_text("Peak and RMS level; the red light latches on clipping (click to reset)");
        if response.clicked() {
            self.meter.reset_clip();
        }
    }

    fn waveform_ui(&mut self, ui: &mut egui::Ui) {
        let (samples, rate, span_secs): (&[f32], u32, f64) = match (&self.recorder, &self.take) {
            (Some(r), _) => (r.samples(), r.sample_rate(), self.config.max_secs),
            (None, Some(t)) => (&t.audio.channels()[0], t.audio.sample_rate(), t.audio.duration_secs()),
            (None, None) => return,
        };
        let width = ui.available_width().max(100.0);
        let (rect, _) = ui.allocate_exact_size(Vec2::new(width, 110.0), Sense::hover());
        let painter = ui.painter_at(rect);
        painter.rect_filled(rect, 3.0, ui.visuals().extreme_bg_color);
        let span_secs = span_secs.max(1e-3);
        let x_of = |secs: f64| rect.left() + rect.width() * (secs / span_secs).clamp(0.0, 1.0) as f32;
        let secs_of = |x: f32| f64::from((x - rect.left()) / rect.width()) * span_secs;

        let recording = self.recorder.is_some();
        if let (false, Some(trim)) = (recording, &self.trim) {
            if let Some((a, b)) = trim.target_band() {
                painter.rect_filled(
                    Rect::from_x_y_ranges(x_of(a)..=x_of(b), rect.y_range()),
                    0.0,
                    colors::TARGET_BAND,
                );
            }
            let (u0, u1) = trim.used_span(self.reference_use);
            painter.rect_filled(
                Rect::from_x_y_ranges(x_of(u0)..=x_of(u1), rect.top()..=rect.top() + 8.0),
                0.0,
                colors::USED_SPAN,
            );
        }

        // AudioBuffer: one min/max line per pixel column over the time axis.
        let recorded_secs = samples.len() as f64 / f64::from(rate);
        let columns = ((x_of(recorded_secs) - rect.left()).round() as usize).max(1);
        let mid = rect.center().y;
        let half = rect.height() * 0.45;
        let stroke = Stroke::new(1.0, ui.visuals().text_color());
        for (c, (lo, hi)) in envelope(samples, columns).into_iter().enumerate() {
            let x = rect.left() + c as f32 + 0.5;
            painter.line_segment(
                [
                    Pos2::new(x, mid - hi.clamp(-1.0, 1.0) * half),
                    Pos2::new(x, mid - lo.clamp(-1.0, 1.0) * half + 1.0),
                ],
                stroke,
            );
        }
        for s in (0..=span_secs.floor() as u32).step_by(if span_secs > 30.0 { 10 } else { 5 }) {
            let x = x_of(f64::from(s));
            painter.text(
                Pos2::new(x + 2.0, rect.bottom() - 2.0),
                Align2::LEFT_BOTTOM,
                format!("{s}s"),
                FontId::proportional(10.0),
                ui.visuals().weak_text_color(),
            );
        }

        if recording {
            return;
        }
        let Some(trim) = self.trim.as_mut() else { return };
        painter.rect_filled(
            Rect::from_x_y_ranges(rect.left()..=x_of(trim.start()), rect.y_range()),
            0.0,
            colors::TRIMMED_AWAY,
        );
        painter.rect_filled(
            Rect::from_x_y_ranges(x_of(trim.end())..=rect.right(), rect.y_range()),
            0.0,
            colors::TRIMMED_AWAY,
        );
        let mut changed = false;
        let mut released = false;
        for (which, secs) in [(0, trim.start()), (1, trim.end())] {
            let x = x_of(secs);
            let handle = Rect::from_x_y_ranges(x - 5.0..=x + 5.0, rect.y_range());
            let response = ui
                .interact(handle, ui.make_persistent_id(("trim_handle", which)), Sense::drag())
                .on_hover_cursor(CursorIcon::ResizeHorizontal);
            if response.dragged()
                && let Some(pos) = response.interact_pointer_pos()
            {
                if which == 0 {
                    trim.set_start(secs_of(pos.x))
                } else {
                    trim.set_end(secs_of(pos.x))
                }
                changed = true;
            }
            released |= response.drag_stopped();
            let active = response.hovered() || response.dragged();
            let color =
                if active { ui.visuals().strong_text_color() } else { ui.visuals().selection.stroke.color };
            painter.line_segment(
                [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
                Stroke::new(2.0, color),
            );
            painter.rect_filled(Rect::from_center_size(Pos2::new(x, mid), Vec2::new(8.0, 18.0)), 2.0, color);
        }
        painter.rect_stroke(rect, 3.0, Stroke::new(1.0, ui.visuals().weak_text_color()), StrokeKind::Inside);
        if changed {
            self.report_stale = true;
        }
        if released {
            self.refresh_report();
        }
    }

    fn selection_ui(&mut self, ui: &mut egui::Ui) {
        let Some(trim) = self.trim else { return };
        ui.horizontal(|ui| {
            let fit = match trim.fit() {
                LengthFit::TooShort => {
                    RichText::new("shorter than the 10–20 s target").color(ui.visuals().warn_fg_color)
                }
                LengthFit::InBand => RichText::new("inside the 10–20 s target").color(colors::PASS),
                LengthFit::TooLong => {
                    RichText::new("longer than 20 s: the rest is ignored").color(ui.visuals().warn_fg_color)
                }
            };
            ui.label(format!(
                "Selection {:.1}–{:.1} s ({:.1} s),",
                trim.start(),
                trim.end(),
                trim.len_secs()
            ));
            ui.label(fit);
        });
        ui.horizontal(|ui| {
            ui.label("Engine uses");
            ui.radio_value(&mut self.reference_use, ReferenceUse::Head, ReferenceUse::Head.label());
            ui.radio_value(
                &mut self.reference_use,
                ReferenceUse::AnchorTail,
                ReferenceUse::AnchorTail.label(),
            );
            let (a, b) = trim.used_span(self.reference_use);
            ui.label(format!("{a:.1}–{b:.1} s = {} latent frames", trim.latent_frames(self.reference_use)));
        });
    }

    fn report_ui(&mut self, ui: &mut egui::Ui) {
        let Some(report) = &self.report else { return };
        let verdict_color = |v: Verdict, ui: &egui::Ui| match v {
            Verdict::Pass => colors::PASS,
            Verdict::Warn => ui.visuals().warn_fg_color,
            Verdict::Fail => ui.visuals().error_fg_color,
        };
        ui.label(
            RichText::new(format!("Clip check: {}", report.verdict.as_str()))
                .strong()
                .color(verdict_color(report.verdict, ui)),
        );
        egui::Grid::new(ui.make_persistent_id("clip_check")).striped(true).show(ui, |ui| {
            for check in &report.checks {
                ui.label(&check.label);
                ui.label(match check.value {
                    Some(v) => format!("{} {}", format_value(v), check.unit),
                    None => "–".into(),
                });
                ui.label(RichText::new(check.verdict.as_str()).color(verdict_color(check.verdict, ui)));
                ui.label(&check.advice);
                ui.end_row();
            }
        });
    }
}

/// `m:ss.t`
fn clock(secs: f64) -> String {
    let tenths = (secs.max(0.0) * 10.0).floor() as u64;
    format!("{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e9 { format!("{v:.0}") } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_format() {
        assert_eq!(clock(0.0), "0:00.0");
        assert_eq!(clock(7.36), "0:07.3");
        assert_eq!(clock(80.0), "1:20.0");
    }
}
