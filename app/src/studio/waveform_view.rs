//! The timeline's waveform: a min/max peak pyramid (so a ten-minute take draws in a few hundred
//! rectangles at any zoom) and the painter that draws it under a time ruler, with chunk boundaries, the
//! selection and a playhead.

use egui::{Color32, Pos2, Sense, Stroke, StrokeKind, Vec2};
use promptbook_engine::audio::AudioBuffer;

/// Frames summarised by one bucket of the finest level.
const BASE_BUCKET: usize = 64;
/// Height of the time ruler above the waveform.
const RULER_HEIGHT: f32 = 16.0;
/// Labelled ticks are at least this far apart.
const RULER_LABEL_SPACING_PX: f64 = 70.0;
/// Tick steps in seconds, fine to coarse.
const RULER_STEPS: [f64; 20] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0,
    300.0, 600.0, 1800.0,
];

/// Min/max peaks of the channel-wise extreme, at bucket sizes 64, 128, 256, … frames.
#[derive(Debug, Clone, Default)]
pub struct PeakPyramid {
    /// `levels[k][i]` is the `(min, max)` of frames `i·64·2^k .. (i+1)·64·2^k`.
    levels: Vec<Vec<(f32, f32)>>,
    frames: usize,
}

impl PeakPyramid {
    pub fn build(audio: &AudioBuffer) -> Self {
        let frames = audio.frames();
        let buckets = frames.div_ceil(BASE_BUCKET);
        let mut base = vec![(f32::INFINITY, f32::NEG_INFINITY); buckets];
        for channel in audio.channels() {
            for (bucket, chunk) in base.iter_mut().zip(channel.chunks(BASE_BUCKET)) {
                let (lo, hi) = extremes(chunk);
                bucket.0 = bucket.0.min(lo);
                bucket.1 = bucket.1.max(hi);
            }
        }
        let mut levels = vec![base];
        while levels.last().is_some_and(|l| l.len() > 1) {
            let prev = levels.last().map(Vec::as_slice).unwrap_or_default();
            let next =
                prev.chunks(2).map(|p| p.iter().fold(p[0], |a, b| (a.0.min(b.0), a.1.max(b.1)))).collect();
            levels.push(next);
        }
        Self { levels, frames }
    }

    pub fn frames(&self) -> usize {
        self.frames
    }

    pub fn level_count(&self) -> usize {
        self.levels.len()
    }

    /// Bytes the peaks occupy (all levels).
    pub fn heap_bytes(&self) -> usize {
        self.levels.iter().map(|l| l.len() * size_of::<(f32, f32)>()).sum()
    }

    /// `(min, max)` over frames `start..end`, read from the coarsest level whose buckets still fit
    /// `resolution` frames (the frames one pixel covers). `None` for an empty span.
    pub fn span(&self, start: usize, end: usize, resolution: usize) -> Option<(f32, f32)> {
        let end = end.min(self.frames);
        if start >= end || self.levels.is_empty() {
            return None;
        }
        let mut level = 0;
        while level + 1 < self.levels.len() && BASE_BUCKET << (level + 1) <= resolution.max(1) {
            level += 1;
        }
        let size = BASE_BUCKET << level;
        let buckets = &self.levels[level];
        let (first, last) = (start / size, (end - 1) / size);
        let peaks = buckets.get(first..=last.min(buckets.len() - 1))?;
        let (lo, hi) =
            peaks.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)));
        (lo <= hi).then_some((lo, hi))
    }
}

/// `(min, max)` of `samples`, kept in eight independent lanes so the loop vectorises (a single
/// running min/max is one serial dependency chain; see the timeline bench in docs/benchmarks.md).
fn extremes(samples: &[f32]) -> (f32, f32) {
    const LANES: usize = 8;
    let mut lo = [f32::INFINITY; LANES];
    let mut hi = [f32::NEG_INFINITY; LANES];
    let mut groups = samples.chunks_exact(LANES);
    for group in &mut groups {
        for ((l, h), &s) in lo.iter_mut().zip(hi.iter_mut()).zip(group) {
            // Compare-and-select (one `minps`/`maxps`); a NaN sample is skipped, as `f32::min` does.
            *l = if s < *l { s } else { *l };
            *h = if s > *h { s } else { *h };
        }
    }
    let tail = groups.remainder().iter();
    let lo = tail.clone().chain(&lo).fold(f32::INFINITY, |a, &s| a.min(s));
    let hi = tail.chain(&hi).fold(f32::NEG_INFINITY, |a, &s| a.max(s));
    (lo, hi)
}

