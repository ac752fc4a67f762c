//! The timeline: peak-pyramid spans agree with a brute-force min/max, the drawing stays within one
//! segment per pixel column at any zoom and under its own time when zoomed past one frame per pixel,
//! the time ruler's ticks and labels, a view that follows the playhead, and a click seeks.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::time::Duration;

use egui::epaint::{ClippedShape, Shape};
use egui_kittest::kittest::Queryable;
use promptbook::studio::waveform_view::{
    self, PeakPyramid, TimelineView, followed, panned, ruler_label, ruler_step, ruler_ticks, zoomed,
};
use promptbook_engine::audio::AudioBuffer;
use studio_support::{VALID, loaded, step_until};

fn noise(frames: usize) -> AudioBuffer {
    // A deterministic xorshift so the test needs no rand crate.
    let mut state = 0x2545_f491_u32;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        (state as f32 / u32::MAX as f32) * 2.0 - 1.0
    };
    let left: Vec<f32> = (0..frames).map(|_| next() * 0.5).collect();
    let right: Vec<f32> = (0..frames).map(|_| next()).collect();
    AudioBuffer::from_channels(48_000, vec![left, right])
}

fn brute(audio: &AudioBuffer, start: usize, end: usize) -> (f32, f32) {
    audio
        .channels()
        .iter()
        .flat_map(|c| &c[start..end])
        .fold((f32::INFINITY, f32::NEG_INFINITY), |a, &s| (a.0.min(s), a.1.max(s)))
}

#[test]
fn pyramid_spans_match_brute_force_on_bucket_edges_and_cover_any_span() {
    let audio = noise(100_003);
    let pyramid = PeakPyramid::build(&audio);
    assert_eq!(pyramid.frames(), 100_003);
    assert!(pyramid.level_count() > 10);
    for (start, end, resolution) in [(0, 64, 1), (128, 8192, 64), (4096, 65_536, 4096), (0, 100_003, 100_000)]
    {
        assert_eq!(pyramid.span(start, end, resolution), Some(brute(&audio, start, end)), "{start}..{end}");
    }
    // Unaligned spans come back as the enclosing buckets: never narrower than the true extremes.
    for (start, end, resolution) in [(10, 20, 1), (1000, 77_777, 512), (99_990, 100_003, 3)] {
        let (lo, hi) = pyramid.span(start, end, resolution).unwrap();
        let (tlo, thi) = brute(&audio, start, end);
        assert!(lo <= tlo && hi >= thi, "{start}..{end}: {lo},{hi} vs {tlo},{thi}");
    }
    assert_eq!(pyramid.span(5, 5, 1), None);
    assert_eq!(pyramid.span(200_000, 300_000, 1), None);
}

/// Line segments the shapes draw: a path counts its edges and a mesh its quads, so drawing the
/// waveform any other way still counts.
fn segments(shape: &Shape) -> usize {
    match shape {
        Shape::Vec(shapes) => shapes.iter().map(segments).sum(),
        Shape::Noop => 0,
        Shape::Path(path) => path.points.len().saturating_sub(1),
        Shape::Mesh(mesh) => mesh.indices.len().div_ceil(6),
        _ => 1,
    }
}

#[test]
fn drawn_segments_are_bounded_by_the_pixel_width_at_any_zoom() {
    let audio = noise(48_000 * 60);
    let pyramid = PeakPyramid::build(&audio);
    let ctx = egui::Context::default();
    let width = 640.0;
    for span in [60.0, 10.0, 1.0, 0.05, 0.01, 0.001] {
        for left in [0.0, 30.0 - span / 2.0, 60.0 - span] {
            let input = egui::RawInput {
                screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(width, 300.0))),
                ..Default::default()
            };
            let shown = TimelineView {
                pyramid: &pyramid,
                audio: Some(&audio),
                sample_rate: 48_000,
                boundaries: &[],
                playhead_s: left,
                view: (left, left + span),
                selection: None,
            };
            let output = ctx.run_ui(input, |ui| {
                waveform_view::show(ui, &shown, 200.0);
            });
            let drawn: usize = output.shapes.iter().map(|c: &ClippedShape| segments(&c.shape)).sum();
            output.drop_without_applying_deltas();
            // One segment per pixel column, plus the background, the border and the playhead, and the
            // ruler: its band, its baseline, and ticks at least 14 px apart (a label on every fifth).
            let ruler = 2 + (width as usize / 14 + 1) + (width as usize / 70 + 1);
            assert!(
                drawn <= width as usize + 3 + ruler,
                "{span} s at {left}: {drawn} segments on {width} px"
            );
            assert!(drawn >= width as usize / 2, "{span} s at {left}: only {drawn} segments drawn");
        }
    }
}

