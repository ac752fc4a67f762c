//! Timeline benchmark: a 10-minute 48 kHz stereo take in the studio's waveform view.
//!
//! Measures the peak-pyramid build and the CPU cost of one full egui frame that draws the
//! timeline (`Context::run_ui` with `waveform_view::show` in a `CentralPanel` on a 1280x800
//! screen, then `Context::tessellate`; everything but the GPU upload) at fixed views, while
//! zooming and while scrolling, and, for contrast, two naive frames that skip the pyramid.
//!
//! Run with `cargo bench -p promptbook --bench timeline` (the bench profile is `--release`).

use std::f32::consts::PI;
use std::time::{Duration, Instant};

use egui::epaint::{ClippedShape, Primitive, Shape};
use egui::{Color32, Pos2, Rect, Sense, Stroke, Vec2};
use promptbook::studio::waveform_view::{self, PeakPyramid, TimelineView};
use promptbook_engine::audio::AudioBuffer;

const RATE: u32 = 48_000;
const TAKE_S: f64 = 600.0;
const SCREEN: Vec2 = Vec2::new(1280.0, 800.0);
/// Height of the timeline inside the panel.
const HEIGHT: f32 = 300.0;
/// Chunk boundaries every this many seconds, labelled as the studio labels them.
const CHUNK_S: f64 = 12.0;
const WARMUP_FRAMES: usize = 10;
const STATIC_FRAMES: usize = 200;
const SWEEP_FRAMES: usize = 120;
const SWEEPS: usize = 5;
const BUILD_REPS: usize = 9;
const WAVE: Color32 = Color32::from_rgb(0x5a, 0xa9, 0xe6);

/// xorshift64: deterministic, so every run draws the same take without a rand dependency.
struct XorShift(u64);

impl XorShift {
    fn next_u32(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 32) as u32
    }

    /// Uniform in `0..=1`.
    fn unit(&mut self) -> f32 {
        self.next_u32() as f32 / u32::MAX as f32
    }

    fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `-1..=1`.
    fn signed(&mut self) -> f32 {
        self.unit() * 2.0 - 1.0
    }
}

/// A speech-like stereo take: phrases of 3–14 syllables (80–300 ms Hann-shaped bursts of a
/// sawtooth buzz mixed with low-passed noise), short gaps between syllables, longer pauses
/// between phrases, a little room noise throughout.
fn speech_like(seconds: f64) -> AudioBuffer {
    let frames = (seconds * f64::from(RATE)) as usize;
    let rate = RATE as f32;
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let (mut left, mut right) = (Vec::with_capacity(frames + RATE as usize), Vec::new());
    right.reserve(frames + RATE as usize);
    let (mut lowpass, mut phase) = (0.0_f32, 0.0_f32);
    // Room noise for a random length between `lo` and `hi` seconds.
    let room = |rng: &mut XorShift, (lo, hi): (f32, f32), left: &mut Vec<f32>, right: &mut Vec<f32>| {
        for _ in 0..(rng.range(lo, hi) * rate) as usize {
            left.push(0.002 * rng.signed());
            right.push(0.002 * rng.signed());
        }
    };
    while left.len() < frames {
        for _ in 0..3 + rng.next_u32() % 12 {
            let len = (rng.range(0.08, 0.3) * rate) as usize;
            let (amp, f0, voiced) = (rng.range(0.1, 0.9), rng.range(90.0, 240.0), rng.unit());
            for i in 0..len {
                let env = amp * (PI * i as f32 / len as f32).sin().powi(2);
                lowpass += 0.3 * (rng.signed() - lowpass);
                phase = (phase + f0 / rate).fract();
                let s = env * (voiced * (2.0 * phase - 1.0) * 0.6 + (1.0 - voiced) * lowpass * 1.5);
                left.push(s);
                right.push(0.8 * s + 0.02 * rng.signed());
            }
            room(&mut rng, (0.01, 0.08), &mut left, &mut right);
        }
        room(&mut rng, (0.2, 0.9), &mut left, &mut right);
    }
    left.truncate(frames);
    right.truncate(frames);
    AudioBuffer::from_channels(RATE, vec![left, right])
}