/// `(min, max)` over frames `start..end` of every channel, straight from the samples. The frame before
/// `start` is included so that neighbouring columns join up into a line instead of separate dots.
fn exact_span(audio: &AudioBuffer, start: usize, end: usize) -> Option<(f32, f32)> {
    let end = end.min(audio.frames());
    let start = start.saturating_sub(1);
    if start >= end {
        return None;
    }
    let (lo, hi) = audio
        .channels()
        .iter()
        .map(|c| extremes(&c[start..end]))
        .fold((f32::INFINITY, f32::NEG_INFINITY), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    (lo <= hi).then_some((lo, hi))
}

/// What the timeline shows and where the view is.
pub struct TimelineView<'a> {
    pub pyramid: &'a PeakPyramid,
    /// The samples themselves, for zooms finer than the pyramid's 64-frame buckets.
    pub audio: Option<&'a AudioBuffer>,
    pub sample_rate: u32,
    /// `(start_s, label)` of each chunk after the first.
    pub boundaries: &'a [(f64, String)],
    pub playhead_s: f64,
    /// Visible span in seconds.
    pub view: (f64, f64),
    /// The selected span in seconds, drawn shaded.
    pub selection: Option<(f64, f64)>,
}

/// What the director did on the timeline this frame.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TimelineResponse {
    pub seek_to_s: Option<f64>,
    /// A span dragged out this frame.
    pub select: Option<(f64, f64)>,
    /// New visible span after a zoom (Ctrl+scroll) or a pan (scroll).
    pub view: Option<(f64, f64)>,
}

