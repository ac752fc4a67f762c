//! Helpers for the end-to-end tests in `tests/e2e/`: find (or build) the `promptbook` binary and run it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the workspace root").to_path_buf()
}

/// A fixture under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// The `promptbook` binary of the current profile.
///
/// `cargo test --workspace` builds it already (the app's own integration tests need it), with the same
/// feature resolution as the tests. Only when it is missing or older than the sources is it built here:
/// a nested `cargo build -p promptbook` would resolve features differently and rebuild half the tree.
pub fn promptbook_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // The test executable lives in target/<profile>/deps/; the binary in target/<profile>/.
        let exe = std::env::current_exe().expect("test executable path");
        let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps layout");
        let bin = profile_dir.join(format!("promptbook{}", std::env::consts::EXE_SUFFIX));
        if is_fresh(&bin) {
            return bin;
        }
        let release = profile_dir.file_name().is_some_and(|n| n == "release");
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.current_dir(workspace_root()).args(["build", "-q", "-p", "promptbook", "--bin", "promptbook"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "building the promptbook binary failed");
        assert!(bin.exists(), "{} missing after build", bin.display());
        bin
    })
}

/// True when `bin` exists and is newer than every Rust source and manifest of the crates it is built from.
fn is_fresh(bin: &Path) -> bool {
    let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else { return false };
    let root = workspace_root();
    let mut stack: Vec<PathBuf> =
        ["app", "engine", "models"].iter().map(|c| root.join(c)).chain([root.join("assets")]).collect();
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target" && n != "tests") {
                    stack.push(path);
                }
            } else if entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t > built) {
                return false;
            }
        }
    }
    true
}

/// Run `promptbook ARGS` with `stdin` fed in; the environment has no display so the studio never opens.
pub fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(promptbook_bin());
    cmd.args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn promptbook");
    if let Some(text) = stdin {
        // A command that refuses its arguments exits before reading its input: that is not a test failure.
        match child.stdin.take().expect("stdin").write_all(text.as_bytes()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
    }
    child.wait_with_output().expect("wait for promptbook")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// (channels, sample rate, bits, frames) from a RIFF/WAVE file.
pub fn wav_facts(bytes: &[u8]) -> (u16, u32, u16, usize) {
    assert_eq!(&bytes[0..4], b"RIFF");
    assert_eq!(&bytes[8..12], b"WAVE");
    let (mut pos, mut fmt, mut data) = (12, None, None);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let len = u32::from_le_bytes(bytes[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let body = &bytes[pos + 8..(pos + 8 + len).min(bytes.len())];
        if id == b"fmt " {
            let channels = u16::from_le_bytes([body[2], body[3]]);
            let rate = u32::from_le_bytes(body[4..8].try_into().expect("4 bytes"));
            let bits = u16::from_le_bytes([body[14], body[15]]);
            fmt = Some((channels, rate, bits));
        } else if id == b"data" {
            data = Some(len);
        }
        pos += 8 + len + (len & 1);
    }
    let (channels, rate, bits) = fmt.expect("fmt chunk");
    (channels, rate, bits, data.expect("data chunk") / (usize::from(channels) * usize::from(bits / 8)))
}

/// A fresh, empty folder `pb-e2e-{suite}-{name}-{pid}` in the temp dir (emptied first if a run left it).
pub fn scratch_dir(suite: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pb-e2e-{suite}-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch folder");
    dir
}