/// Median, p95 and max of a set of timings, in milliseconds.
#[derive(Clone, Copy)]
struct Stats {
    median: f64,
    p95: f64,
    max: f64,
}

impl Stats {
    fn of(samples: &[Duration]) -> Self {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        Self { median: at(0.5), p95: at(0.95), max: at(1.0) }
    }
}

/// What one frame cost and drew.
struct Frame {
    ui: Duration,
    tessellate: Duration,
    shapes: usize,
    vertices: usize,
}

fn leaf_shapes(shape: &Shape) -> usize {
    match shape {
        Shape::Vec(shapes) => shapes.iter().map(leaf_shapes).sum(),
        Shape::Noop => 0,
        _ => 1,
    }
}

/// One full egui frame: the ui pass with `draw` inside a `CentralPanel`, then tessellation.
fn frame(ctx: &egui::Context, time: f64, draw: &mut dyn FnMut(&mut egui::Ui)) -> Frame {
    let input = egui::RawInput {
        screen_rect: Some(Rect::from_min_size(Pos2::ZERO, SCREEN)),
        time: Some(time),
        ..Default::default()
    };
    let started = Instant::now();
    let mut output = ctx.run_ui(input, |ui| {
        egui::CentralPanel::default().show(ui, |ui| draw(ui));
    });
    let ui = started.elapsed();
    let shapes = output.shapes.iter().map(|c: &ClippedShape| leaf_shapes(&c.shape)).sum();
    let clipped = std::mem::take(&mut output.shapes);
    let started = Instant::now();
    let primitives = ctx.tessellate(clipped, output.pixels_per_point);
    let tessellate = started.elapsed();
    let vertices = primitives
        .iter()
        .map(|p| match &p.primitive {
            Primitive::Mesh(mesh) => mesh.vertices.len(),
            Primitive::Callback(_) => 0,
        })
        .sum();
    output.drop_without_applying_deltas();
    Frame { ui, tessellate, shapes, vertices }
}

/// A row of the frame table.
struct Row {
    name: String,
    frames: usize,
    ui: Stats,
    tessellate: Stats,
    total: Stats,
    shapes: usize,
    vertices: usize,
}

/// Run `views` (one view per frame, cycled `passes` times) after a warm-up, and sum the costs.
fn measure(
    ctx: &egui::Context,
    clock: &mut f64,
    name: &str,
    views: &[(f64, f64)],
    passes: usize,
    draw: &mut dyn FnMut(&mut egui::Ui, (f64, f64)),
) -> Row {
    let mut run = |view: (f64, f64), clock: &mut f64| {
        *clock += 1.0 / 60.0;
        frame(ctx, *clock, &mut |ui| draw(ui, view))
    };
    for i in 0..WARMUP_FRAMES.min(views.len() * passes) {
        run(views[i % views.len()], clock);
    }
    let (mut ui, mut tess, mut total) = (Vec::new(), Vec::new(), Vec::new());
    let (mut shapes, mut vertices) = (0, 0);
    for _ in 0..passes {
        for &view in views {
            let f = run(view, clock);
            ui.push(f.ui);
            tess.push(f.tessellate);
            total.push(f.ui + f.tessellate);
            shapes = shapes.max(f.shapes);
            vertices = vertices.max(f.vertices);
        }
    }
    Row {
        name: name.to_owned(),
        frames: total.len(),
        ui: Stats::of(&ui),
        tessellate: Stats::of(&tess),
        total: Stats::of(&total),
        shapes,
        vertices,
    }
}