/// Draw the waveform; click to seek, drag to select, scroll to pan, Ctrl+scroll to zoom.
pub fn show(ui: &mut egui::Ui, view: &TimelineView<'_>, height: f32) -> TimelineResponse {
    let width = ui.available_width().max(50.0);
    let (response, painter) = ui.allocate_painter(Vec2::new(width, height), Sense::click_and_drag());
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Canvas, true, "Timeline"));
    let whole = response.rect;
    let visuals = ui.visuals();
    painter.rect_filled(whole, 2.0, visuals.extreme_bg_color);
    let rate = f64::from(view.sample_rate.max(1));
    let total_s = view.pyramid.frames() as f64 / rate;
    let (v0, v1) = (view.view.0, view.view.1.max(view.view.0 + 1e-3));
    let x_of = |t: f64| whole.left() + ((t - v0) / (v1 - v0)) as f32 * whole.width();
    let t_of = |x: f32| v0 + f64::from((x - whole.left()) / whole.width()) * (v1 - v0);
    let (ruler, rect) = whole.split_top_bottom_at_y(whole.top() + RULER_HEIGHT.min(whole.height() / 3.0));
    draw_ruler(&painter, ruler, (v0, v1), view.selection, visuals);

    let wave = Color32::from_rgb(0x5a, 0xa9, 0xe6);
    let mid = rect.center().y;
    let half = rect.height() * 0.45;
    // Column `col` covers frames `frame_at(col)..frame_at(col + 1)`; below one frame per pixel
    // neighbouring columns share a frame, so the waveform stays aligned with the playhead.
    let frames_per_px = (v1 - v0) * rate / f64::from(rect.width());
    let frame_at = |col: usize| (v0 * rate + col as f64 * frames_per_px).max(0.0) as usize;
    let resolution = frames_per_px.max(1.0) as usize;
    let columns = rect.width().floor() as usize;
    for col in 0..columns {
        let start = frame_at(col);
        let end = frame_at(col + 1).max(start + 1);
        let peaks = match view.audio {
            // Finer than a bucket: a few samples per column, read exactly.
            Some(audio) if resolution < BASE_BUCKET => exact_span(audio, start, end),
            _ => view.pyramid.span(start, end, resolution),
        };
        if let Some((lo, hi)) = peaks {
            let x = rect.left() + col as f32 + 0.5;
            let (y0, y1) = (mid - hi.clamp(-1.0, 1.0) * half, mid - lo.clamp(-1.0, 1.0) * half);
            painter.line_segment([Pos2::new(x, y0), Pos2::new(x, y1.max(y0 + 1.0))], Stroke::new(1.0, wave));
        }
    }
    if let Some((a, b)) = view.selection {
        let (xa, xb) = (x_of(a).max(rect.left()), x_of(b).min(rect.right()));
        if xb > xa {
            let shade = egui::Rect::from_x_y_ranges(xa..=xb, rect.y_range());
            painter.rect_filled(shade, 0.0, Color32::from_rgba_unmultiplied(0x5a, 0xa9, 0xe6, 40));
        }
    }
    let label_color = visuals.weak_text_color();
    for (at, label) in view.boundaries {
        if (v0..=v1).contains(at) {
            let x = x_of(*at);
            painter.line_segment(
                [Pos2::new(x, rect.top()), Pos2::new(x, rect.bottom())],
                Stroke::new(1.0, crate::studio::theme::WARNING),
            );
            let short: String = label.chars().take(28).collect();
            painter.text(
                Pos2::new(x + 3.0, rect.top() + 2.0),
                egui::Align2::LEFT_TOP,
                short,
                egui::FontId::proportional(11.0),
                label_color,
            );
        }
    }
    if (v0..=v1).contains(&view.playhead_s) {
        let x = x_of(view.playhead_s);
        painter.line_segment(
            [Pos2::new(x, whole.top()), Pos2::new(x, rect.bottom())],
            Stroke::new(2.0, Color32::WHITE),
        );
    }
    painter.rect_stroke(
        whole,
        2.0,
        Stroke::new(1.0, visuals.widgets.noninteractive.bg_stroke.color),
        StrokeKind::Inside,
    );

    let mut out = TimelineResponse::default();
    let drag_anchor = response.id.with("drag_from");
    if response.clicked()
        && let Some(pos) = response.interact_pointer_pos()
    {
        out.seek_to_s = Some(t_of(pos.x).clamp(0.0, total_s));
    }
    if response.drag_started()
        && let Some(pos) = ui.input(|i| i.pointer.press_origin())
    {
        let from = t_of(pos.x).clamp(0.0, total_s);
        ui.data_mut(|d| d.insert_temp(drag_anchor, from));
    }
    if response.dragged()
        && let (Some(pos), Some(from)) =
            (response.interact_pointer_pos(), ui.data(|d| d.get_temp::<f64>(drag_anchor)))
    {
        let to = t_of(pos.x).clamp(0.0, total_s);
        out.select = Some((from.min(to), from.max(to)));
    }
    if response.hovered() {
        let (scroll, zoom) = ui.input(|i| (i.smooth_scroll_delta, i.zoom_delta()));
        if zoom != 1.0 {
            let pivot = ui.input(|i| i.pointer.hover_pos()).map_or((v0 + v1) / 2.0, |p| t_of(p.x));
            out.view = Some(zoomed((v0, v1), pivot, f64::from(1.0 / zoom), total_s));
        } else if scroll.x != 0.0 || scroll.y != 0.0 {
            let shift = -f64::from(scroll.x + scroll.y) / f64::from(rect.width()) * (v1 - v0);
            out.view = Some(panned((v0, v1), shift, total_s));
        }
    }
    out
}

