//! `kill -9` at the worst moments: a real process runs the studio (the same `StudioApp`, engine thread and
//! project code as the window, with the stand-in model and no display) and is killed with SIGKILL during a
//! render, right after a take's files appear, and during a save. A restart then opens the project: no take
//! is lost, none is overwritten, numbers go on above the old ones, and unfinished renders are offered back.
//!
//! This file is its own test harness (`harness = false` in Cargo.toml): run with `PROMPTBOOK_CRASH_CHILD`
//! set, the binary is the studio process to be killed; otherwise it runs the tests below, which start it.
#![allow(clippy::unwrap_used)]

mod studio_support;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use promptbook::studio::StudioApp;
use promptbook::studio::project::{Project, ProjectState};
use studio_support::{StandIn, VALID, assert_unchanged, load, loaded, snapshot, step_until};

const CHILD_SCENARIO: &str = "PROMPTBOOK_CRASH_CHILD";
const CHILD_DIR: &str = "PROMPTBOOK_CRASH_DIR";
/// A child nobody kills ends itself, so a failed test never leaves a process behind.
const CHILD_LIFETIME: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(30);

type Test = fn();

const TESTS: [(&str, Test); 3] = [
    ("kill_during_a_render_keeps_the_finished_takes_and_offers_the_rest_back", kill_during_a_render),
    ("kill_right_after_a_take_is_written_keeps_it", kill_right_after_a_take_is_written),
    ("kill_during_save_leaves_a_readable_project_with_every_take", kill_during_save),
];

fn main() {
    if let Ok(scenario) = std::env::var(CHILD_SCENARIO) {
        let dir = PathBuf::from(std::env::var_os(CHILD_DIR).expect("the parent names the project folder"));
        child(&scenario, &dir);
        return;
    }
    // The arguments libtest would take: `--list`, name filters, and flags (some with a value) to skip.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        for (name, _) in TESTS {
            println!("{name}: test");
        }
        return;
    }
    let mut filters = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--test-threads" | "--skip" | "--format" | "--color" | "-Z" | "--logfile" => {
                args.next();
            }
            a if a.starts_with('-') => {}
            a => filters.push(a.to_string()),
        }
    }
    let chosen: Vec<_> = TESTS
        .iter()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f)))
        .collect();
    println!("\nrunning {} tests", chosen.len());
    let mut failed = Vec::new();
    for (name, test) in chosen {
        let started = Instant::now();
        let outcome = std::panic::catch_unwind(test);
        let verdict = if outcome.is_ok() { "ok" } else { "FAILED" };
        println!("test {name} ... {verdict} ({:.1} s)", started.elapsed().as_secs_f64());
        if outcome.is_err() {
            failed.push(*name);
        }
    }
    if !failed.is_empty() {
        println!("\nfailures: {}", failed.join(", "));
        std::process::exit(101);
    }
    println!("\ntest result: ok. {} passed", TESTS.len());
}

// ---- the studio process that gets killed ----

fn child(scenario: &str, dir: &Path) {
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(3);
    });
    let step_delay = if scenario == "render" { Duration::from_millis(40) } else { Duration::ZERO };
    let mut h = loaded(VALID, step_delay);
    h.state_mut().open_project(dir).unwrap();
    h.run();
    let say = |line: String| println!("{line}");
    match scenario {
        // Three renders queued at once, slow enough to be killed inside the second.
        "render" => {
            h.state_mut().settings_mut().takes = 3;
            h.state_mut().render().unwrap();
            let mut seen = 0;
            loop {
                step(&mut h);
                let count = h.state().takes().live().count();
                if count != seen {
                    seen = count;
                    say(format!("take {count}"));
                }
            }
        }
        // One render after another, as fast as they come.
        "takes" => loop {
            if h.state().queue().active() == 0 {
                h.state_mut().render().unwrap();
            }
            step(&mut h);
        },
        // Two takes, then edits and saves without pause.
        "save" => {
            while h.state().takes().live().count() < 2 {
                let before = h.state().takes().live().count();
                h.state_mut().render().unwrap();
                step_until(&mut h, "a take arrives", |app| app.takes().live().count() > before);
            }
            say("saving".into());
            for round in 0u64.. {
                let first = h.state().takes().live().next().map(|t| t.number).unwrap();
                let take = h.state_mut().takes_mut().get_mut(first).unwrap();
                take.starred = !take.starred;
                take.note = format!("round {round}");
                h.state_mut().settings_mut().pace = 1.0 + (round % 10) as f64 / 10.0;
                h.state_mut().save();
            }
        }
        other => panic!("no scenario {other}"),
    }
}

fn step(h: &mut egui_kittest::Harness<'static, StudioApp>) {
    std::thread::sleep(Duration::from_millis(2));
    h.step();
}

// ---- the tests ----

/// The studio process, killed with SIGKILL when dropped (a failing test included).
struct Studio {
    process: Child,
    lines: Receiver<String>,
}

impl Studio {
    fn start(scenario: &str, dir: &Path) -> Self {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .env(CHILD_SCENARIO, scenario)
            .env(CHILD_DIR, dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let (send, lines) = channel();
        let stdout = process.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Self { process, lines }
    }

    /// Wait for the studio to print `line`.
    fn wait_for(&mut self, line: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(got) if got == line => return,
                Ok(_) => {}
                Err(_) => {
                    let status = self.process.try_wait().unwrap();
                    panic!("the studio never printed {line:?} (process: {status:?})");
                }
            }
        }
    }

    /// `kill -9`, and reap the process.
    fn kill(mut self) {
        self.process.kill().unwrap(); // SIGKILL on Unix: no destructor, no exit handler runs
        let status = self.process.wait().unwrap();
        assert!(!status.success(), "the studio was killed, it did not exit: {status:?}");
    }
}