/// Naive contrast 1: the same columns as the timeline, but each column's min/max scanned from
/// the raw samples every frame.
fn raw_min_max(ui: &mut egui::Ui, audio: &AudioBuffer, view: (f64, f64)) {
    let width = ui.available_width();
    let (response, painter) = ui.allocate_painter(Vec2::new(width, HEIGHT), Sense::click_and_drag());
    let rect = response.rect;
    let rate = f64::from(audio.sample_rate());
    let per_px = (view.1 - view.0) * rate / f64::from(rect.width());
    let (mid, half) = (rect.center().y, rect.height() * 0.45);
    for col in 0..rect.width().floor() as usize {
        let start = ((view.0 * rate + col as f64 * per_px) as usize).min(audio.frames());
        let end = ((view.0 * rate + (col + 1) as f64 * per_px) as usize).max(start + 1).min(audio.frames());
        let (lo, hi) = audio
            .channels()
            .iter()
            .flat_map(|c| &c[start..end])
            .fold((f32::INFINITY, f32::NEG_INFINITY), |a, &s| (a.0.min(s), a.1.max(s)));
        if lo <= hi {
            let x = rect.left() + col as f32 + 0.5;
            let (y0, y1) = (mid - hi * half, mid - lo * half);
            painter.line_segment([Pos2::new(x, y0), Pos2::new(x, y1.max(y0 + 1.0))], Stroke::new(1.0, WAVE));
        }
    }
}