/// Ticks with times over `ruler`; the selected span is marked on it too.
fn draw_ruler(
    painter: &egui::Painter,
    ruler: egui::Rect,
    (v0, v1): (f64, f64),
    selection: Option<(f64, f64)>,
    visuals: &egui::Visuals,
) {
    let x_of = |t: f64| ruler.left() + ((t - v0) / (v1 - v0)) as f32 * ruler.width();
    painter.rect_filled(ruler, 0.0, visuals.faint_bg_color);
    if let Some((a, b)) = selection {
        let (xa, xb) = (x_of(a).max(ruler.left()), x_of(b).min(ruler.right()));
        if xb > xa {
            let band = egui::Rect::from_x_y_ranges(xa..=xb, ruler.y_range());
            painter.rect_filled(band, 0.0, Color32::from_rgba_unmultiplied(0x5a, 0xa9, 0xe6, 90));
        }
    }
    let step = ruler_step(v1 - v0, f64::from(ruler.width()));
    let color = visuals.weak_text_color();
    for (t, labelled) in ruler_ticks((v0, v1), step) {
        let x = x_of(t);
        let top = if labelled { ruler.top() } else { ruler.bottom() - ruler.height() * 0.35 };
        painter.line_segment([Pos2::new(x, top), Pos2::new(x, ruler.bottom())], Stroke::new(1.0, color));
        if labelled {
            painter.text(
                Pos2::new(x + 3.0, ruler.top()),
                egui::Align2::LEFT_TOP,
                ruler_label(t, step),
                egui::FontId::monospace(10.0),
                color,
            );
        }
    }
    painter.line_segment(
        [Pos2::new(ruler.left(), ruler.bottom()), Pos2::new(ruler.right(), ruler.bottom())],
        Stroke::new(1.0, visuals.widgets.noninteractive.bg_stroke.color),
    );
}

/// The labelled tick step for `span_s` seconds over `width_px`: the finest that keeps labels apart.
pub fn ruler_step(span_s: f64, width_px: f64) -> f64 {
    let px_per_s = width_px.max(1.0) / span_s.max(1e-9);
    RULER_STEPS.into_iter().find(|step| step * px_per_s >= RULER_LABEL_SPACING_PX).unwrap_or(3600.0)
}

/// Tick times inside `view`, five per labelled step; `true` marks the labelled ones.
pub fn ruler_ticks((v0, v1): (f64, f64), step: f64) -> Vec<(f64, bool)> {
    let minor = step / 5.0;
    let first = (v0 / minor).ceil() as i64;
    let last = (v1 / minor).floor() as i64;
    // Multiplying before dividing keeps labelled ticks exact (15 · 1 / 5, not 15 · 0.2).
    (first..=last).map(|i| (i as f64 * step / 5.0, i.rem_euclid(5) == 0)).collect()
}

/// `1.5 s`, `0.250 s`, `2:05`: as many decimals as the step needs, minutes past the first.
pub fn ruler_label(t: f64, step: f64) -> String {
    let decimals = match step {
        s if s >= 1.0 => 0,
        s if s >= 0.1 => 1,
        s if s >= 0.01 => 2,
        _ => 3,
    };
    let t = (t * 10f64.powi(decimals)).round() / 10f64.powi(decimals);
    if t < 60.0 {
        return format!("{t:.prec$} s", prec = decimals as usize);
    }
    let minutes = (t / 60.0).floor();
    let seconds = t - minutes * 60.0;
    let width = if decimals == 0 { 2 } else { 3 + decimals as usize };
    format!("{minutes:.0}:{seconds:0width$.prec$}", prec = decimals as usize)
}

/// While playing, the view a playhead that left it pages to (it starts a little inside the left edge);
/// `None` while the playhead is in view.
pub fn followed(view: (f64, f64), playhead: f64, total: f64) -> Option<(f64, f64)> {
    let (v0, v1) = view;
    if (v0..=v1).contains(&playhead) || v1 - v0 >= total {
        return None;
    }
    let width = v1 - v0;
    Some(panned((playhead - 0.05 * width, playhead + 0.95 * width), 0.0, total))
}

/// The span `view` scaled by `factor` around `pivot`, kept inside `0..total`.
pub fn zoomed(view: (f64, f64), pivot: f64, factor: f64, total: f64) -> (f64, f64) {
    let width = ((view.1 - view.0) * factor).clamp(0.05, total.max(0.05));
    let left = pivot - (pivot - view.0) * (width / (view.1 - view.0));
    panned((left, left + width), 0.0, total)
}

/// The span `view` moved by `shift` seconds, kept inside `0..total`.
pub fn panned(view: (f64, f64), shift: f64, total: f64) -> (f64, f64) {
    let width = view.1 - view.0;
    let left = (view.0 + shift).clamp(0.0, (total - width).max(0.0));
    (left, left + width)
}