/// Draw a mono 48 kHz take at `view` on a 640 px wide screen (200 px tall timeline) and return the x of
/// every drawn waveform column taller than `min_height` px.
fn tall_columns(audio: &AudioBuffer, with_samples: bool, view: (f64, f64), min_height: f32) -> Vec<f32> {
    let pyramid = PeakPyramid::build(audio);
    let shown = TimelineView {
        pyramid: &pyramid,
        audio: with_samples.then_some(audio),
        sample_rate: 48_000,
        boundaries: &[],
        playhead_s: 0.0,
        view,
        selection: None,
    };
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(640.0, 300.0))),
        ..Default::default()
    };
    let output = egui::Context::default().run_ui(input, |ui| {
        waveform_view::show(ui, &shown, 200.0);
    });
    let xs = output
        .shapes
        .iter()
        .filter_map(|c| match c.shape {
            Shape::LineSegment { points: [a, b], .. } if (b.y - a.y).abs() > min_height => Some(a.x),
            _ => None,
        })
        .collect();
    output.drop_without_applying_deltas();
    xs
}

#[test]
fn below_one_frame_per_pixel_the_waveform_stays_under_its_time() {
    // Silence, then a loud ±0.9 buzz from exactly 1 s; a 10 ms view (480 frames on 640 px) centred on it.
    let mut samples = vec![0.0; 48_000];
    samples.extend((0..48_000).map(|i| if i % 2 == 0 { 0.9 } else { -0.9 }));
    // The pyramid alone (no samples): the coarsest drawing must still be in the right place.
    let loud = tall_columns(&AudioBuffer::from_channels(48_000, vec![samples]), false, (0.995, 1.005), 50.0);
    let step_x = loud.into_iter().reduce(f32::min).expect("the loud half is drawn");
    assert!((step_x - 320.0).abs() <= 1.5, "the step at 1 s is drawn at x = {step_x}, not the middle");
}

#[test]
fn at_deep_zoom_a_single_sample_is_drawn_in_its_own_column() {
    // One click at frame 48 010 in silence; a 5 ms view (240 frames on 640 px) from 1.0 s.
    let mut samples = vec![0.0; 96_000];
    samples[48_010] = 0.8;
    let loud = tall_columns(&AudioBuffer::from_channels(48_000, vec![samples]), true, (1.0, 1.005), 30.0);
    // 10 frames into a 240-frame view on ~630 px: about x = 26; from the pyramid it would be a 64-frame block.
    assert!(!loud.is_empty(), "the click is drawn");
    let (first, last) =
        (loud.iter().copied().fold(f32::MAX, f32::min), loud.iter().copied().fold(f32::MIN, f32::max));
    // The click joins its neighbours on both sides (two sample steps, ~5 px), not a 64-frame block (~170 px).
    assert!(last - first <= 8.0, "one sample spans {first}..{last} px: it is drawn as a block");
    assert!((first - 26.0).abs() <= 4.0, "the click at 10 frames is drawn at x = {first}");
}

#[test]
fn zoom_and_pan_stay_inside_the_take() {
    let (a, b) = zoomed((0.0, 10.0), 5.0, 0.5, 10.0);
    assert!((a - 2.5).abs() < 1e-9 && (b - 7.5).abs() < 1e-9, "{a}..{b}");
    assert_eq!(panned((2.5, 7.5), 100.0, 10.0), (5.0, 10.0));
    assert_eq!(panned((2.5, 7.5), -100.0, 10.0), (0.0, 5.0));
    assert_eq!(zoomed((0.0, 10.0), 5.0, 4.0, 10.0), (0.0, 10.0));
}