/// Naive contrast 2: one polyline through every frame (left channel) in the view.
fn every_sample(ui: &mut egui::Ui, audio: &AudioBuffer, view: (f64, f64)) {
    let width = ui.available_width();
    let (response, painter) = ui.allocate_painter(Vec2::new(width, HEIGHT), Sense::click_and_drag());
    let rect = response.rect;
    let rate = f64::from(audio.sample_rate());
    let start = ((view.0 * rate) as usize).min(audio.frames());
    let end = ((view.1 * rate).ceil() as usize).min(audio.frames());
    let px_per_frame = f64::from(rect.width()) / ((view.1 - view.0) * rate);
    let (mid, half) = (rect.center().y, rect.height() * 0.45);
    let points = audio.channels()[0][start..end]
        .iter()
        .enumerate()
        .map(|(i, &s)| Pos2::new(rect.left() + (i as f64 * px_per_frame) as f32, mid - s * half))
        .collect();
    painter.add(Shape::line(points, Stroke::new(1.0, WAVE)));
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let profile =
        if cfg!(debug_assertions) { "debug (numbers meaningless)" } else { "release (bench profile)" };
    println!("# Timeline benchmark: 10-minute 48 kHz stereo take");
    println!(
        "machine: {cores} cores, {}; profile: {profile}; load average at start: {}",
        cpu_model(),
        load_average()
    );
    println!(
        "frame: egui Context::run_ui on a {}x{} screen, CentralPanel + waveform_view::show ({HEIGHT} px tall), \
         then Context::tessellate; no GPU upload",
        SCREEN.x, SCREEN.y
    );

    let started = Instant::now();
    let audio = speech_like(TAKE_S);
    println!(
        "take: {} frames x {} channels, generated in {:.2} s",
        audio.frames(),
        audio.num_channels(),
        started.elapsed().as_secs_f64()
    );

    let mut builds = Vec::new();
    let mut pyramid = PeakPyramid::default();
    for _ in 0..BUILD_REPS {
        let started = Instant::now();
        pyramid = std::hint::black_box(PeakPyramid::build(&audio));
        builds.push(started.elapsed());
    }
    let build = Stats::of(&builds);
    let audio_mb = (audio.frames() * audio.num_channels() * size_of::<f32>()) as f64 / 1e6;
    let pyramid_mb = pyramid.heap_bytes() as f64 / 1e6;
    println!();
    println!(
        "| PeakPyramid::build | reps | median ms | p95 ms | max ms | pyramid MB | audio MB | pyramid / audio |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} levels | {BUILD_REPS} | {:.1} | {:.1} | {:.1} | {pyramid_mb:.2} | {audio_mb:.1} | {:.2} % |",
        pyramid.level_count(),
        build.median,
        build.p95,
        build.max,
        100.0 * pyramid_mb / audio_mb
    );

    let boundaries: Vec<(f64, String)> = (1..(TAKE_S / CHUNK_S) as usize)
        .map(|i| (i as f64 * CHUNK_S, format!("chunk {}: <speak voice=\"narrator\" scene=\"{i}\">", i + 1)))
        .collect();
    let ctx = egui::Context::default();
    let mut clock = 0.0;
    let mut timeline = |ui: &mut egui::Ui, view: (f64, f64)| {
        let shown = TimelineView {
            pyramid: &pyramid,
            audio: Some(&audio),
            sample_rate: RATE,
            boundaries: &boundaries,
            playhead_s: (view.0 + view.1) / 2.0,
            view,
            selection: Some((view.0 + (view.1 - view.0) * 0.25, view.0 + (view.1 - view.0) * 0.4)),
        };
        std::hint::black_box(waveform_view::show(ui, &shown, HEIGHT));
    };

    let mut rows = Vec::new();
    for (name, width) in [("600 s", 600.0), ("60 s", 60.0), ("10 s", 10.0), ("1 s", 1.0), ("10 ms", 0.01)] {
        let left = (TAKE_S - width) / 2.0;
        rows.push(measure(
            &ctx,
            &mut clock,
            &format!("view {name}"),
            &[(left, left + width)],
            STATIC_FRAMES,
            &mut timeline,
        ));
    }
    // Zoom: the view shrinks geometrically from the whole take to 50 ms around 5:00.
    let zoom: Vec<(f64, f64)> = (0..SWEEP_FRAMES)
        .map(|i| {
            let width = TAKE_S * (0.05 / TAKE_S).powf(i as f64 / (SWEEP_FRAMES - 1) as f64);
            (TAKE_S / 2.0 - width / 2.0, TAKE_S / 2.0 + width / 2.0)
        })
        .collect();
    rows.push(measure(&ctx, &mut clock, "zoom 600 s -> 0.05 s", &zoom, SWEEPS, &mut timeline));
    // Scroll: a 10 s window panned from the start to the end of the take.
    let scroll: Vec<(f64, f64)> = (0..SWEEP_FRAMES)
        .map(|i| {
            let left = (TAKE_S - 10.0) * i as f64 / (SWEEP_FRAMES - 1) as f64;
            (left, left + 10.0)
        })
        .collect();
    rows.push(measure(&ctx, &mut clock, "scroll 10 s window", &scroll, SWEEPS, &mut timeline));

    // The naive contrasts draw without the pyramid: far slower, so fewer frames.
    let whole = [(0.0, TAKE_S)];
    rows.push(measure(&ctx, &mut clock, "naive: raw min/max per px, 600 s", &whole, 12, &mut |ui, v| {
        raw_min_max(ui, &audio, v)
    }));
    let ten = [(295.0, 305.0)];
    rows.push(measure(&ctx, &mut clock, "naive: every sample, 10 s", &ten, 12, &mut |ui, v| {
        every_sample(ui, &audio, v)
    }));
    let sixty = [(270.0, 330.0)];
    rows.push(measure(&ctx, &mut clock, "naive: every sample, 60 s", &sixty, 5, &mut |ui, v| {
        every_sample(ui, &audio, v)
    }));

    println!();
    println!(
        "| frame | frames | ui median ms | tessellate median ms | frame median ms | frame p95 ms | frame max ms | shapes | vertices |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} |",
            r.name,
            r.frames,
            r.ui.median,
            r.tessellate.median,
            r.total.median,
            r.total.p95,
            r.total.max,
            r.shapes,
            r.vertices
        );
    }
    println!();
    println!("60 fps budget: 16.7 ms per frame. load average at end: {}", load_average());
}