impl Drop for Studio {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn project(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("studio-crash-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    Project::create(&dir, VALID, &ProjectState::default()).unwrap();
    dir
}

/// Take numbers whose WAV and record are both in `takes/`, each one readable.
fn complete_takes(dir: &Path) -> Vec<u32> {
    let project = Project::open(dir).unwrap().project;
    let files = project.scan_takes();
    for &n in &files.complete {
        let take = project.read_take(n).unwrap_or_else(|e| panic!("T{n:02} is damaged: {e:#}"));
        assert!(take.audio.frames() > 0, "T{n:02} has no audio");
    }
    files.complete
}

/// Open the project in a fresh studio, as after a restart.
fn restart(dir: &Path) -> egui_kittest::Harness<'static, StudioApp> {
    let mut h = studio_support::harness("");
    h.state_mut().open_project(dir).unwrap();
    h.run();
    load(&mut h, StandIn::new(0.4, Duration::ZERO, Duration::ZERO, false));
    h
}

fn numbers(app: &StudioApp) -> Vec<u32> {
    app.takes().live().map(|t| t.number).collect()
}

fn render_one(h: &mut egui_kittest::Harness<'static, StudioApp>) -> u32 {
    let before = h.state().takes().live().count();
    h.state_mut().render().unwrap();
    step_until(h, "a take arrives", |app| app.takes().live().count() == before + 1);
    *numbers(h.state()).last().unwrap()
}

fn kill_during_a_render() {
    let dir = project("render");
    let mut studio = Studio::start("render", &dir);
    studio.wait_for("take 1");
    // T02 takes 8 × 40 ms to sample: 100 ms in, it is mid-render and T03 waits in the queue.
    std::thread::sleep(Duration::from_millis(100));
    studio.kill();
    assert_eq!(complete_takes(&dir), [1]);
    let before = snapshot(&dir.join("takes"));

    let mut h = restart(&dir);
    assert_eq!(numbers(h.state()), [1], "T01 was never saved in project.json, and it is back");
    let seed = h.state().takes().get(1).unwrap().record.base_seed;
    let offered: Vec<i64> = h.state().queue_offer().iter().map(|r| r.seed).collect();
    assert_eq!(offered, [seed + 1, seed + 2], "the running and the queued render are offered back");
    h.state_mut().requeue_offered().unwrap();
    step_until(&mut h, "both takes arrive", |app| app.takes().live().count() == 3);
    assert_eq!(numbers(h.state()), [1, 2, 3]);
    let seeds: Vec<i64> = h.state().takes().live().map(|t| t.record.base_seed).collect();
    assert_eq!(seeds, [seed, seed + 1, seed + 2]);
    assert_unchanged(&before, &snapshot(&dir.join("takes")));
}

fn kill_right_after_a_take_is_written() {
    let dir = project("written");
    let studio = Studio::start("takes", &dir);
    // The record is put in place last: the moment it exists the take is complete. Kill at once.
    let record = dir.join("takes/T02.json");
    let deadline = Instant::now() + WAIT;
    while !record.exists() {
        assert!(Instant::now() < deadline, "T02 is never written");
        std::thread::sleep(Duration::from_micros(200));
    }
    studio.kill();
    let on_disk = complete_takes(&dir);
    assert!(on_disk.starts_with(&[1, 2]), "{on_disk:?}");
    let project_json = std::fs::read_to_string(dir.join("project.json")).unwrap();
    assert!(!project_json.contains("\"number\": 2"), "T02 was written after the last save: {project_json}");
    let before = snapshot(&dir.join("takes"));

    let mut h = restart(&dir);
    assert_eq!(numbers(h.state()), on_disk, "every complete take is back");
    let next = render_one(&mut h);
    assert_eq!(next, on_disk.last().unwrap() + 1, "no number is reused");
    assert_unchanged(&before, &snapshot(&dir.join("takes")));
}

fn kill_during_save() {
    let dir = project("save");
    // Killed three times at different moments of the save loop, each time on the project the last left.
    for (round, after_ms) in [3u64, 17, 41].into_iter().enumerate() {
        let mut studio = Studio::start("save", &dir);
        studio.wait_for("saving");
        std::thread::sleep(Duration::from_millis(after_ms));
        studio.kill();
        let opened = Project::open(&dir).unwrap_or_else(|e| panic!("round {round}: {e:#}"));
        assert_eq!(opened.script, VALID);
        let listed: Vec<u32> = opened.state.takes.iter().map(|t| t.number).collect();
        assert_eq!(listed, complete_takes(&dir), "round {round}");
        assert!(listed.len() >= 2, "round {round}: {listed:?}");
    }
    let before = snapshot(&dir.join("takes"));
    let mut h = restart(&dir);
    let all = numbers(h.state());
    assert_eq!(all, complete_takes(&dir));
    assert_eq!(render_one(&mut h), all.last().unwrap() + 1);
    assert_unchanged(&before, &snapshot(&dir.join("takes")));
}