#[test]
fn the_ruler_labels_ticks_far_enough_apart_at_any_zoom() {
    // A 10 s take on 640 px: 64 px a second, so labels every 2 s; a 10 ms view gets 2 ms steps.
    assert_eq!(ruler_step(10.0, 640.0), 2.0);
    assert_eq!(ruler_step(0.01, 640.0), 0.002);
    assert_eq!(ruler_step(600.0, 640.0), 120.0);
    for (span, width) in [(10.0, 640.0), (0.01, 640.0), (600.0, 1200.0), (3.3, 333.0)] {
        let step = ruler_step(span, width);
        assert!(step * width / span >= 70.0, "{span} s on {width} px: {step} s labels collide");
    }
    let ticks = ruler_ticks((0.9, 4.1), 1.0);
    let labelled: Vec<f64> = ticks.iter().filter(|t| t.1).map(|t| t.0).collect();
    assert_eq!(labelled, [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(ticks.len(), 16, "{ticks:?}");
    assert!(ticks.iter().all(|t| (0.9..=4.1).contains(&t.0)));
    assert_eq!(ruler_label(2.0, 1.0), "2 s");
    assert_eq!(ruler_label(0.25, 0.05), "0.25 s");
    assert_eq!(ruler_label(0.004, 0.002), "0.004 s");
    assert_eq!(ruler_label(125.0, 5.0), "2:05");
    assert_eq!(ruler_label(61.5, 0.5), "1:01.5");
}

#[test]
fn a_zoomed_view_pages_along_with_the_playhead() {
    assert_eq!(followed((2.0, 4.0), 3.0, 10.0), None, "in view: stays");
    let (a, b) = followed((2.0, 4.0), 4.2, 10.0).unwrap();
    assert!((a - 4.1).abs() < 1e-9 && (b - 6.1).abs() < 1e-9, "{a}..{b}");
    assert_eq!(followed((8.0, 10.0), 1.0, 10.0).map(|v| v.0), Some(0.9), "a loop wraps back");
    assert_eq!(followed((8.0, 10.0), 9.99, 10.0), None);
    assert_eq!(followed((0.0, 10.0), 11.0, 10.0), None, "the whole take needs no paging");
    assert_eq!(followed((6.0, 8.0), 9.9, 10.0), Some((8.0, 10.0)), "kept inside the take");
}

#[test]
fn clicking_the_timeline_seeks_the_playhead() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    h.run();
    h.get_by_label("Timeline").click();
    h.run();
    let duration = h.state().takes().get(1).unwrap().audio.duration_secs();
    let at = h.state().transport().position_s();
    assert!((at - duration / 2.0).abs() < duration * 0.02, "clicked the middle: {at} of {duration}");
}

#[test]
fn dragging_on_the_timeline_selects_a_span() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    h.run();
    let rect = h.get_by_label("Timeline").rect();
    let at = |f: f32| egui::pos2(rect.left() + rect.width() * f, rect.center().y);
    h.hover_at(at(0.25));
    h.step();
    h.drag_at(at(0.25));
    h.step();
    for f in [0.3, 0.5, 0.75] {
        h.hover_at(at(f));
        h.step();
    }
    h.drop_at(at(0.75));
    h.step();
    let duration = h.state().takes().get(1).unwrap().audio.duration_secs();
    let (a, b) = h.state().selection().expect("a selection");
    assert!(
        (a - 0.25 * duration).abs() < 0.02 * duration && (b - 0.75 * duration).abs() < 0.02 * duration,
        "{a}..{b} of {duration}"
    );
}

#[test]
fn while_playing_a_zoomed_view_follows_the_playhead() {
    let mut h = loaded(VALID, Duration::ZERO);
    h.state_mut().render().unwrap();
    step_until(&mut h, "a take arrives", |app| app.takes().live().count() == 1);
    h.state_mut().set_timeline_view(Some((0.0, 0.5)));
    h.state_mut().transport_mut().seek(1.2);
    h.step();
    assert_eq!(h.state().timeline_view(), Some((0.0, 0.5)), "stopped: the view stays where it was put");
    h.state_mut().transport_mut().play();
    h.step();
    let (a, b) = h.state().timeline_view().unwrap();
    let at = h.state().transport().position_s();
    assert!((a..b).contains(&at) && (b - a - 0.5).abs() < 1e-9, "{at} outside {a}..{b}");
    h.get_by_label("Follow").click();
    h.step();
    h.state_mut().transport_mut().seek(0.1);
    h.step();
    assert_eq!(h.state().timeline_view().map(|v| v.0), Some(a), "Follow off: the view stays");
}
